"""Real resources for tests: a Redis server, a Celery worker and the HTTP API, each a real process."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from redis import Redis

import tests.toy_family  # noqa: F401  (registers the toy family here, before tests list the families)
from core.registry import Registry
from core.settings import Settings
from service.cli.embedded_redis import start_redis
from service.cli.processes import env_for, start_api, start_worker, stop
from tests.helpers import TINY_JOB, UPLOAD_CAPS, train_model, wait_for_job
from tests.s3 import S3_CREDENTIALS, create_bucket, start_s3_server

FAMILY_PLUGINS = '["tests.toy_family", "tests.inpainter"]'  # the API and worker processes load these plugins too


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    process, url = start_redis(tmp_path_factory.mktemp("redis"))
    yield url
    process.terminate()
    process.wait(10)


@pytest.fixture(scope="session")
def s3_bucket(tmp_path_factory) -> tuple[str, str]:
    """(endpoint URL, bucket) on a real S3-protocol server for the session; boto3 in this process and in the
    processes the tests start (their environment is copied from it) finds its credentials in the environment."""
    process, endpoint = start_s3_server(tmp_path_factory.mktemp("s3") / "moto.log")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in S3_CREDENTIALS.items():
            patch.setenv(name, value)
        yield endpoint, create_bucket(endpoint)
    stop(process)


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
    # Submission limits stay generous here: many tests share the one local key.
    return env_for(settings.redis_url, settings.data_dir, GANFORGE_RATE_LIMIT_JOBS_PER_MIN="0",
                   GANFORGE_MAX_UNFINISHED_JOBS_PER_KEY="0", GANFORGE_FAMILY_MODULES=FAMILY_PLUGINS, **extra)


@pytest.fixture(scope="session")
def worker_process(settings, tmp_path_factory):
    process = start_worker(_env(settings), "test@%h", tmp_path_factory.mktemp("logs") / "worker.log")
    yield process
    stop(process)


@pytest.fixture(scope="session")
def api_log(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("logs") / "api.log"


@pytest.fixture(scope="session")
def api_url(settings, api_log):
    process, url = start_api(_env(settings, GANFORGE_MAX_IMAGES_PER_REQUEST="64", GANFORGE_MAX_AUGMENT_IMAGES="3000",
                                          GANFORGE_SSE_HEARTBEAT_S="0.5",
                                          **UPLOAD_CAPS), api_log)
    yield url
    stop(process)


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



@pytest.fixture(scope="session")
def cgan(client, worker_process) -> dict:
    """A conditional model (the digits' 10 classes), for tests of labels."""
    return train_model(client, "digits", {"arch": "cgan"})


@pytest.fixture(scope="session")
def infogan(client, worker_process) -> dict:
    """An InfoGAN with a 4-way categorical and 2 continuous codes."""
    return train_model(client, "digits", {"arch": "infogan", "codes": {"categorical": 4, "continuous": 2}})
