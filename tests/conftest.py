"""Real resources for tests: a Redis server, a Celery worker and the HTTP API, each a real process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from redis import Redis

from service.embedded_redis import free_port, start_redis
from tests.helpers import TINY_JOB, UPLOAD_CAPS, wait_for_job
from worker.registry import Registry
from worker.settings import Settings


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    process, url = start_redis(tmp_path_factory.mktemp("redis"))
    yield url
    process.terminate()
    process.wait(10)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def settings(redis_url, data_dir) -> Settings:
    return Settings(redis_url=redis_url, data_dir=data_dir, progress_interval_s=0, lease_ttl_s=5)


@pytest.fixture
def registry(redis_url):
    client = Redis.from_url(redis_url)
    yield Registry(client)
    client.close()


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GANFORGE_")}
    env.update(GANFORGE_REDIS_URL=settings.redis_url, GANFORGE_DATA_DIR=str(settings.data_dir),
               GANFORGE_PROGRESS_INTERVAL_S="0", GANFORGE_LEASE_TTL_S="5", PYTHONUNBUFFERED="1", **extra)
    return env


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "service.cli", *args], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def _wait_for(predicate, timeout_s: float, what: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited early:\n{log.read_text()[-3000:]}")
        if predicate():
            return
        time.sleep(0.1)
    raise TimeoutError(f"{what} not ready in {timeout_s} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def worker_process(settings, tmp_path_factory):
    log = tmp_path_factory.mktemp("logs") / "worker.log"
    process = _spawn(["worker", "--name", "test@%h"], _env(settings), log)
    _wait_for(lambda: b" ready." in log.read_bytes(), 60, "celery worker", process, log)
    yield process
    _stop(process)


@pytest.fixture(scope="session")
def api_url(settings, tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("logs") / "api.log"
    env = _env(settings, GANFORGE_PORT=str(port), GANFORGE_MAX_IMAGES_PER_REQUEST="64", **UPLOAD_CAPS)
    process = _spawn(["api"], env, log)
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    _wait_for(healthy, 60, "API", process, log)
    yield url
    _stop(process)


@pytest.fixture(scope="session")
def client(api_url):
    with httpx.Client(base_url=api_url, timeout=30) as c:
        yield c


@pytest.fixture(scope="session")
def trained_model(client, worker_process) -> dict:
    """A model trained through the whole stack: HTTP → Redis → Celery worker → store → registry."""
    response = client.post("/v1/jobs", json=TINY_JOB)
    assert response.status_code == 202, response.text
    job = wait_for_job(client, response.json()["id"])
    assert job["status"] == "succeeded", job
    return client.get(f"/v1/models/{job['model_id']}").json()

