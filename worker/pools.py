"""Worker pools: which queues a machine's GPUs (core.gpus) can serve, and the worker processes that
`ganforge worker --gpus` starts, one per GPU (or per group of GPUs), each seeing only its own.

All of it runs in the parent before any worker process starts, so it never touches CUDA."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.gpus import Gpu
from core.queues import CPU_QUEUES, QUEUE, gpu_queue


@dataclass(frozen=True)
class WorkerProcess:
    """One worker process of a pool: its Celery node name, queues, GPUs and the environment that confines it."""

    name: str
    queues: list[str]
    gpus: tuple[Gpu, ...] = ()
    env: dict[str, str] = field(default_factory=dict)

    @property
    def devices(self) -> list[str]:
        return [gpu.label for gpu in self.gpus] or ["cpu"]


def select_gpus(available: list[Gpu], wanted: str) -> list[Gpu]:
    """`wanted`: "all" or nvidia-smi indices, "0,1"."""
    if not available:
        raise SystemExit("--gpus: nvidia-smi lists no GPU on this machine; leave --gpus out for a CPU worker")
    if wanted.strip() == "all":
        return available
    by_index = {gpu.index: gpu for gpu in available}
    try:
        indices = [int(part) for part in wanted.split(",")]
    except ValueError:
        raise SystemExit(f"--gpus takes 'all' or GPU indices such as 0,1; got {wanted!r}") from None
    unknown = [i for i in indices if i not in by_index]
    if unknown or len(set(indices)) != len(indices):
        raise SystemExit(f"--gpus {wanted}: {'unknown' if unknown else 'repeated'} GPU index "
                         f"{', '.join(map(str, unknown or indices))}; this machine has "
                         f"{', '.join(str(g.index) for g in available)}")
    return [by_index[i] for i in indices]


def gpu_queues(gpus: tuple[Gpu, ...] | list[Gpu]) -> list[str]:
    """What a worker seeing these GPUs consumes: `celery`, `gpu` and `gpu-<M>gb` for every memory class all of
    them hold, and with several, `gpu-x<n>` and `gpu-x<n>-<M>gb` for 2 <= n <= their number (a job on fewer GPUs
    than a worker has waits less, and uses only the first n)."""
    classes = sorted(set.intersection(*(set(gpu.memory_classes) for gpu in gpus)))
    queues = [QUEUE]
    for n in range(1, len(gpus) + 1):
        queues += [gpu_queue(n), *(gpu_queue(n, size) for size in classes)]
    return queues


def plan_gpu_workers(gpus: list[Gpu], per_worker: int = 1, queues: list[str] | None = None,
                     name: str | None = None) -> list[WorkerProcess]:
    """One worker process per group of `per_worker` GPUs, in order: `CUDA_VISIBLE_DEVICES` names its group, its
    queues are `queues` or those its GPUs serve, its node name `gpu<i>@%h` (`gpu<i>-<j>` for a group). A `name`
    names the one process as given, or each of several `<name>-gpu<i>@<host>`."""
    if per_worker < 1 or len(gpus) % per_worker:
        raise SystemExit(f"--gpus-per-worker {per_worker} does not divide the {len(gpus)} GPU(s) given "
                         f"({', '.join(str(g.index) for g in gpus)})")
    base, _, host = (name or "gpu@%h").partition("@")
    plan = []
    for start in range(0, len(gpus), per_worker):
        group = tuple(gpus[start:start + per_worker])
        indices = [str(gpu.index) for gpu in group]
        node = f"{base}{'' if base == 'gpu' else '-gpu'}{'-'.join(indices)}@{host or '%h'}"
        if name and len(gpus) == per_worker:
            node = name
        env = {"CUDA_VISIBLE_DEVICES": ",".join(indices), "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
        plan.append(WorkerProcess(node, list(queues or gpu_queues(group)), group, env))
    return plan


def cpu_worker(queues: list[str] | None = None, name: str | None = None) -> WorkerProcess:
    """A worker without --gpus: it trains on the CPU, so it hides the machine's GPUs from itself (a `cpu` job
    then never lands on one), and consumes `celery` and `cpu` unless told otherwise."""
    return WorkerProcess(name or "cpu@%h", list(queues or CPU_QUEUES), (), {"CUDA_VISIBLE_DEVICES": ""})
