"""A Redis outage shorter than the lease's TTL never costs a job its lease: a real redis-server is frozen
(SIGSTOP, as a stalled host or a long fork would) for TTL − 5 s at the worst moment for the renewals — when
the lease is oldest — and the worker's lease is still its own afterwards, renewed, and not lost."""

from __future__ import annotations

import os
import signal
import time

import pytest
from redis import Redis

from core.registry import Registry
from service.cli.embedded_redis import start_redis
from service.cli.processes import stop
from tests.helpers import TINY_JOB
from worker.lease_heartbeat import LeaseHeartbeat

TTL_S = 20  # above 15 s, where an outage of TTL − 5 s outlasts a lease renewed every TTL / 3 (the old rhythm)


@pytest.fixture
def own_redis(tmp_path):
    process, url = start_redis(tmp_path / "redis")
    yield process, url
    os.kill(process.pid, signal.SIGCONT)
    stop(process)


def _oldest_moment(redis: Redis, key: str, watch_s: float) -> int:
    """The lowest time-to-live (ms) the lease shows between renewals, watched for `watch_s` seconds."""
    lowest, deadline = TTL_S * 1000, time.monotonic() + watch_s
    while time.monotonic() < deadline:
        lowest = min(lowest, redis.pttl(key))
        time.sleep(0.02)
    return lowest


def test_an_outage_of_ttl_minus_5_s_at_the_worst_moment_keeps_the_lease(own_redis):
    process, url = own_redis
    # The worker's own connection, as worker.tasks makes it: a call blocked by the outage returns when Redis does.
    worker_redis = Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30)
    watcher = Redis.from_url(url)
    registry = Registry(worker_redis)
    job, _ = registry.create_job(TINY_JOB)
    outcome, _ = registry.begin_job(job["id"], "token-1", TTL_S, "worker-1", 3)
    assert outcome == "running"
    heartbeat = LeaseHeartbeat(registry.lease(job["id"], "token-1"), TTL_S)
    heartbeat.start()
    try:
        key = registry._lease(job["id"])
        lowest = _oldest_moment(watcher, key, TTL_S / 3 + 0.5)  # over a whole renewal interval, even TTL / 3
        while watcher.pttl(key) > lowest + 100:  # wait for the lease's oldest moment, just before a renewal
            time.sleep(0.01)
        os.kill(process.pid, signal.SIGSTOP)
        time.sleep(TTL_S - 5)
        os.kill(process.pid, signal.SIGCONT)
        time.sleep(1.0)  # the renewal that waited on the outage lands
        assert watcher.get(key) == b"token-1", "the lease expired during the outage"
        assert watcher.pttl(key) > (TTL_S - 3) * 1000, "renewed right after the outage"
        assert not heartbeat.lost.is_set()
        assert registry.lease_alive(job["id"])
    finally:
        heartbeat.stopped.set()
        heartbeat.join(5)
        worker_redis.close()
        watcher.close()
