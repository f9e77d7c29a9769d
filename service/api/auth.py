"""API keys: `Authorization: Bearer <key>`, configured as SHA-256 hashes with a scope each.

Scopes nest: generate ⊂ train ⊂ admin.
- generate: read models, generate images.
- train: + submit, read and cancel jobs, upload data sets.
- admin: + delete models (and other destructive routes).
With no key configured the API serves without auth, and `ganforge api` binds loopback only.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from core.settings import SCOPES, ApiKeyConfig, Scope, Settings

LOOPBACK = ("127.0.0.1", "::1", "localhost")
KEY_PREFIX = "gfk_"


@dataclass(frozen=True)
class Principal:
    name: str
    scope: Scope

    def allows(self, scope: Scope) -> bool:
        return SCOPES.index(self.scope) >= SCOPES.index(scope)


# Who calls when no key is configured (local development on loopback).
LOCAL = Principal("local", "admin")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def identify(key: str, keys: list[ApiKeyConfig]) -> Principal | None:
    """The configured key matching `key`, compared in constant time against every entry."""
    digest = hash_key(key).encode()
    found = None
    for entry in keys:  # no early exit: the time taken does not tell which entry matched
        if hmac.compare_digest(digest, entry.sha256.encode()):
            found = Principal(entry.name, entry.scope)
    return found


def refuse_unsafe_bind(settings: Settings) -> str:
    """Raises SystemExit when the API would serve without auth beyond this machine; else says how it serves."""
    if settings.api_keys:
        return f"API keys: {len(settings.api_keys)} configured; every route but /healthz, /readyz, /metrics needs one"
    if settings.host not in LOOPBACK:
        raise SystemExit(
            f"ganforge: refusing to serve on {settings.host} without API keys: anyone who can reach it could "
            "train and delete. Configure GANFORGE_API_KEYS (create one with `ganforge keys new --scope admin`) "
            "or bind 127.0.0.1."
        )
    return "API keys: none configured; serving WITHOUT auth on loopback only (set GANFORGE_API_KEYS to enable)"
