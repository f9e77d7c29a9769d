"""Jobs routed by what they need, through real workers: a worker takes only the queues it was given, a GPU job
waits while only CPU workers run, GET /v1/workers shows who runs what; and `ganforge worker --gpus` starts one
worker process per GPU, each seeing only its own, from a parent that never loads torch (a stand-in nvidia-smi
plays the GPUs: no GPU here)."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest
from redis import Redis

from core.presence import alive_workers
from service.cli.processes import env_for, spawn, start_api, stop
from tests.e2e.test_train_and_generate import assert_problem
from tests.helpers import wait_for_job, wait_until

pytestmark = pytest.mark.e2e
# 2-D points: no reference-classifier task is queued beside the job (it would wait on `celery`).
POINTS = {"dataset": "ring8", "model": {"arch": "mlp", "hidden": 32}, "train": {"max_steps": 40, "batch_size": 32}}
FAKE_NVIDIA_SMI = "#!/bin/sh\nprintf '0, Fake A100-SXM4-40GB, 40536\\n1, Fake A100-SXM4-40GB, 40536\\n'\n"


def job(device: str | None = None, **train) -> dict:
    resources = {"resources": {"device": device}} if device else {}
    return {**POINTS, "train": {**POINTS["train"], **train}, **resources}


@pytest.fixture(scope="module")
def pool(redis_url, data_dir, tmp_path_factory):
    """A worker that takes only the `cpu` queue, and an API, on a Redis database of their own."""
    url = redis_url.rsplit("/", 1)[0] + "/6"
    redis = Redis.from_url(url)
    redis.flushdb()
    env = env_for(url, data_dir, GANFORGE_RATE_LIMIT_JOBS_PER_MIN="0", GANFORGE_MAX_UNFINISHED_JOBS_PER_KEY="0")
    logs = tmp_path_factory.mktemp("pool-logs")
    worker = _start(env, ["worker", "--name", "cpuonly@%h", "--queues", "cpu"], logs / "worker.log")
    api, api_url = start_api(env, logs / "api.log")
    with httpx.Client(base_url=api_url, timeout=30) as client:
        yield {"client": client, "redis": redis}
    for process in (api, worker):
        stop(process)
    redis.close()


def _start(env: dict, args: list[str], log: Path):
    process = spawn(args, env, log)
    wait_until(lambda: b" ready." in log.read_bytes() or process.poll() is not None, 90, "worker")
    assert process.poll() is None, log.read_text()[-3000:]
    return process


def test_a_worker_given_queue_cpu_takes_a_cpu_job(pool):
    client = pool["client"]
    response = client.post("/v1/jobs", json=job("cpu"))
    assert response.status_code == 202 and response.json()["spec"]["resources"]["device"] == "cpu"

    done = wait_for_job(client, response.json()["id"], timeout_s=60)

    assert done["status"] == "succeeded" and done["worker"].startswith("cpuonly@"), done


def test_a_gpu_job_stays_queued_on_gpu_while_only_cpu_workers_run(pool):
    client, redis = pool["client"], pool["redis"]
    gpu = client.post("/v1/jobs", json=job("gpu")).json()
    big = client.post("/v1/jobs", json={**job("gpu"), "resources": {"device": "gpu", "gpu_memory_gb": 30}}).json()
    anywhere = client.post("/v1/jobs", json=job()).json()  # `celery`, which this worker was not given
    time.sleep(3)  # the idle worker polls its queue many times over, its reaper sweeps thrice

    for waiting in (gpu, big, anywhere):
        assert client.get(f"/v1/jobs/{waiting['id']}").json()["status"] == "queued"
    assert (redis.llen("gpu"), redis.llen("gpu-40gb"), redis.llen("celery")) == (1, 1, 1)
    assert {"gpu": 1, "gpu-40gb": 1, "celery": 1}.items() <= client.get("/v1/workers").json()["queues"].items()
    for waiting in (gpu, big, anywhere):
        assert client.post(f"/v1/jobs/{waiting['id']}/cancel").status_code == 200
    redis.delete("gpu", "gpu-40gb", "celery")


def test_workers_shows_each_live_worker_its_queues_devices_and_current_job(pool):
    client = pool["client"]
    running = client.post("/v1/jobs", json=job("cpu", max_steps=50_000, epochs=1000)).json()

    def ours() -> dict | None:
        listed = client.get("/v1/workers").json()["workers"]
        return next((w for w in listed if w["name"].startswith("cpuonly@") and w["current_job"] == running["id"]),
                    None)

    worker = wait_until(ours, 60, "the worker showing its current job")
    assert worker["queues"] == ["cpu"] and worker["devices"] == ["cpu"] and worker["host"] == socket.gethostname()
    assert worker["pid"] > 0 and worker["started_at"].endswith("Z") and worker["seen"].endswith("Z")
    assert client.post(f"/v1/jobs/{running['id']}/cancel").status_code == 202
    assert wait_for_job(client, running["id"], timeout_s=60)["status"] == "cancelled"
    wait_until(lambda: client.get("/v1/workers").json()["workers"][0]["current_job"] is None, 30, "idle again")


def test_contradictory_resources_are_a_422_that_says_what_to_change(pool):
    response = pool["client"].post("/v1/jobs", json={**POINTS, "resources": {"device": "cpu", "gpu_memory_gb": 24}})
    assert_problem(response, 422, "resources.gpu_memory_gb asks for a GPU", "set resources.device to 'gpu'")


def test_gpus_start_a_worker_process_per_gpu_from_a_parent_that_never_loads_torch(redis_url, data_dir, tmp_path):
    url = redis_url.rsplit("/", 1)[0] + "/10"
    redis = Redis.from_url(url)
    redis.flushdb()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nvidia-smi").write_text(FAKE_NVIDIA_SMI)
    (bin_dir / "nvidia-smi").chmod(0o755)
    env = env_for(url, data_dir, PATH=f"{bin_dir}:{os.environ['PATH']}")
    parent = spawn(["worker", "--gpus", "0,1"], env, tmp_path / "pool.log")
    try:
        workers = wait_until(lambda: len(w := alive_workers(redis)) == 2 and w, 120, "two GPU workers")
        host = socket.gethostname()
        assert [w["name"] for w in workers] == [f"gpu0@{host}", f"gpu1@{host}"]
        assert [w["devices"] for w in workers] == [["cuda:0 (Fake A100-SXM4-40GB, 40 GB)"],
                                                   ["cuda:1 (Fake A100-SXM4-40GB, 40 GB)"]]
        assert all(w["queues"] == ["celery", "gpu", "gpu-16gb", "gpu-24gb", "gpu-40gb"] for w in workers)
        assert [_environ(w["pid"])["CUDA_VISIBLE_DEVICES"] for w in workers] == ["0", "1"]
        with open(f"/proc/{parent.pid}/maps") as maps:
            assert "torch" not in maps.read()  # no libtorch, so no CUDA, in the process that forks the workers

        os.kill(parent.pid, signal.SIGKILL)  # the children go with it (no worker left holding a GPU)
        parent.wait()
        wait_until(lambda: not any(_alive(w["pid"]) for w in workers), 30, "the GPU workers stopping")
    finally:
        stop(parent)
        redis.close()


def _environ(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/environ", "rb") as f:
        return dict(entry.decode().split("=", 1) for entry in f.read().split(b"\0") if b"=" in entry)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] != "Z"  # a zombie has stopped
