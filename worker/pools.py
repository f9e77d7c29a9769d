"""Worker pools: which GPUs a machine has, which queues they can serve, and the worker processes that
`ganforge worker --gpus` starts, one per GPU (or per group of GPUs), each seeing only its own.

All of it runs in the parent before any worker process starts, so it never touches CUDA: the GPUs are read from
`nvidia-smi`, never torch (field notes: a parent that initialised CUDA leaves forked children unable to)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field

from worker.queue import CPU_QUEUES, MEMORY_CLASSES_GB, QUEUE, gpu_queue

# A card sold as N GB reports a little less than N GiB (a 24 GB L4: 22.5 GiB; a 16 GB T4: 15 GiB), so a GPU
# counts as a class when it reports at least this share of it.
MEMORY_CLASS_SLACK = 0.9
NVIDIA_SMI_QUERY = ["nvidia-smi", "--query-gpu=index,name,memory.total", "--format=csv,noheader,nounits"]


@dataclass(frozen=True)
class Gpu:
    index: int  # nvidia-smi's (PCI bus order; the workers set CUDA_DEVICE_ORDER=PCI_BUS_ID to match)
    name: str
    memory_mib: int

    @property
    def label(self) -> str:
        return f"cuda:{self.index} ({self.name}, {round(self.memory_mib / 1024)} GB)"

    @property
    def memory_classes(self) -> list[int]:
        return [size for size in MEMORY_CLASSES_GB if self.memory_mib >= size * 1024 * MEMORY_CLASS_SLACK]


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


def parse_nvidia_smi(text: str) -> list[Gpu]:
    """The GPUs in the output of NVIDIA_SMI_QUERY (`0, NVIDIA H100 80GB HBM3, 81559` per line)."""
    gpus = []
    for line in text.strip().splitlines():
        index, rest = line.split(",", 1)
        name, memory = (part.strip() for part in rest.rsplit(",", 1))
        # "[N/A]" where the driver does not say (some MIG or unified-memory set-ups): no memory class then.
        gpus.append(Gpu(int(index), name, int(float(memory)) if memory.replace(".", "").isdigit() else 0))
    return gpus


def query_gpus() -> list[Gpu]:
    """This machine's GPUs, from nvidia-smi; raises SystemExit saying why when it cannot tell."""
    try:
        result = subprocess.run(NVIDIA_SMI_QUERY, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise SystemExit("--gpus: nvidia-smi is not on PATH, so no GPU can be found (is the NVIDIA driver "
                         "installed, and the container given GPUs?); leave --gpus out for a CPU worker") from None
    if result.returncode != 0:
        raise SystemExit(f"--gpus: nvidia-smi failed ({result.returncode}): {result.stderr.strip()}")
    return parse_nvidia_smi(result.stdout)


def gpus_here() -> list[Gpu]:
    """This machine's GPUs; none when nvidia-smi is missing or fails."""
    try:
        return query_gpus()
    except SystemExit:
        return []


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
