"""Celery tasks: glue between the queue and `worker.jobs`; plus each worker's heartbeat and reaper."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from functools import lru_cache

from celery import signals
from redis import Redis, RedisError

from core import logs
from core.celery_app import create_celery
from core.datasets import load_dataset
from core.queues import REFERENCE_TASK, TRAIN_TASK, requeuer
from core.redis_connection import connect
from core.references import reference_wanted
from core.registry import Registry
from core.settings import get_settings
from core.states import JobStatus
from core.store import ArtifactStore, open_store
from models.data import ImageDataset
from models.gan import load_family_modules
from worker.heartbeat import WorkerHeartbeat
from worker.jobs import TransientFailure, run_job
from worker.reaper import Reaper
from worker.references import NoLongerWanted, reference_classifier, until_unwanted, waiting_reporter

log = logging.getLogger("ganforge.worker")
app = create_celery(get_settings())
load_family_modules(get_settings().family_modules)  # before the pool forks, so every child knows them
# torch.optim imports torch._dynamo when the first optimizer is made: 1.8 s on our CI machine, paid again by every
# job's fresh pool child (worker_max_tasks_per_child=1) unless the parent has it. It does not initialise CUDA.
importlib.import_module("torch._dynamo")
_background: list = []


@lru_cache(maxsize=1)
def _store() -> ArtifactStore:
    """One per process, opened on first use: after the pool forks, so no child inherits another's connections."""
    return open_store(get_settings())


def _redis() -> Redis:
    settings = get_settings()
    return connect(settings.require_redis_url(), settings.redis_sentinel_password, socket_connect_timeout=5,
                   socket_timeout=30, health_check_interval=30)


@app.task(name=TRAIN_TASK, bind=True)
def train(self, job_id: str, token: str | None = None) -> str:
    """`token`: set by a retry after a transient failure, to continue the attempt under the lease it kept."""
    settings = get_settings()
    log_context = logs.job_id.set(job_id)
    registry = Registry(_redis())
    try:
        return run_job(job_id, registry, _store(), settings,
                                worker=self.request.hostname, token=token)
    except TransientFailure as exc:
        retries = self.request.retries
        if retries >= settings.transient_retries:
            log.error("job %s: giving up after %d retries: %s", job_id, retries, exc)
            registry.set_status(job_id, JobStatus.FAILED, error=f"gave up after {retries} retries of a transient "
                                f"failure; last: {exc}")
            return JobStatus.FAILED
        countdown = settings.retry_backoff_s * 2**retries
        log.warning("job %s: retrying in %.0f s (retry %d of %d)", job_id, countdown, retries + 1,
                    settings.transient_retries)
        # The retry carries the lease token: it continues this attempt rather than starting a new one.
        raise self.retry(exc=exc, countdown=countdown, max_retries=settings.transient_retries,
                         args=[job_id], kwargs={"token": exc.token}) from exc
    finally:
        registry.redis.close()
        logs.job_id.reset(log_context)


@app.task(name=REFERENCE_TASK, acks_late=False)
def reference(dataset_id: str, image_size: int | None, job_id: str | None = None) -> str:
    """Trains a labelled image data set's reference classifier once, so evaluations find it ready. `job_id`: the
    queued job that waits on it, told of each epoch (absent from tasks queued before it was added); when that job
    and every other that waits for the same classifier is cancelled, the training stops at its next pass."""
    if job_id is None:
        dataset = load_dataset(dataset_id, _store(), image_size)
        if len(dataset.classes) < 2 or not isinstance(dataset, ImageDataset):
            return "no labels"
        reference_classifier(dataset, _store())
        return "ready"
    registry = Registry(_redis())
    try:
        wanted = _still_wanted(registry, dataset_id, image_size, job_id)
        if not wanted():
            log.info("reference classifier of %s: not trained, no job waits for it", dataset_id)
            return "not wanted"
        dataset = load_dataset(dataset_id, _store(), image_size)
        if len(dataset.classes) < 2 or not isinstance(dataset, ImageDataset):
            return "no labels"
        tell = _waiting_note(registry, job_id)
        ready = reference_classifier(dataset, _store(),
                                     on_epoch=until_unwanted(waiting_reporter(tell, dataset_id), wanted))
        tell({"for": "a worker", "dataset": dataset_id, "reference": ready.reliability()})
    except NoLongerWanted as stopped:
        log.info("reference classifier of %s: stopped, %s", dataset_id, stopped)
        return "stopped"
    finally:
        registry.redis.close()
    return "ready"


def _still_wanted(registry: Registry, dataset_id: str, image_size: int | None, job_id: str) -> Callable[[], bool]:
    def wanted() -> bool:
        try:
            return reference_wanted(registry, dataset_id, image_size, job_id)
        except RedisError as exc:  # unknown: keep training rather than lose the work
            log.warning("reference classifier of %s: could not check who waits for it: %s", dataset_id, exc)
            return True

    return wanted


def _waiting_note(registry: Registry, job_id: str) -> Callable[[dict], None]:
    """Notes what the queued job waits for; a note that cannot be written never stops the work it reports on."""

    def tell(waiting: dict) -> None:
        try:
            registry.note_waiting(job_id, waiting)
        except RedisError as exc:
            log.warning("job %s: could not note what it waits for: %s", job_id, exc)

    return tell


@signals.worker_process_init.connect
def _limit_threads(**_) -> None:
    threads = get_settings().torch_threads
    if threads:
        # OpenMP threads of processes sharing cores spin against each other: a tiny DCGAN step on 2 shared
        # cores took 343 ms with 2 threads and 11 ms with 1 (measured on our CI machine).
        import torch

        torch.set_num_threads(threads)


@signals.worker_ready.connect
def _start_background(sender, **_) -> None:
    """In the worker's main process (never a pool child): heartbeat and reaper threads."""
    settings = get_settings()
    redis = _redis()
    name = sender.hostname
    registry = Registry(redis)
    # Set by `ganforge worker` (service.cli), which knows the GPUs it gave this process; "cpu" when started otherwise.
    devices = app.conf.get("ganforge_devices") or ["cpu"]
    queues = list(app.amqp.queues.consume_from)  # what -Q named
    heartbeat = WorkerHeartbeat(redis, name, settings.worker_heartbeat_ttl_s, queues=queues, devices=devices,
                                current_jobs=lambda: registry.jobs_run_by(name))
    reaper = Reaper(registry, requeuer(app, registry), settings.reaper_interval_s,
                    settings.max_attempts, settings.orphan_grace_s)
    for thread in (heartbeat, reaper):
        thread.start()
        _background.append(thread)
    log.info("worker %s: heartbeat every %.1f s, reaper every %.1f s", name, settings.worker_heartbeat_ttl_s / 3,
             settings.reaper_interval_s)


@signals.worker_shutdown.connect
def _stop_background(**_) -> None:
    for thread in _background:
        thread.stopped.set()
    for thread in _background:
        thread.join(5)
