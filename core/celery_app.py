"""The Celery app, configured for long training jobs (see shared field notes: Celery + Redis)."""

from __future__ import annotations

from celery import Celery

from core.redis_connection import celery_broker
from core.settings import Settings


def create_celery(settings: Settings) -> Celery:
    broker, sentinel_options = celery_broker(settings.require_redis_url(), settings.redis_sentinel_password)
    app = Celery("ganforge", broker=broker)
    transport = {"visibility_timeout": settings.visibility_timeout_s, **sentinel_options}
    app.conf.update(
        task_ignore_result=True,  # the registry, not Celery's backend, is the source of truth for jobs
        task_acks_late=True,  # a job whose worker dies is delivered again...
        task_reject_on_worker_lost=True,  # ...also when only the pool child dies
        worker_prefetch_multiplier=1,  # reserve one job at a time
        worker_max_tasks_per_child=1,  # a fresh process per job hands back all (GPU) memory
        worker_cancel_long_running_tasks_on_connection_loss=True,  # else a late-ack job may run twice
        broker_transport_options=transport,
        broker_connection_retry_on_startup=True,
        visibility_timeout=settings.visibility_timeout_s,
        task_serializer="json",
        accept_content=["json"],
        worker_hijack_root_logger=False,
    )
    return app

