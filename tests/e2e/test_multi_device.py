"""A job on two devices of one worker (train.devices 2: two gloo processes on the CPU), through the whole stack."""

from __future__ import annotations

import os
import signal

import pytest

from tests.helpers import events, wait_for_job, wait_until

pytestmark = pytest.mark.e2e

SPEC = {"dataset": "ring8", "model": {"arch": "mlp", "hidden": 32},
        "train": {"max_steps": 400, "batch_size": 64, "devices": 2, "checkpoint_every_steps": 25, "ema": 0}}


def _ranks(client, job_id: str) -> list[int]:
    found = [e["data"]["ranks"] for e in events(client, job_id, "log") if "ranks" in e["data"]]
    return found[-1] if found else []


def test_a_job_whose_rank_is_killed_resumes_from_its_checkpoint_and_finishes_once(client, worker_process):
    job = client.post("/v1/jobs", json=SPEC).json()
    ranks = wait_until(lambda: _ranks(client, job["id"]), 60, "the job's ranks")
    assert len(ranks) == 2 and ranks[0] != ranks[1]  # two processes train it
    wait_until(lambda: events(client, job["id"], "checkpoint"), 60, "a checkpoint")

    os.kill(ranks[1], signal.SIGKILL)
    done = wait_for_job(client, job["id"], timeout_s=180)

    assert done["status"] == "succeeded", done
    assert events(client, job["id"], "retrying"), "the lost rank was not treated as a transient failure"
    resumed = events(client, job["id"], "resumed")
    assert resumed and resumed[-1]["data"]["step"] >= 25  # from the checkpoint, not from scratch
    regrouped = _ranks(client, job["id"])
    assert len(regrouped) == 2 and regrouped[1] != ranks[1]  # a fresh group
    wait_until(lambda: not _alive(regrouped[1]), 15, "the last rank to exit")  # no rank is left behind
    models = [m for m in client.get("/v1/models").json()["models"] if m["job_id"] == job["id"]]
    assert len(models) == 1 and models[0]["training"]["devices"] == 2


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_batch_that_does_not_split_over_the_devices_is_refused_at_submit(client):
    spec = {**SPEC, "train": {**SPEC["train"], "batch_size": 63}}
    response = client.post("/v1/jobs", json=spec)
    assert response.status_code == 422
    assert "multiple of train.devices" in response.json()["detail"]
    # Also the recipe's batch, when the job sets none: the mlp recipe's 128 over 3 devices.
    spec = {**SPEC, "train": {"max_steps": 10, "devices": 3}}
    response = client.post("/v1/jobs", json=spec)
    assert response.status_code == 422 and "multiple of 3" in response.json()["detail"]
