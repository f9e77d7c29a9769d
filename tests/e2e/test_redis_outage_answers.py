"""While Redis is frozen (SIGSTOP: no refusal, no answer, the worst kind of outage), every API request that needs
it gets 503 problem+json with Retry-After within 2 s, however many arrive at once; what needs no Redis goes on;
and the API serves again by itself once Redis answers."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import httpx
import pytest

from service.cli.embedded_redis import start_redis
from service.cli.processes import env_for, start_api, stop
from tests.helpers import TINY_JOB, wait_until

pytestmark = pytest.mark.e2e
SSE = {"Accept": "text/event-stream"}


@pytest.fixture
def frozen_redis_api(tmp_path, data_dir):
    redis, url = start_redis(tmp_path / "redis")
    api, api_url = start_api(env_for(url, data_dir), tmp_path / "api.log")
    yield redis, api_url
    os.kill(redis.pid, signal.SIGCONT)
    stop(api)
    stop(redis)


async def _timed(client: httpx.AsyncClient, method: str, path: str, **options) -> tuple[float, httpx.Response]:
    started = time.monotonic()
    response = await client.request(method, path, **options)
    return time.monotonic() - started, response


def test_every_request_during_an_outage_is_a_503_within_2_s_and_the_api_comes_back(frozen_redis_api):
    redis, api_url = frozen_redis_api
    with httpx.Client(base_url=api_url, timeout=30) as client:
        job = client.post("/v1/jobs", json=TINY_JOB).json()
    requests = [("GET", f"/v1/jobs/{job['id']}", {}), ("GET", "/v1/jobs", {}), ("GET", "/v1/models", {}),
                ("POST", "/v1/jobs", {"json": TINY_JOB}), ("GET", "/v1/datasets", {}), ("GET", "/readyz", {}),
                ("GET", "/v1/events", {"headers": SSE}), ("GET", f"/v1/jobs/{job['id']}/events", {"headers": SSE}),
                ("POST", f"/v1/jobs/{job['id']}/cancel", {}), ("GET", "/v1/workers", {})] * 4

    async def outage() -> list[tuple[float, httpx.Response]]:
        async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
            os.kill(redis.pid, signal.SIGSTOP)
            answers = await asyncio.gather(*(_timed(client, method, path, **options)
                                             for method, path, options in requests))
            later = await asyncio.gather(*(_timed(client, method, path, **options)
                                           for method, path, options in requests[:10]))
            alive = await _timed(client, "GET", "/healthz")
            return [*answers, *later, alive]

    answers = asyncio.run(outage())
    *refused, (liveness_s, liveness) = answers
    slowest = max(seconds for seconds, _ in refused)
    print(f"\n{len(refused)} requests during the outage: slowest answer {slowest:.2f} s")
    for (seconds, response), (method, path, _) in zip(refused, requests + requests[:10], strict=True):
        assert response.status_code == 503, (method, path, response.status_code, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert int(response.headers["retry-after"]) >= 1 and "Redis" in response.json()["detail"]
        assert seconds < 2.0, (method, path, seconds)
    assert liveness.status_code == 200 and liveness_s < 2.0

    os.kill(redis.pid, signal.SIGCONT)
    with httpx.Client(base_url=api_url, timeout=30) as client:
        back = wait_until(lambda: client.get(f"/v1/jobs/{job['id']}").status_code == 200, 10, "the API serving again")
        assert back
