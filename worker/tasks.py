"""Celery tasks: glue between the queue and `worker.training`."""

from __future__ import annotations

from redis import Redis

from worker.celery_app import create_celery
from worker.queue import TRAIN_TASK
from worker.registry import Registry
from worker.settings import get_settings
from worker.store import ArtifactStore
from worker.training import run_training_job

app = create_celery(get_settings())


@app.task(name=TRAIN_TASK)
def train(job_id: str) -> str:
    settings = get_settings()
    registry = Registry(Redis.from_url(settings.require_redis_url()))
    return run_training_job(job_id, registry, ArtifactStore(settings.data_dir), settings)
