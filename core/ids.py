"""Opaque ids, validated wherever they come from outside, so no id can name a path outside the store;
and the one timestamp format (UTC ISO 8601)."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

_ID = re.compile(r"^[a-z]+_[0-9a-f]{16}$")


def new_id(kind: str) -> str:
    return f"{kind}_{secrets.token_hex(8)}"


def is_valid(value: str) -> bool:
    return bool(_ID.fullmatch(value))


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
