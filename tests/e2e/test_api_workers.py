"""`ganforge api --workers 2`: two processes serve one port, /metrics answers for both whichever is asked, and
SIGTERM to the command stops them all and removes the metrics they shared."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from service.cli.processes import env_for, start_api, stop
from tests.e2e.conftest import ganforge

pytestmark = pytest.mark.e2e

HEALTHZ = 'ganforge_http_requests_total{method="GET",route="/healthz",status="200"}'


@pytest.fixture(scope="module")
def two_processes(settings, tmp_path_factory):
    process, url = _start(settings, tmp_path_factory.mktemp("api-workers") / "api.log")
    yield process, url
    stop(process)


def _start(settings, log: Path) -> tuple[subprocess.Popen, str]:
    return start_api(env_for(settings.redis_url, settings.data_dir, GANFORGE_API_WORKERS="2"), log)


def test_requests_are_answered_by_two_processes(two_processes):
    process, url = two_processes
    workers = _workers(process.pid)
    assert len(workers) == 2
    port = int(url.rsplit(":", 1)[1])

    async def burst() -> set[int]:
        """8 requests at once, on 8 connections: the processes holding those connections answered them."""
        async with httpx.AsyncClient(base_url=url, limits=httpx.Limits(max_connections=8)) as client:
            responses = await asyncio.gather(*(client.get("/healthz") for _ in range(8)))
            assert all(r.status_code == 200 for r in responses)
            return {pid for pid in workers if _connections(pid, port)}

    answered_by: set[int] = set()
    for _ in range(20):  # the processes race to accept each connection: a few bursts reach both
        answered_by |= asyncio.run(burst())
        if answered_by == workers:
            break
    assert answered_by == workers


def test_metrics_count_every_processs_requests_whichever_answers(two_processes):
    _, url = two_processes
    # A connection per request: each scrape, and each of the requests, may reach either process.
    with httpx.Client(base_url=url, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        before = _sample(client.get("/metrics").text, HEALTHZ)
        for _ in range(40):
            assert client.get("/healthz").status_code == 200
        for _ in range(6):
            text = client.get("/metrics").text
            assert _sample(text, HEALTHZ) - before == 40
            assert _sample(text, "ganforge_api_processes") == 2  # a gauge of each process's, added up


def test_redis_figures_are_reported_once_not_per_process(two_processes, registry):
    _, url = two_processes
    text = httpx.get(f"{url}/metrics").text
    assert _sample(text, "ganforge_redis_up") == 1
    jobs = sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith("ganforge_jobs{"))
    assert jobs == sum(registry.count_by_status().values())


def test_sigterm_stops_every_process_and_removes_the_shared_metrics(settings, tmp_path):
    process, _ = _start(settings, tmp_path / "api.log")
    try:
        workers = _workers(process.pid)
        shared = {_environment(pid)["PROMETHEUS_MULTIPROC_DIR"] for pid in workers}
        assert len(workers) == 2 and len(shared) == 1
        metrics_dir = Path(shared.pop())
        assert any(metrics_dir.glob("*.db"))
        os.kill(process.pid, signal.SIGTERM)  # the command alone, as a container's runtime signals its process 1
        assert process.wait(15) == 0
    finally:
        stop(process)
    deadline = time.monotonic() + 5
    while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_running(pid) for pid in workers)
    assert not metrics_dir.exists()


def test_workers_must_be_at_least_one():
    result = ganforge("api", "--workers", "0")
    assert result.returncode == 2 and "--workers: must be a whole number of processes, 1 or more" in result.stderr


# -- what the OS says ------------------------------------------------------------------------------------------------

def _workers(pid: int) -> set[int]:
    """uvicorn's worker processes under the `ganforge api` process (its resource tracker left out)."""
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if parent == pid and b"spawn_main" in command:
            found.add(int(entry.name))
    return found


def _connections(pid: int, port: int) -> int:
    """Established TCP connections to `port` that the process holds."""
    sockets = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            sockets.add(target[8:-1])
    established = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port, state, inode = int(fields[1].rsplit(":", 1)[1], 16), fields[3], fields[9]
            established += local_port == port and state == "01" and inode in sockets
    return established


def _environment(pid: int) -> dict[str, str]:
    pairs = Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
    return dict(pair.split("=", 1) for pair in pairs if "=" in pair)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _sample(text: str, name: str) -> float:
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(f"{name} ")]
    assert len(values) == 1, (name, values)
    return values[0]
