"""Enqueueing by task name, so the API never imports task bodies (or torch training code)."""

from __future__ import annotations

from celery import Celery

TRAIN_TASK = "ganforge.train"


def enqueue_training(app: Celery, job_id: str) -> None:
    app.send_task(TRAIN_TASK, args=[job_id])
