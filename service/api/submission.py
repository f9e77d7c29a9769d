"""Recording a job and handing it to the workers: shared by training and evaluation submissions."""

from __future__ import annotations

import json

from celery import Celery
from fastapi import Response

from core.queues import QUEUE, enqueue_job, enqueue_reference
from core.registry import CapReached, Registry
from core.settings import Settings
from service.api.auth import Principal
from service.api.problems import Problem


def create_job(registry: Registry, settings: Settings, key: Principal, spec: dict, idempotency_key: str | None,
               response: Response) -> tuple[dict, bool]:
    """(job, created): a new queued job, or the one an earlier request with this Idempotency-Key made."""
    try:
        job, created = registry.create_job(spec, idempotency_key, owner=key.name,
                                           max_unfinished=settings.max_unfinished_jobs_per_key)
    except CapReached:
        raise Problem(429, f"key {key.name!r} already has {settings.max_unfinished_jobs_per_key} unfinished jobs "
                           "(the server's max_unfinished_jobs_per_key); wait for some to finish or cancel some",
                      {"Retry-After": "30"}) from None
    if not created:
        # The same key for another request is a client bug; replaying the first job would hide it.
        if job["spec"] != json.loads(json.dumps(spec)):
            raise Problem(422, f"Idempotency-Key {idempotency_key!r} was used for job {job['id']} with another "
                               "request body; use a new key for a new request")
        response.headers["Idempotent-Replayed"] = "true"
    return job, created


def enqueue(registry: Registry, celery: Celery, job_id: str, queue: str = QUEUE) -> None:
    enqueue_job(celery, job_id, queue)
    registry.mark_enqueued(job_id)


def enqueue_reference_for(registry: Registry, celery: Celery, job_id: str, dataset_id: str,
                          image_size: int | None) -> None:
    """Queues the data set's reference classifier ahead of the job, telling the task which job waits on it (so it
    can report each epoch there), and notes on the job what it waits for."""
    # Noted first, so that it never lands after the task's own notes.
    registry.note_waiting(job_id, {"for": "reference classifier", "dataset": dataset_id, "epoch": 0,
                                   "epochs": None, "eta_s": None})
    enqueue_reference(celery, dataset_id, image_size, job_id)
