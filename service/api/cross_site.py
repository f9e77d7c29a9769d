"""Refuses state-changing requests that a web page on another site makes a visitor's browser send.

Without API keys (the loopback default) the browser needs no credentials to reach the API, so any page the
user visits could POST a job, cancel one or upload a data set to localhost. Browsers say where a request
comes from (Origin on every cross-origin and every POST request, Sec-Fetch-Site in current browsers);
tools such as curl and the Python client send neither, and pass.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from service.api.problems import problem_json

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def is_browser(headers: dict[bytes, bytes]) -> bool:
    return b"origin" in headers or b"sec-fetch-site" in headers


class CrossSiteGuard:
    """403 for a state-changing browser request from another origin than the API's own or a configured
    CORS origin. "same-site" is refused too: localhost:3000 is the same site as localhost:8000."""

    def __init__(self, app: ASGIApp, allowed_origins: list[str]):
        self.app, self.allowed = app, {origin.rstrip("/").lower() for origin in allowed_origins}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            refusal = self._refusal(scope)
            if refusal:
                await problem_json(403, refusal, scope["path"])(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope) -> str | None:
        headers = dict(scope["headers"])
        origin = headers.get(b"origin", b"").decode("latin-1").rstrip("/").lower()
        fetch_site = headers.get(b"sec-fetch-site", b"").decode("latin-1").lower()
        if origin and origin != "null" and (origin in self.allowed or origin == _own_origin(scope, headers)):
            return None
        if not origin and fetch_site in ("", "same-origin", "none"):
            return None
        return (f"cross-site request refused: a page on {origin or 'another site'} cannot change this API's state "
                "through a visitor's browser; call it from a tool or add the origin to the server's cors_origins")


def _own_origin(scope: Scope, headers: dict[bytes, bytes]) -> str:
    host = headers.get(b"host", b"").decode("latin-1").lower()
    return f"{scope.get('scheme', 'http')}://{host}"
