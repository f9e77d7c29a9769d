"""Queues a running job again when its worker vanished (its lease expired): the worker's reaper sweeps with it, and
GET /v1/jobs/{id} runs it for the job it shows. The Lua behind `Registry.reap_job` changes the status atomically,
so of several reapers exactly one re-queues a job."""

from __future__ import annotations

import logging
from collections.abc import Callable

from core.registry import Registry
from core.states import JobStatus

log = logging.getLogger("ganforge.reaper")


def reap_job(registry: Registry, job_id: str, enqueue: Callable[[str], None], max_attempts: int) -> str:
    outcome = registry.reap_job(job_id, max_attempts)
    if outcome == "requeued":
        log.warning("job %s lost its worker (lease expired); queued again", job_id, extra={"job": job_id})
        enqueue(job_id)
        registry.mark_enqueued(job_id)
    elif outcome in (JobStatus.FAILED, JobStatus.CANCELLED):
        log.warning("job %s lost its worker; now %s", job_id, outcome, extra={"job": job_id})
    return outcome
