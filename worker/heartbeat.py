"""Worker liveness: each worker process keeps a key with a TTL in Redis, so `/readyz` and
`ganforge status` see which workers are alive without a round trip through the broker."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from redis import Redis

from core.presence import PREFIX

log = logging.getLogger("ganforge.worker")


class WorkerHeartbeat(threading.Thread):
    """`queues`: what the worker consumes; `devices`: what it trains on ("cpu", "cuda:0 (NVIDIA H100, 80 GB)");
    `current_jobs`: the ids of the jobs it runs now, asked at every beat (so `current_job` follows a job's lease
    within a beat)."""

    def __init__(self, redis: Redis, name: str, ttl_s: float, queues: Sequence[str] = (),
                 devices: Sequence[str] = ("cpu",), current_jobs: Callable[[], list[str]] = list):
        super().__init__(daemon=True, name="worker-heartbeat")
        self.redis, self.name, self.ttl_s, self.current_jobs = redis, name, ttl_s, current_jobs
        self.stopped = threading.Event()
        self.info = {"name": name, "host": socket.gethostname(), "pid": os.getpid(),
                     "started_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
                     "queues": list(queues), "devices": list(devices)}

    def beat(self) -> None:
        jobs = self.current_jobs()
        record = {**self.info, "current_job": jobs[0] if jobs else None, "current_jobs": jobs, "seen": time.time()}
        self.redis.set(PREFIX + self.name, json.dumps(record), px=int(self.ttl_s * 1000))

    def run(self) -> None:
        while True:
            try:
                self.beat()
            except Exception:  # Redis down: keep trying; the key expires meanwhile, as it should
                log.warning("worker heartbeat failed", exc_info=True)
            if self.stopped.wait(self.ttl_s / 3):
                break
        try:
            self.redis.delete(PREFIX + self.name)  # a clean stop leaves at once, not after the TTL
        except Exception:
            pass
