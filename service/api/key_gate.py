"""Who calls, decided before anything reads the request's body: a request to /v1/ without a known key (or
a live session cookie, service.api.sessions) gets its 401 at once, so it cannot make the server receive and hold
a body. The routes check scopes (service.api.deps.require_scope) against the principal left in the request's
state.

A cookie costs one Redis GET (is the session still open?) on the API's synchronous client, in the thread pool: that
client's short timeouts turn a Redis outage into a 503 in seconds, where the asyncio client's are as long as an
event stream's wait. A request with `Authorization` never touches Redis here."""

from __future__ import annotations

from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from core.settings import ApiKeyConfig
from service.api import sessions
from service.api.auth import LOCAL, Principal, identify
from service.api.problems import problem_json

SESSION_ENDED = "session ended or unknown: sign in again (POST /v1/sessions with `Authorization: Bearer <key>`)"


class KeyGate:
    def __init__(self, app: ASGIApp, keys: list[ApiKeyConfig]):
        self.app, self.keys = app, keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/"):
            headers = dict(scope["headers"])
            principal, refusal = self._identify(headers.get(b"authorization"))
            # A cookie speaks only for a request without `Authorization`: a wrong key is not rescued by a cookie.
            token = None if principal or b"authorization" in headers else _session_token(headers.get(b"cookie"))
            if token:
                try:
                    principal = await self._from_session(scope, token)
                except RedisError:
                    await problem_json(503, "the session store (Redis) is unreachable; retry shortly", scope["path"],
                                       {"Retry-After": "5"})(scope, receive, send)
                    return
                refusal = SESSION_ENDED if principal is None else None
            if refusal:
                await problem_json(401, refusal, scope["path"], {"WWW-Authenticate": "Bearer"})(scope, receive, send)
                return
            scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)

    def _identify(self, header: bytes | None) -> tuple[Principal | None, str | None]:
        if not self.keys:
            return LOCAL, None  # no keys configured: loopback-only local use
        scheme, _, key = (header or b"").decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return None, "missing API key: send the header `Authorization: Bearer <key>`"
        principal = identify(key.strip(), self.keys)
        return (principal, None) if principal else (None, "unknown API key: check the key, or ask an admin for one")

    async def _from_session(self, scope: Scope, token: str) -> Principal | None:
        registry = scope["app"].state.registry
        return await run_in_threadpool(sessions.find, registry.redis, token, self.keys, registry.p)


def _session_token(cookie_header: bytes | None) -> str | None:
    return sessions.from_cookie_header(cookie_header) if cookie_header else None
