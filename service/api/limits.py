"""Limits that protect the service from its callers: request body size and per-key rate limits."""

from __future__ import annotations

import math

from fastapi import HTTPException
from redis import Redis
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.problems import problem_json

# Fixed window that opens at a key's first request: INCR, and give a new counter its expiry. Atomic,
# so concurrent requests (on any number of API processes) count exactly.
_HIT = """
local n = redis.call('incr', KEYS[1])
if n == 1 then redis.call('pexpire', KEYS[1], ARGV[1]) end
return {n, redis.call('pttl', KEYS[1])}
"""


class RateLimiter:
    def __init__(self, redis: Redis, prefix: str = "gf:rate"):
        self.prefix, self._hit = prefix, redis.register_script(_HIT)

    def hit(self, bucket: str, key_name: str, limit: int, window_s: int = 60) -> tuple[bool, int]:
        """Counts one request; returns (allowed, seconds until the window resets)."""
        count, ttl_ms = self._hit(keys=[f"{self.prefix}:{bucket}:{key_name}"], args=[window_s * 1000])
        return count <= limit, max(1, math.ceil(max(ttl_ms, 0) / 1000))


# The routes that take an upload (a data set, an imported generator); every other body is JSON-sized, whatever its
# Content-Type says.
UPLOAD_ROUTES = {("POST", "/v1/datasets"), ("POST", "/v1/models/import")}


class BodySizeLimit:
    """413 for bodies over the route's cap: at once by Content-Length, else while the body streams in. The
    cap follows the route, never the Content-Type, which the caller chooses."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, max_upload_bytes: int):
        self.app, self.max_body, self.max_upload = app, max_body_bytes, max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        upload = (scope["method"], scope["path"].rstrip("/")) in UPLOAD_ROUTES
        cap = self.max_upload if upload else self.max_body
        setting = "max_upload_bytes" if upload else "max_body_bytes"
        detail = f"request body over {cap} bytes (the server's {setting})"
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > cap:
            response = problem_json(413, f"{detail}; Content-Length says {int(length)}", scope["path"],
                                    {"Connection": "close"})
            await response(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    raise HTTPException(413, detail)
            return message

        await self.app(scope, limited, send)
