"""Redis stopped and started again (embedded, AOF) under a live API and worker: nothing queued is lost,
the API answers 503 while Redis is away, and both reconnect by themselves."""

from __future__ import annotations

import time
from urllib.parse import urlparse

import httpx
import pytest

from service.cli.embedded_redis import start_redis
from service.cli.processes import env_for, start_api, start_worker, stop
from tests.e2e.test_train_and_generate import assert_problem
from tests.helpers import TINY_JOB, wait_for_job, wait_until

pytestmark = pytest.mark.e2e


def test_queued_jobs_survive_a_redis_restart_and_everything_reconnects(tmp_path, data_dir):
    redis_dir = tmp_path / "redis"
    redis, url = start_redis(redis_dir)
    port = urlparse(url).port
    env = env_for(url, data_dir)
    api, api_url = start_api(env, tmp_path / "api.log")
    worker = None
    try:
        with httpx.Client(base_url=api_url, timeout=30) as client:
            job = client.post("/v1/jobs", json=TINY_JOB).json()
            assert_problem(client.get("/readyz"), 503, "no worker is alive")

            redis.terminate()
            redis.wait(10)
            started = time.monotonic()
            response = client.get(f"/v1/jobs/{job['id']}")
            print(f"\nRedis down -> 503 in {time.monotonic() - started:.2f} s")
            assert time.monotonic() - started < 10  # answers, does not hang
            assert_problem(response, 503, "Redis")
            assert int(response.headers["retry-after"]) >= 1
            assert client.get("/healthz").status_code == 200
            assert client.get("/readyz").status_code == 503

            redis, _ = start_redis(redis_dir, port)  # same files, same port
            again = wait_until(lambda: (r := client.get(f"/v1/jobs/{job['id']}")).status_code == 200 and r.json(),
                               30, "API reconnecting")
            assert again["status"] == "queued"  # the job, and its task in the queue, came back from the AOF

            worker = start_worker(env, "restart@%h", tmp_path / "worker.log")
            assert wait_for_job(client, job["id"])["status"] == "succeeded"

            redis.terminate()  # once more, with the worker connected
            redis.wait(10)
            redis, _ = start_redis(redis_dir, port)
            submitted = wait_until(lambda: (r := client.post("/v1/jobs", json=TINY_JOB)).status_code == 202 and r,
                                   30, "API submitting again")
            assert wait_for_job(client, submitted.json()["id"])["status"] == "succeeded"
    finally:
        for process in (api, worker):
            if process is not None:
                stop(process)
        redis.terminate()
        redis.wait(10)
