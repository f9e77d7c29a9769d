"""Runs one job of any kind: takes its lease, keeps it alive, hands the job to the runner of its kind (RUNNERS) and
records the outcome; everything the Celery task does, callable without Celery."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import traceback
from collections.abc import Callable

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.ids import utcnow
from core.registry import JobLease, LeaseLost, Registry
from core.settings import Settings
from core.states import JobStatus
from core.store import ArtifactStore
from worker.augmentation_report import run_augmentation_report
from worker.evaluation import run_evaluation
from worker.lease_heartbeat import LeaseHeartbeat
from worker.projection import run_projection
from worker.training import run_training

log = logging.getLogger("ganforge.worker")

Runner = Callable[[dict, JobLease, ArtifactStore, Settings, LeaseHeartbeat], str]
# A job's spec says its kind (training when it says none: specs from before evaluations); one runner each.
RUNNERS: dict[str, Runner] = {"training": run_training, "evaluation": run_evaluation, "projection": run_projection,
                               "augmentation_report": run_augmentation_report}


def runner_for(spec: dict) -> Runner:
    """The runner of a job's spec: by its kind, and the augmentation report among evaluations."""
    if spec.get("kind") == "evaluation" and spec.get("metrics") == ["augmentation_gain"]:
        return RUNNERS["augmentation_report"]
    return RUNNERS[spec.get("kind", "training")]


class TransientFailure(Exception):
    """A failure worth retrying later (lost connection, flaky storage); carries the original error, and the
    lease token the retry passes back so that it continues the same attempt."""

    def __init__(self, message: str, token: str | None = None):
        super().__init__(message)
        self.token = token


# Errors of the job itself (bad data, bad config) fail it at once; these are the environment's.
_PERMANENT_OS_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, (RedisConnectionError, RedisTimeoutError)):
        return True
    return isinstance(exc, OSError) and not isinstance(exc, _PERMANENT_OS_ERRORS)


def run_job(job_id: str, registry: Registry, store: ArtifactStore, settings: Settings,
                     worker: str | None = None, token: str | None = None) -> str:
    """Runs the job (training, evaluation or projection: RUNNERS) if no other worker holds it; returns the status it
    left the job in, or why it did not run it. Raises TransientFailure when it is worth trying again later; its
    token, given back here, continues the job under the lease it kept, without counting another attempt."""
    token = token or secrets.token_hex(16)
    worker = worker or f"{socket.gethostname()}:{os.getpid()}"
    try:
        outcome, attempt = registry.begin_job(job_id, token, settings.lease_ttl_s, worker, settings.max_attempts)
    except (RedisConnectionError, RedisTimeoutError) as exc:
        raise TransientFailure(f"{type(exc).__name__}: {exc}") from exc
    if outcome == "leased":
        log.info("job %s is leased by another worker; leaving it alone", job_id)
        registry.add_event(job_id, "log", {"message": f"a second delivery to {worker} left it alone: leased"})
        return "leased-elsewhere"
    if outcome != JobStatus.RUNNING:
        log.info("job %s is %s; not running it", job_id, outcome)
        return outcome
    lease = registry.lease(job_id, token)
    heartbeat = LeaseHeartbeat(lease, settings.lease_ttl_s)
    heartbeat.start()
    keep_lease = False
    try:
        job = registry.get_job(job_id)
        return runner_for(job["spec"])(job, lease, store, settings, heartbeat)
    except LeaseLost:
        log.warning("job %s: lease lost to another worker; stopped without writing more", job_id)
        return "lease-lost"
    except Exception as exc:
        if is_transient(exc):
            log.warning("job %s: transient failure (attempt %d): %s", job_id, attempt, exc)
            _best_effort(_queue_for_retry, lease, f"{type(exc).__name__}: {exc}")
            keep_lease = True  # until it expires: the retry takes it up again with the same token
            raise TransientFailure(f"{type(exc).__name__}: {exc}", token) from exc
        log.exception("job %s failed", job_id)
        _best_effort(lease.set_status, JobStatus.FAILED, error=f"{type(exc).__name__}: {exc}", finished_at=utcnow())
        _best_effort(lease.add_event, "log", {"traceback": traceback.format_exc(limit=5)})
        return JobStatus.FAILED
    finally:
        heartbeat.stopped.set()
        if not keep_lease:
            _best_effort(lease.release)


def _queue_for_retry(lease: JobLease, error: str) -> None:
    """Back to queued, visibly, until Celery's retry runs it; a job being cancelled is cancelled instead."""
    if lease.status() == JobStatus.CANCELLING:
        lease.set_status(JobStatus.CANCELLED, finished_at=utcnow())
    else:
        lease.update({"error": error, "enqueued_at": utcnow()}, JobStatus.QUEUED, "retrying", {"error": error})


def _best_effort(write, *args, **kwargs) -> None:
    try:
        write(*args, **kwargs)
    except Exception:  # the outcome is already decided; the reaper repairs what this could not write
        log.warning("could not record a job outcome", exc_info=True)


