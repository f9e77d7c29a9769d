"""Starting and stopping the real processes the tests run against (API, Celery workers)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from service.processes import spawn, start_api, stop, wait_for

__all__ = ["env_for", "spawn", "start_api", "start_worker", "stop", "wait_for"]


def env_for(redis_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GANFORGE_")}
    env.update(GANFORGE_REDIS_URL=redis_url, GANFORGE_DATA_DIR=str(data_dir), GANFORGE_PROGRESS_INTERVAL_S="0",
               GANFORGE_LEASE_TTL_S="5", GANFORGE_REAPER_INTERVAL_S="1", GANFORGE_WORKER_HEARTBEAT_TTL_S="3",
               GANFORGE_CANCEL_CHECK_INTERVAL_S="0.2", PYTHONUNBUFFERED="1",
               # One torch thread per process: on a shared 2-core machine, OpenMP threads spinning against
               # each other made a tiny training step 30x slower (measured: 11 ms vs 343 ms).
               OMP_NUM_THREADS="1")
    env.update(extra)
    return env


def start_worker(env: dict[str, str], name: str, log: Path) -> subprocess.Popen:
    process = spawn(["worker", "--name", name], env, log)
    wait_for(lambda: b" ready." in log.read_bytes(), 60, f"celery worker {name}", process, log)
    return process
