"""Enqueueing by task name, so the API never imports task bodies (or torch training code)."""

from __future__ import annotations

from celery import Celery

TRAIN_TASK = "ganforge.train"  # runs any job; the name predates evaluation jobs, kept for queued tasks
REFERENCE_TASK = "ganforge.reference"
QUEUE = "celery"  # Celery's default queue: with the Redis transport, a list of that name holds waiting jobs

# Give up in about two seconds when the broker is away, so the caller can answer 503 instead of hanging.
_RETRY_POLICY = {"max_retries": 3, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}


def enqueue_job(app: Celery, job_id: str) -> None:
    """Any job, training or evaluation: the task reads which from the job's spec."""
    app.send_task(TRAIN_TASK, args=[job_id], retry=True, retry_policy=_RETRY_POLICY)


def enqueue_reference(app: Celery, dataset_id: str, image_size: int | None) -> None:
    """Trains the data set's reference classifier ahead of the evaluation that needs it (a no-op if cached)."""
    app.send_task(REFERENCE_TASK, args=[dataset_id, image_size], retry=True, retry_policy=_RETRY_POLICY)
