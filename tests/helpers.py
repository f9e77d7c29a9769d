"""Shared by the tests: a tiny job spec, waits for a job to finish, a training interrupter."""

from __future__ import annotations

import time

import httpx

from core.registry import Registry
from core.states import TERMINAL
from core.store import ArtifactStore
from core.store.keys import model_prefix
from models.trainer import Callbacks, Trainer, make_trainer

# A job small enough to finish in about a second on 2 CPU cores.
TINY_JOB = {
    "dataset": "digits",
    "model": {"arch": "dcgan", "latent_dim": 16, "g_width": 8, "d_width": 8},
    "train": {"epochs": 1, "max_steps": 12, "batch_size": 32},
}

# Small upload caps for the test API, so the hostile-upload tests stay fast.
UPLOAD_CAPS = {
    "GANFORGE_MAX_UPLOAD_BYTES": str(2_000_000),
    "GANFORGE_MAX_UNCOMPRESSED_BYTES": str(8_000_000),
    "GANFORGE_MAX_ENTRY_BYTES": str(4_000_000),
    "GANFORGE_MAX_ZIP_ENTRIES": "300",
    "GANFORGE_MAX_IMAGE_PIXELS": str(1_000_000),
    "GANFORGE_MAX_DATASET_IMAGES": "2000",
}


# Tiny networks for the families' e2e tests: a few steps each, a second or two on the worker.
TINY_NETS = {"latent_dim": 8, "g_width": 8, "d_width": 8, "hidden": 32}
TINY_STEPS = {"epochs": 1, "max_steps": 4, "batch_size": 32}


def train_model(client: httpx.Client, dataset: str, model: dict, train: dict | None = None,
                nets: dict = TINY_NETS, **job) -> dict:
    """Trains a tiny model over HTTP (tiny sampler nets unless `nets` says otherwise; `job`: other fields of the
    job spec); returns its card."""
    response = client.post("/v1/jobs", json={"dataset": dataset, "model": {**nets, **model},
                                            "train": {**TINY_STEPS, **(train or {})}, **job})
    assert response.status_code == 202, response.text
    job = wait_for_job(client, response.json()["id"])
    assert job["status"] == "succeeded", job
    return client.get(f"/v1/models/{job['model_id']}").json()


def wait_for_job(client: httpx.Client, job_id: str, timeout_s: float = 120) -> dict:
    return _wait(lambda: client.get(f"/v1/jobs/{job_id}").json(), timeout_s)


def wait_for_registry_status(registry: Registry, job_id: str, timeout_s: float = 120) -> dict:
    return _wait(lambda: registry.get_job(job_id), timeout_s)


def _wait(read_job, timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        job = read_job()
        if job["status"] in TERMINAL:
            return job
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job['id']} still {job['status']} after {timeout_s} s")
        time.sleep(0.2)


def straight_and_resumed(gan, train, data, labels, stop_at: int, path) -> tuple[Trainer, Trainer]:
    """Two trainers of the same job: one trained straight through, one interrupted at `stop_at` (as by a
    killed worker), saved to the checkpoint `path`, and resumed from it in a fresh trainer."""
    straight = make_trainer(gan, train)
    straight.fit(data, labels)
    first = make_trainer(gan, train)
    first.fit(data, labels, StopAt(first, stop_at))
    first.save_checkpoint(path)
    resumed = make_trainer(gan, train)
    resumed.load_checkpoint(path)
    assert resumed.step == stop_at
    resumed.fit(data, labels)
    return straight, resumed


class StopAt(Callbacks):
    """Interrupts training after a given step, as a killed worker or a cancel would."""

    def __init__(self, trainer: Trainer, step: int):
        self.trainer, self.step = trainer, step

    def should_stop(self) -> bool:
        return self.trainer.step >= self.step


def tiny_job(**train) -> dict:
    """TINY_JOB with other training settings, e.g. enough steps for a job to run a few seconds."""
    return {**TINY_JOB, "train": {**TINY_JOB["train"], **train}}


def wait_until(predicate, timeout_s: float, what: str, interval_s: float = 0.1):
    """Polls until `predicate()` returns something truthy, and returns it."""
    deadline = time.monotonic() + timeout_s
    while True:
        if value := predicate():
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout_s} s")
        time.sleep(interval_s)


def events(client: httpx.Client, job_id: str, kind: str | None = None) -> list[dict]:
    found = client.get(f"/v1/jobs/{job_id}/events").json()["events"]
    return [e for e in found if kind is None or e["event"] == kind]


def copy_model(store: ArtifactStore, source_id: str, target_id: str) -> None:
    """Publishes the stored files of one model again under another id (a model of a test's own, to delete)."""
    source = model_prefix(source_id)
    names = store.read_manifest(source)["files"]
    store.publish(model_prefix(target_id), {name: store.read_published(source, name) for name in names})
