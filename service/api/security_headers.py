"""Security headers: every response is nosniff with no Referer; the pages a browser renders (the dashboard at
/ui, the API docs at /docs and /redoc, their assets) also get a Content-Security-Policy and may not be framed.

Each page's policy is 'self' plus only what it was seen to need in Chromium (tests/e2e/test_host_and_headers.py):
the dashboard shows what it generated from blob: URLs and has an empty data: favicon; Swagger UI starts from one
inline script, allowed by its hash computed from the page as served, and its CSS draws data: icons; ReDoc
styles itself inline (styled-components) and searches in a worker made from a blob:. ReDoc's "by Redocly" logo
comes from a CDN and stays blocked: the docs are served offline, and need nothing from elsewhere.
"""

from __future__ import annotations

import base64
import hashlib
import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

EVERY_RESPONSE = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
_BASE = "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
DASHBOARD_POLICY = f"{_BASE}; img-src 'self' data: blob:"
SWAGGER_POLICY = f"{_BASE}; img-src 'self' data:"  # + its inline script's hash, per response
REDOC_POLICY = f"{_BASE}; img-src 'self' data:; style-src 'self' 'unsafe-inline'; worker-src 'self' blob:"
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def policy_for(path: str) -> str | None:
    if path == "/ui" or path.startswith("/ui/"):
        return DASHBOARD_POLICY
    if path == "/docs" or path.startswith(("/docs/", "/docs-assets/")):
        return SWAGGER_POLICY
    if path == "/redoc":
        return REDOC_POLICY
    return None


def with_inline_scripts(policy: str, html: bytes) -> str:
    """The policy with script-src admitting exactly the page's inline scripts, by their SHA-256."""
    hashes = [base64.b64encode(hashlib.sha256(script).digest()).decode() for script in _INLINE_SCRIPT.findall(html)]
    if not hashes:
        return policy
    return policy + "; script-src 'self' " + " ".join(f"'sha256-{digest}'" for digest in hashes)


class SecurityHeaders:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        policy = policy_for(path)
        start: Message | None = None
        body = b""

        async def send_with_headers(message: Message) -> None:
            nonlocal start, body
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in EVERY_RESPONSE.items():
                    headers.setdefault(name, value)
                if policy:
                    headers.setdefault("X-Frame-Options", "DENY")
                    if path == "/docs":  # held back until the page's scripts are known (a few KB)
                        start = message
                        return
                    headers.setdefault("Content-Security-Policy", policy)
            elif start is not None:
                body += message.get("body", b"")
                if message.get("more_body", False):
                    return
                MutableHeaders(scope=start).setdefault("Content-Security-Policy", with_inline_scripts(policy, body))
                await send(start)
                message = {**message, "body": body}
            await send(message)

        await self.app(scope, receive, send_with_headers)
