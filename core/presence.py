"""Which workers are alive: each worker process keeps a key with a TTL under PREFIX (worker.heartbeat writes it),
so `/readyz`, `/v1/workers` and `ganforge status` see them without a round trip through the broker."""

from __future__ import annotations

import json

from redis import Redis

PREFIX = "gf:worker:"


def alive_workers(redis: Redis) -> list[dict]:
    """The workers whose heartbeat has not expired."""
    keys = sorted(redis.scan_iter(match=PREFIX + "*", count=500))
    values = redis.mget(keys) if keys else []
    return [json.loads(v) for v in values if v]
