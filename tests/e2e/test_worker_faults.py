"""Workers that die or receive a job twice: real Celery workers, real SIGKILL, real Redis."""

from __future__ import annotations

import io
import os
import signal
import time

import httpx
import pytest
from PIL import Image
from redis import Redis

from core.celery_app import create_celery
from core.queues import enqueue_job
from core.registry import Registry
from core.settings import Settings
from service.cli.processes import env_for, start_api, start_worker, stop
from tests.helpers import events, tiny_job, wait_for_job, wait_until

pytestmark = pytest.mark.e2e
LEASE_TTL_S = 3


@pytest.fixture(scope="module")
def stack(redis_url, data_dir, tmp_path_factory):
    """Two workers and an API on a Redis database of their own, with short leases."""
    url = redis_url.rsplit("/", 1)[0] + "/2"
    env = env_for(url, data_dir, GANFORGE_LEASE_TTL_S=str(LEASE_TTL_S), GANFORGE_REAPER_INTERVAL_S="0.5",
                  GANFORGE_ORPHAN_GRACE_S="1")
    logs = tmp_path_factory.mktemp("fault-logs")
    workers = {name: start_worker(env, f"{name}@%h", logs / f"{name}.log") for name in ("w1", "w2")}
    api, api_url = start_api(env, logs / "api.log")
    with httpx.Client(base_url=api_url, timeout=30) as client:
        yield {"client": client, "workers": workers, "celery": create_celery(Settings(redis_url=url)),
               "registry": Registry(Redis.from_url(url)), "logs": logs}
    for process in (api, *workers.values()):
        stop(process)


def test_a_second_delivery_of_a_running_job_is_left_alone(stack):
    client = stack["client"]
    # 2-D points: no reference-classifier task queued beside it, so both workers are free for the two deliveries.
    spec = {"dataset": "ring8", "model": {"arch": "mlp", "hidden": 32}, "train": {"max_steps": 300, "batch_size": 32}}
    job = client.post("/v1/jobs", json=spec).json()
    enqueue_job(stack["celery"], job["id"])  # the same task again, at once, as a redelivery would

    done = wait_for_job(client, job["id"])

    assert done["status"] == "succeeded" and done["attempts"] == 1
    assert len([e for e in events(client, job["id"], "status") if e["data"]["status"] == "running"]) == 1
    assert any("left it alone" in e["data"].get("message", "") for e in events(client, job["id"], "log"))
    models = [m for m in client.get("/v1/models").json()["models"] if m["job_id"] == job["id"]]
    assert len(models) == 1


def test_a_paused_worker_that_lost_its_lease_writes_nothing_after_it_wakes(stack):
    """SIGSTOP past the lease (a long GC pause, a VM freeze): another worker takes the job over; when the
    first wakes up, the fencing token stops every write it tries."""
    client, workers = stack["client"], stack["workers"]
    job = client.post("/v1/jobs", json=tiny_job(max_steps=400, epochs=10, checkpoint_every_steps=25)).json()
    running = wait_until(lambda: _progressed(client, job["id"], 60), 120, "job reaching step 60", 0.05)
    paused = running["worker"].split("@")[0]

    os.killpg(workers[paused].pid, signal.SIGSTOP)
    try:
        wait_until(lambda: client.get(f"/v1/jobs/{job['id']}").json()["attempts"] == 2, 60, "takeover")
    finally:
        os.killpg(workers[paused].pid, signal.SIGCONT)
    done = wait_for_job(client, job["id"])

    assert done["status"] == "succeeded" and not done["worker"].startswith(paused) and done["attempts"] == 2
    outcomes = [e["data"]["status"] for e in events(client, job["id"], "status")]
    assert outcomes.count("succeeded") == 1 and "failed" not in outcomes
    assert len([m for m in client.get("/v1/models").json()["models"] if m["job_id"] == job["id"]]) == 1
    log = stack["logs"] / f"{paused}.log"
    wait_until(lambda: "lease lost" in log.read_text(), 30, "the woken worker noticing it lost the lease")


def test_a_job_whose_worker_is_killed_resumes_on_another_from_its_checkpoint(stack):
    client, workers = stack["client"], stack["workers"]
    job = client.post("/v1/jobs", json=tiny_job(max_steps=400, epochs=10, checkpoint_every_steps=25)).json()
    running = wait_until(lambda: _progressed(client, job["id"], 100), 120, "job reaching step 100", 0.05)
    victim = running["worker"].split("@")[0]

    os.killpg(workers[victim].pid, signal.SIGKILL)  # the worker and its pool child, as a crash or OOM would
    killed_at = time.monotonic()
    seen = []
    while (current := client.get(f"/v1/jobs/{job['id']}").json())["status"] not in ("succeeded", "failed"):
        seen.append((time.monotonic() - killed_at, current["status"], current["worker"], current["attempts"]))
        assert time.monotonic() - killed_at < 120, seen[-5:]
        time.sleep(0.1)

    assert current["status"] == "succeeded", current
    resumed_after = next((t for t, status, _, attempts in seen if status == "running" and attempts == 2), None)
    print(f"\nSIGKILL -> running again on the other worker: {resumed_after} s (lease TTL {LEASE_TTL_S} s)")
    assert current["progress"]["step"] == current["progress"]["total_steps"] == 400
    assert current["attempts"] == 2 and current["requeues"] == 1 and not current["worker"].startswith(victim)
    # Shown running on the dead worker only while its lease could still live.
    stale = [t for t, status, worker, _ in seen if status == "running" and worker.startswith(victim)]
    assert not stale or max(stale) < LEASE_TTL_S + 3, seen
    assert any(status == "queued" for _, status, _, _ in seen) or events(client, job["id"], "requeued")

    history = events(client, job["id"])
    kinds = [e["event"] for e in history]
    assert "requeued" in kinds
    resumed = [e for e in history if e["event"] == "resumed"]
    assert len(resumed) == 1
    resumed_from = resumed[0]["data"]["step"]
    assert 25 <= resumed_from <= running["progress"]["step"] and resumed_from % 25 == 0
    after = [e["data"]["step"] for e in history[kinds.index("resumed"):] if e["event"] == "progress"]
    assert after and min(after) > resumed_from, after  # continued, not restarted from zero

    card = client.get(f"/v1/models/{current['model_id']}").json()
    assert card["metrics"]["steps"] == 400
    image = client.get(f"/v1/models/{card['id']}/images", params={"n": 4, "seed": 1})
    assert image.status_code == 200 and Image.open(io.BytesIO(image.content)).size == (2 * 30 + 2, 2 * 30 + 2)


def test_a_job_recorded_but_never_enqueued_still_runs(stack):
    job, _ = stack["registry"].create_job(tiny_job())  # as if the API died right after recording it
    done = wait_for_job(stack["client"], job["id"], timeout_s=60)
    assert done["status"] == "succeeded" and done["enqueued_at"]


def _progressed(client: httpx.Client, job_id: str, step: int) -> dict | None:
    job = client.get(f"/v1/jobs/{job_id}").json()
    return job if job["status"] == "running" and (job["progress"] or {}).get("step", 0) >= step else None


def test_a_killed_pool_child_is_requeued_and_resumed_without_a_loop(stack):
    """Only the prefork child dies (OOM killer): Celery rejects the task back to the queue; its redelivery
    finds the dead child's lease still live and leaves it; the reaper then queues it once more."""
    client = stack["client"]
    job = client.post("/v1/jobs", json=tiny_job(max_steps=300, epochs=10, checkpoint_every_steps=25)).json()
    running = wait_until(lambda: _progressed(client, job["id"], 60), 120, "job reaching step 60", 0.05)
    parent = next(p for name, p in stack["workers"].items() if running["worker"].startswith(name + "@"))
    children = _children(parent.pid)
    assert len(children) == 1, children

    os.kill(children[0], signal.SIGKILL)
    done = wait_for_job(client, job["id"])

    assert done["status"] == "succeeded" and done["progress"]["step"] == 300, done
    assert done["attempts"] == 2, done
    resumed = [e["data"]["step"] for e in events(client, job["id"], "resumed")]
    assert len(resumed) == 1 and resumed[0] >= 25


def _children(pid: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            found += [int(c) for c in f.read().split()]
    return found
