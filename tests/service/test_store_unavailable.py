"""An artifact store that cannot be reached answers 503 problem details that say so, never a 500."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from redis import Redis

from core.kinds import card_for
from core.registry import Registry
from core.settings import Settings
from core.store import open_store
from models.gan import GANConfig
from service.api.app import create_app
from service.cli.embedded_redis import free_port
from service.serving.generators import GeneratorCache
from tests.helpers import TINY_JOB
from tests.s3 import S3_CREDENTIALS


@pytest.fixture
def unreachable_store_api(redis_url, tmp_path, monkeypatch):
    """The API with its store at an S3 endpoint where nothing listens. Its resources are set as its lifespan
    would set them, without the lifespan's warm-up of the built-in data sets (seconds of CPU)."""
    for name, value in S3_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    url = redis_url.rsplit("/", 1)[0] + "/8"
    settings = Settings(redis_url=url, data_dir=tmp_path, store_url="s3://ganforge-artifacts",
                        s3_endpoint_url=f"http://127.0.0.1:{free_port()}", rate_limit_generate_per_min=0)
    app = create_app(settings)
    redis = Redis.from_url(url)
    app.state.settings, app.state.registry, app.state.store = settings, Registry(redis), open_store(settings)
    app.state.generators = GeneratorCache(app.state.store, 2, 2**30)
    yield app
    redis.close()


def get(app, path: str) -> httpx.Response:
    async def send() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as client:
            return await client.get(path)

    return asyncio.run(send())


def assert_store_problem(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json" and response.headers["retry-after"]
    detail = response.json()["detail"]
    assert detail.startswith("artifact store: ") and "s3://ganforge-artifacts" in detail and "unreachable" in detail


def test_generating_from_a_model_is_a_503_naming_the_store(unreachable_store_api):
    card = card_for(GANConfig(arch="dcgan", latent_dim=8, data_shape=(1, 28, 28)), [])
    unreachable_store_api.state.registry.register_model(card)
    assert_store_problem(get(unreachable_store_api, f"/v1/models/{card.id}/images?n=1&seed=1"))


def test_a_jobs_metrics_are_a_503_naming_the_store(unreachable_store_api):
    job, _ = unreachable_store_api.state.registry.create_job(TINY_JOB)
    assert_store_problem(get(unreachable_store_api, f"/v1/jobs/{job['id']}/metrics"))


def test_readiness_fails_while_the_store_is_unreachable(unreachable_store_api):
    assert_store_problem(get(unreachable_store_api, "/readyz"))
