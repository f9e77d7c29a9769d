"""Enqueueing by task name, so the API never imports task bodies (or torch training code); and which queue a job
waits on, by what it needs (its spec's `resources`). With the Redis transport each queue is a Redis list of that
name: /metrics, GET /v1/workers and the cluster's autoscalers read their lengths; `ganforge status` counts the
jobs waiting (queued_jobs) beside them.

Queues: `celery` (any device: Celery's default, so specs without `resources` and tasks queued before pools existed
keep working), `cpu`, `gpu`, `gpu-<N>gb` (a GPU of at least N GB: one of MEMORY_CLASSES_GB), and for a job on
N > 1 GPUs of one worker `gpu-x<N>`, or `gpu-x<N>-<M>gb` when each of the N GPUs needs M GB. A CPU worker consumes
`celery` and `cpu`; a GPU worker `celery`, `gpu` and every queue its GPUs satisfy (worker.pools.gpu_queues)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from celery import Celery

if TYPE_CHECKING:
    from core.registry import Registry

TRAIN_TASK = "ganforge.train"  # runs any job; the name predates evaluation jobs, kept for queued tasks
REFERENCE_TASK = "ganforge.reference"
QUEUE = "celery"  # Celery's default queue: with the Redis transport, a list of that name holds waiting jobs
CPU_QUEUES = (QUEUE, "cpu")  # what a worker without GPUs consumes
# GPU memory classes, in GB: a job asking for `gpu_memory_gb` waits for the smallest class that holds it.
MEMORY_CLASSES_GB = (16, 24, 40, 80)

# Give up in about two seconds when the broker is away, so the caller can answer 503 instead of hanging.
_RETRY_POLICY = {"max_retries": 3, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}


def enqueue_job(app: Celery, job_id: str, queue: str = QUEUE) -> None:
    """Any job, training or evaluation: the task reads which from the job's spec. `queue`: queue_for(its spec)."""
    app.send_task(TRAIN_TASK, args=[job_id], queue=queue, retry=True, retry_policy=_RETRY_POLICY)


def requeuer(app: Celery, registry: Registry) -> Callable[[str], None]:
    """For the reaper: enqueues a job again on its own queue, read from its spec."""

    def requeue(job_id: str) -> None:
        job = registry.get_job(job_id)
        enqueue_job(app, job_id, queue_for(job["spec"]) if job else QUEUE)

    return requeue


def memory_class(gb: int) -> int:
    """The smallest memory class that holds `gb`."""
    for size in MEMORY_CLASSES_GB:
        if gb <= size:
            return size
    raise ValueError(f"no GPU memory class holds {gb} GB; the largest is {MEMORY_CLASSES_GB[-1]} GB")


def gpu_queue(devices: int = 1, memory_gb: int | None = None) -> str:
    """The queue of a job on `devices` GPUs of one worker, each with at least `memory_gb` (a memory class)."""
    name = "gpu" if devices == 1 else f"gpu-x{devices}"
    return name if memory_gb is None else f"{name}-{memory_gb}gb"


def queue_for(spec: dict) -> str:
    """The queue a job waits on, from its stored spec (a dict: the API and the reaper need no torch for this).
    Evaluations and projections, and specs from before `resources`, go to `celery`."""
    resources = spec.get("resources") or {}
    device = resources.get("device", "any")
    if device == "cpu":
        return "cpu"
    if device != "gpu":  # "any": a job on N devices runs N gloo processes on any CPU worker
        return QUEUE
    memory = resources.get("gpu_memory_gb")
    return gpu_queue((spec.get("train") or {}).get("devices", 1), None if memory is None else memory_class(memory))


def enqueue_reference(app: Celery, dataset_id: str, image_size: int | None, job_id: str | None = None) -> None:
    """Trains the data set's reference classifier ahead of the job that needs it (a no-op if cached); the task
    reports its epochs on the waiting job `job_id`."""
    app.send_task(REFERENCE_TASK, args=[dataset_id, image_size], kwargs={"job_id": job_id} if job_id else {},
                  retry=True, retry_policy=_RETRY_POLICY)


# Queues worth showing even while no worker consumes them: a job waiting there has no one to take it.
STANDARD_QUEUES = (*CPU_QUEUES, "gpu", *(gpu_queue(1, size) for size in MEMORY_CLASSES_GB))


def _shown_queues(workers: list[dict]) -> list[str]:
    return list(dict.fromkeys([*STANDARD_QUEUES, *(q for w in workers for q in w.get("queues") or ())]))


def live_queue_depths(registry: Registry, workers: list[dict]) -> dict[str, int]:
    """Jobs waiting in each standard queue and in each queue a live worker consumes: the live work (queued_jobs),
    with the queues where nothing waits at 0."""
    return {**dict.fromkeys(_shown_queues(workers), 0), **queued_jobs(registry)}


def queue_depths(redis, workers: list[dict]) -> dict[str, int]:
    """Broker messages waiting in each standard queue and in each queue a live worker consumes (one round trip).
    More than the jobs waiting: a list also holds data sets' reference-classifier tasks, and the tasks of jobs
    cancelled while queued until a worker takes and drops them. For the live work, see live_queue_depths."""
    names = _shown_queues(workers)
    pipe = redis.pipeline(transaction=False)
    for name in names:
        pipe.llen(name)
    return dict(zip(names, pipe.execute(), strict=True))


def queued_jobs(registry: Registry) -> dict[str, int]:
    """Jobs queued per the registry (its set of queued jobs), by the queue each waits on: the live work, whatever
    else the broker's lists hold. Only queues with a job waiting are named."""
    counts: dict[str, int] = {}
    for spec in registry.queued_specs():
        queue = queue_for(spec)
        counts[queue] = counts.get(queue, 0) + 1
    return dict(sorted(counts.items()))
