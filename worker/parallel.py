"""A job on several devices of one worker (`train.devices` N > 1), torchrun style: the task's own process is rank
0, the lead (it holds the lease, reports progress, writes samples and checkpoints); ranks 1 .. N-1 are child
processes of it, `python -m worker.parallel`, which build the same data set and nets, take the lead's state over
the group's connections and train their share of every batch (models.distributed).

A rank that dies breaks its connections, so the others' next collective fails at once: the lead then stops the
rest and the job resumes from its last checkpoint, as after any transient failure. Children also die with the
lead (PR_SET_PDEATHSIG), so a killed worker leaves no rank behind."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass

import torch

from models.distributed import Ranks, join, leave

# A child's exit code when its group broke under it (another rank died): the lead decides what that means.
GROUP_BROKEN = 75


class RankLost(ConnectionError):
    """A rank died or stopped answering: transient (worker.training.is_transient), the job resumes from its
    last checkpoint."""


def rank_device(device: torch.device, rank: int, world: int, needs_gpu: bool = False) -> torch.device:
    """Rank r trains on the r-th visible GPU; on the CPU, every rank is a process of its own. A job that may run
    anywhere (resources.device any) takes N CPU processes on a worker with fewer than N GPUs."""
    if device.type != "cuda":
        return device
    if torch.cuda.device_count() < world:
        if not needs_gpu:
            return torch.device("cpu")
        raise ValueError(f"train.devices is {world}, and this worker sees {torch.cuda.device_count()} GPU(s): "
                         f"the job's queue (gpu-x{world}) is for workers with {world}")
    return torch.device("cuda", rank)


def threads_per_rank(configured: int, world: int) -> int:
    """CPU threads for each rank: the configured number, else the machine's cores shared out."""
    return configured or max(1, (os.cpu_count() or 1) // world)


@dataclass
class _Child:
    rank: int
    process: subprocess.Popen
    log: tempfile._TemporaryFileWrapper

    def tail(self) -> str:
        self.log.seek(0)
        lines = self.log.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else ""


class RankGroup:
    """The lead's view of its group: starts the other ranks and tells how they ended."""

    def __init__(self, job: dict, world: int, device: torch.device, timeout_s: float, threads: int):
        self.world, self.port = world, _free_port()
        order = {"job": {"id": job["id"], "spec": job["spec"]}, "world": world, "port": self.port,
                 "device": str(device), "timeout_s": timeout_s, "threads": threads}
        self.children = [self._start(rank, order) for rank in range(1, world)]

    @staticmethod
    def _start(rank: int, order: dict) -> _Child:
        log = tempfile.TemporaryFile()
        process = subprocess.Popen([sys.executable, "-m", "worker.parallel", str(rank)], stdin=subprocess.PIPE,
                                   stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        process.stdin.write(json.dumps(order).encode())
        process.stdin.close()
        return _Child(rank, process, log)

    @property
    def pids(self) -> list[int]:
        return [child.process.pid for child in self.children]

    def lost(self, exc: BaseException) -> BaseException:
        """What a failed collective means: a rank that ended is named (a killed one, or one whose own error the
        lead re-raises, since retrying would not help); else the group timed out on a hung rank."""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and all(c.process.poll() is None for c in self.children):
            time.sleep(0.05)
        for child in self.children:
            code = child.process.poll()
            if code not in (None, 0, GROUP_BROKEN):
                if code > 0:
                    return RuntimeError(f"rank {child.rank} failed: {child.tail()}")
                return RankLost(f"rank {child.rank} was killed ({signal.Signals(-code).name}); the job resumes from "
                                "its last checkpoint")
        return RankLost(f"a rank stopped answering ({exc}); the job resumes from its last checkpoint")

    def close(self, grace_s: float = 10) -> None:
        """Waits for the ranks to finish (they end with the lead's last collective), then ends any left."""
        deadline = time.monotonic() + grace_s
        for child in self.children:
            try:
                child.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()
            child.log.close()


def lead(group: RankGroup, device: torch.device, timeout_s: float) -> Ranks:
    return join(0, group.world, "127.0.0.1", group.port, device, timeout_s)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _die_with_parent() -> None:
    """Runs in the child before exec: the kernel kills it when the lead's thread ends (Linux)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # elsewhere, a broken group still ends the child at its next collective


def _follow(rank: int, order: dict) -> None:
    """A rank other than the lead: the same data and nets as the lead's, its state, its share of every batch."""
    from worker.settings import get_settings
    from worker.store import open_store
    from worker.training import prepare_training

    torch.set_num_threads(order["threads"])
    device = rank_device(torch.device(order["device"]), rank, order["world"])
    if device.type == "cuda":
        torch.cuda.set_device(device)
    settings = get_settings()
    dataset, _, trainer = prepare_training(order["job"], open_store(settings), device)
    trainer.distribute(join(rank, order["world"], "127.0.0.1", order["port"], device, order["timeout_s"]))
    trainer.share_state()
    labels = dataset.labels if trainer.needs_labels else None
    trainer.fit(dataset.data, labels)


def main() -> None:
    rank, order = int(sys.argv[1]), json.loads(sys.stdin.read())
    try:
        _follow(rank, order)
    except Exception as exc:  # noqa: BLE001
        broken = isinstance(exc, RuntimeError) and any(
            word in str(exc) for word in ("Connection", "Timed out", "timed out", "NCCL", "Broken pipe"))
        if broken:
            sys.exit(GROUP_BROKEN)
        traceback.print_exc()
        print(f"{type(exc).__name__}: {exc}", flush=True)
        sys.exit(1)
    finally:
        leave()


if __name__ == "__main__":
    main()
