"""Finds running jobs whose worker vanished (its lease expired) and queues them again.

With Redis and late acks, Celery itself redelivers a hard-killed worker's task only after the
visibility timeout, which must outlast the longest job (hours): field notes, "Visibility timeout". So
every worker runs this reaper, and GET /v1/jobs/{id} runs it for the job it shows; the Lua behind
`Registry.reap_job` changes a job's status atomically, so of several reapers exactly one re-queues it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from core.reaping import reap_job
from core.registry import Registry
from core.states import LEASED, JobStatus

log = logging.getLogger("ganforge.reaper")


def reap(registry: Registry, enqueue: Callable[[str], None], max_attempts: int,
         orphan_grace_s: float = 30.0) -> list[str]:
    """One sweep; returns the ids it (re-)enqueued."""
    requeued = []
    for status in LEASED:
        for job_id in registry.job_ids_with_status(status):
            if reap_job(registry, job_id, enqueue, max_attempts) == "requeued":
                requeued.append(job_id)
    # A job whose creator (API or reaper) died, or lost the broker, between recording it and enqueueing it
    # would wait forever. A duplicate task is harmless (the lease and status checks drop it), so no claim.
    for job_id in registry.job_ids_with_status(JobStatus.QUEUED):
        since = registry.unenqueued_since(job_id)
        if since is not None and time.time() - since > orphan_grace_s:
            log.warning("job %s was queued but never enqueued; enqueueing it", job_id, extra={"job": job_id})
            enqueue(job_id)
            registry.mark_enqueued(job_id)
            requeued.append(job_id)
    return requeued


class Reaper(threading.Thread):
    def __init__(self, registry: Registry, enqueue: Callable[[str], None], interval_s: float, max_attempts: int,
                 orphan_grace_s: float):
        super().__init__(daemon=True, name="reaper")
        self.registry, self.enqueue, self.interval_s, self.max_attempts = registry, enqueue, interval_s, max_attempts
        self.orphan_grace_s = orphan_grace_s
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval_s):
            try:
                reap(self.registry, self.enqueue, self.max_attempts, self.orphan_grace_s)
            except Exception:  # Redis down: the next sweep tries again
                log.warning("reaper sweep failed", exc_info=True)
