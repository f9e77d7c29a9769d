"""Opaque ids, validated wherever they come from outside, so no id can name a path outside the store."""

from __future__ import annotations

import re
import secrets

_ID = re.compile(r"^[a-z]+_[0-9a-f]{16}$")


def new_id(kind: str) -> str:
    return f"{kind}_{secrets.token_hex(8)}"


def is_valid(value: str) -> bool:
    return bool(_ID.fullmatch(value))
