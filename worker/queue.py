"""Enqueueing by task name, so the API never imports task bodies (or torch training code)."""

from __future__ import annotations

from celery import Celery

TRAIN_TASK = "ganforge.train"
QUEUE = "celery"  # Celery's default queue: with the Redis transport, a list of that name holds waiting jobs

# Give up in about two seconds when the broker is away, so the caller can answer 503 instead of hanging.
_RETRY_POLICY = {"max_retries": 3, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}


def enqueue_training(app: Celery, job_id: str) -> None:
    app.send_task(TRAIN_TASK, args=[job_id], retry=True, retry_policy=_RETRY_POLICY)
