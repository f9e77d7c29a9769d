"""Starting and stopping the real processes that the tests and the benchmarks run against (API, Celery
workers): `ganforge` parts as child processes, each leading its own process group, stopped with nothing
left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from service.cli.embedded_redis import free_port


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """`python -m service.cli <args>`, its output in `log`, in a new session so that stopping (or killing)
    it reaches its children too, as a crash would."""
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "service.cli", *args], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the whole group, SIGKILL if it lingers."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def wait_for(predicate, timeout_s: float, what: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited early:\n{log.read_text()[-3000:]}")
        if predicate():
            return
        time.sleep(0.1)
    raise TimeoutError(f"{what} not ready in {timeout_s} s:\n{log.read_text()[-3000:]}")


def start_api(env: dict[str, str], log: Path) -> tuple[subprocess.Popen, str]:
    """The API on a free loopback port; returns once /healthz answers."""
    port = free_port()
    process = spawn(["api"], {**env, "GANFORGE_PORT": str(port)}, log)
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: answers_ok(f"{url}/healthz"), 60, "API", process, log)
    return process, url


def answers_ok(url: str) -> bool:
    """Whether GET url answers 200 now (False while nothing listens there)."""
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


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
