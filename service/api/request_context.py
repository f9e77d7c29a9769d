"""Per request: an id (X-Request-ID in and out, in every log line), an access log line and HTTP metrics."""

from __future__ import annotations

import logging
import random
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core import logs
from service.api.metrics import Metrics

log = logging.getLogger("ganforge.access")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


class RequestContext:
    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _SAFE_ID.fullmatch(incoming) else _new_id()
        token = logs.request_id.set(request_id)
        started, status = time.perf_counter(), 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"  # the template: few label values
            self.metrics.observe(scope["method"], route, status, seconds)
            principal = scope.get("state", {}).get("principal")
            log.info("%s %s %d", scope["method"], scope["path"], status,
                     extra={"method": scope["method"], "path": scope["path"], "route": route, "status": status,
                            "duration_ms": round(seconds * 1000, 1), "key": getattr(principal, "name", None)})
            logs.request_id.reset(token)


def _new_id() -> str:
    """32 hex digits. A request id only has to be unique, not secret: uuid4 reads os.urandom, a syscall that hands
    the GIL to the batch's thread on every request and leaves the event loop waiting to get it back."""
    return f"{random.getrandbits(128):032x}"
