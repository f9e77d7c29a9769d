"""Limits that protect the service from its callers: request body size and per-key rate limits."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

from fastapi import HTTPException
from redis import Redis
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.problems import problem_json

# Fixed window that opens at a key's first request: INCRBY the hits taken, and give a new counter its expiry. Atomic,
# so concurrent requests (on any number of API processes) count exactly.
_HIT = """
local n = redis.call('incrby', KEYS[1], ARGV[2])
if n == tonumber(ARGV[2]) then redis.call('pexpire', KEYS[1], ARGV[1]) end
return {n, redis.call('pttl', KEYS[1])}
"""

# A process takes a key's hits from Redis a lease at a time, this share of the limit spread over the API processes,
# and counts the lease out locally: a Redis call and a thread hop per request were 0.16 ms of the event loop's CPU
# per generate request, against 0.25 for all the rest (docs/benchmarks.md). A lease's unused hits still count, so
# a key may be refused up to this share of its limit early; a limit under 2 / LEASE_SHARE leases one hit at a time,
# exactly as before.
LEASE_SHARE = 0.02


@dataclass
class _Lease:
    hits: int  # still to give out
    until: float  # time.monotonic() when the window it came from ends
    allowed: bool  # False: the window is spent; refuse until it ends


class RateLimiter:
    def __init__(self, redis: Redis, prefix: str = "gf:rate", processes: int = 1):
        self.prefix, self._hit = prefix, redis.register_script(_HIT)
        self.processes = processes
        self._leases: dict[str, _Lease] = {}
        self._lock = threading.Lock()  # `hit` runs in worker threads

    def local(self, bucket: str, key_name: str) -> tuple[bool, int] | None:
        """The answer from this process's lease for the key, or None when only Redis can give it (`hit`)."""
        now = time.monotonic()
        with self._lock:
            lease = self._leases.get(f"{bucket}:{key_name}")
            if lease is None or now >= lease.until or (lease.allowed and lease.hits == 0):
                return None
            if lease.allowed:
                lease.hits -= 1
            return lease.allowed, max(1, math.ceil(lease.until - now))

    def hit(self, bucket: str, key_name: str, limit: int, window_s: int = 60) -> tuple[bool, int]:
        """Counts one request (taking a lease of hits from Redis); returns (allowed, seconds until the window
        resets)."""
        size = max(1, int(limit * LEASE_SHARE / self.processes))
        count, ttl_ms = self._hit(keys=[f"{self.prefix}:{bucket}:{key_name}"], args=[window_s * 1000, size])
        ttl_s = max(ttl_ms, 0) / 1000
        granted = max(0, min(count, limit) - (count - size))  # the lease's hits that lie within the limit
        now = time.monotonic()
        with self._lock:
            # Requests that found no hits left took leases side by side: what is left of the others stays usable.
            old = self._leases.get(f"{bucket}:{key_name}")
            spare = old.hits if old is not None and old.allowed and now < old.until else 0
            hits = spare + max(0, granted - 1)
            self._leases[f"{bucket}:{key_name}"] = _Lease(hits, now + ttl_s, granted > 0 or hits > 0)
        return granted > 0, max(1, math.ceil(ttl_s))


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
