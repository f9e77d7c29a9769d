"""Browser sessions: an HttpOnly cookie that stands for an API key, for what cannot send the header.

A browser's EventSource (the live event streams) cannot set `Authorization`, and a key in a URL lands in
logs. So a page trades the key once (`POST /v1/sessions` with the header) for a cookie that the browser
sends by itself and scripts cannot read. The cookie is signed with a secret kept in Redis (shared by every
API process), names the key and a digest of its hash, and expires; removing or rotating the key ends its
sessions. SameSite=Strict keeps other sites' pages from sending it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from http.cookies import CookieError, SimpleCookie

from core.settings import ApiKeyConfig
from service.api.auth import Principal

COOKIE = "ganforge_session"
TTL_S = 12 * 3600


def _sign(secret: bytes, payload: str) -> str:
    return hmac.new(secret, payload.encode(), hashlib.sha256).hexdigest()


def issue(key: ApiKeyConfig, secret: bytes, now: float | None = None) -> tuple[str, int]:
    """A token for `key`, and when it expires (Unix seconds)."""
    expires = int(now if now is not None else time.time()) + TTL_S
    payload = f"{key.name}:{key.sha256[:16]}:{expires}"
    return base64.urlsafe_b64encode(payload.encode()).decode() + "." + _sign(secret, payload), expires


def verify(token: str, keys: list[ApiKeyConfig], secret: bytes, now: float | None = None) -> Principal | None:
    encoded, _, signature = token.partition(".")
    try:
        payload = base64.urlsafe_b64decode(encoded.encode()).decode()
        name, digest, expires = payload.split(":")
        expired = int(expires) < (now if now is not None else time.time())
    except (ValueError, UnicodeDecodeError):
        return None
    if expired or not hmac.compare_digest(signature, _sign(secret, payload)):
        return None
    key = next((k for k in keys if k.name == name and k.sha256.startswith(digest)), None)
    return Principal(key.name, key.scope) if key else None


def from_cookie_header(header: bytes) -> str | None:
    try:
        cookie = SimpleCookie(header.decode("latin-1"))
    except CookieError:
        return None
    return cookie[COOKIE].value if COOKIE in cookie else None
