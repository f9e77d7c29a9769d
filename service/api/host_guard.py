"""Refuses requests addressed to a host name the API does not answer to: the DNS rebinding guard.

Without API keys the API trusts whoever reaches it on loopback. A page on evil.example can point its own name
at 127.0.0.1 (DNS rebinding); the visitor's browser then sends the page's requests to the API as same-origin,
with `Host: evil.example`, and reads the answers. Checking Host is the one defence that holds: the browser
always sends the name it resolved, and a page cannot forge it. So, before any routing, a Host other than a
loopback name or one in allowed_hosts gets 421. With keys configured every request proves itself, and any Host
is served unless allowed_hosts says otherwise (behind a proxy that forwards Host, say).
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

from service.api.problems import problem_json

LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
# Probes answer any Host: a Kubernetes probe sends the pod's IP, and these reveal nothing and change nothing.
PROBES = {"/healthz", "/readyz"}
_HOST = re.compile(r"(?P<name>\[[0-9a-f:.]+\]|[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?)(:\d*)?")


def checks_hosts(allowed_hosts: list[str], keys_configured: bool) -> bool:
    """Whether other names get 421: always without keys, and with keys once allowed_hosts names some."""
    return bool(allowed_hosts) or not keys_configured


def host_name(header: str) -> str | None:
    """The name in a Host header, lower-case, without its port or a trailing dot; None when malformed."""
    found = _HOST.fullmatch(header.strip().lower())
    return found["name"].removesuffix(".") if found else None


class HostGuard:
    def __init__(self, app: ASGIApp, allowed_hosts: list[str], keys_configured: bool):
        self.app, self.keys_configured = app, keys_configured
        names = [name.lower() for name in allowed_hosts]
        self.exact = {*LOOPBACK, *(name for name in names if not name.startswith("*."))}
        self.suffixes = tuple(name[1:] for name in names if name.startswith("*."))  # "*.example.com" → ".example.com"
        self.enforced = checks_hosts(allowed_hosts, keys_configured)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.enforced and scope["path"] not in PROBES:
            header = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            if not self.serves(host_name(header)):
                await problem_json(421, self._refusal(header), scope["path"])(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def serves(self, name: str | None) -> bool:
        return bool(name) and (name in self.exact or name.endswith(self.suffixes))

    def _refusal(self, header: str) -> str:
        which = (f"host {header!r} is not served here" if header else "a request without a Host header is not "
                 "served here")
        if self.keys_configured:
            return f"{which}: add its name to GANFORGE_ALLOWED_HOSTS to serve it"
        return (f"{which}: without API keys only loopback names ({', '.join(LOOPBACK)}) are, against DNS rebinding; "
                "add the name to GANFORGE_ALLOWED_HOSTS to serve it")
