"""Browser sessions: an HttpOnly cookie that stands for an API key, for what cannot send the header.

A browser's EventSource (the live event streams) cannot set `Authorization`, and a key in a URL lands in
logs. So a page trades the key once (`POST /v1/sessions` with the header) for a cookie that the browser
sends by itself and scripts cannot read. SameSite=Strict keeps other sites' pages from sending it.

Sessions live on the server, so that signing out ends one at once: the cookie holds only a random token, and
Redis (shared by every API process) holds the session's record, which expires with the session. Each request
with the cookie reads the record (one GET): a token without one (signed out, expired, made up) is refused.
The record names the key and a digest of its hash, and must still match a configured key: removing or
rotating the key ends its sessions. The record is named by a digest of the token, not the token, so whoever
reads Redis (a backup, MONITOR) learns no cookie that works.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from http.cookies import CookieError, SimpleCookie

from redis import Redis

from core.settings import ApiKeyConfig
from service.api.auth import Principal

COOKIE = "ganforge_session"
TTL_S = 12 * 3600
# 32 random bytes: unguessable, so a random token needs no signature; a signature would only spare Redis a GET
# for forged cookies, and cost a secret to keep.
_TOKEN_BYTES = 32
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # what secrets.token_urlsafe(32) gives
_DIGEST_CHARS = 16  # of the key's SHA-256, enough to tell a rotated key from the one the session was made for


def record_key(token: str, prefix: str = "gf") -> str:
    """The Redis key of the session that `token` names."""
    return f"{prefix}:session:{hashlib.sha256(token.encode()).hexdigest()}"


def issue(redis: Redis, key: ApiKeyConfig, prefix: str = "gf") -> tuple[str, int]:
    """A new session for `key`: its token, and when it expires (Unix seconds)."""
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    expires = int(time.time()) + TTL_S
    record = {"key": key.name, "sha256": key.sha256[:_DIGEST_CHARS]}
    redis.set(record_key(token, prefix), json.dumps(record), ex=TTL_S)  # EX, not EXAT: Redis before 6.2 has no EXAT
    return token, expires


def find(redis: Redis, token: str, keys: list[ApiKeyConfig], prefix: str = "gf") -> Principal | None:
    """Who the session `token` stands for; None when it is unknown, ended, expired or its key is gone."""
    if not _TOKEN.fullmatch(token):
        return None  # not a token we make: no need to ask Redis
    raw = redis.get(record_key(token, prefix))
    if raw is None:
        return None
    record = json.loads(raw)
    key = next((k for k in keys if k.name == record["key"] and k.sha256.startswith(record["sha256"])), None)
    return Principal(key.name, key.scope) if key else None  # the scope is the configuration's, as it is now


def revoke(redis: Redis, token: str, prefix: str = "gf") -> None:
    """End the session `token` names, in every API process at once (a no-op for an unknown token)."""
    redis.delete(record_key(token, prefix))


def from_cookie_header(header: bytes) -> str | None:
    try:
        cookie = SimpleCookie(header.decode("latin-1"))
    except CookieError:
        return None
    return cookie[COOKIE].value if COOKIE in cookie else None
