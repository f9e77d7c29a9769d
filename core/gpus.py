"""This machine's GPUs, read from `nvidia-smi` and never from torch: the processes that start workers must not touch
CUDA (field notes: a parent that initialised CUDA leaves forked children unable to)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

from core.queues import MEMORY_CLASSES_GB

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
