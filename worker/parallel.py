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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from models.distributed import Ranks, join, leave

# A child's exit code when its group broke under it (another rank died): the lead decides what that means.
GROUP_BROKEN = 75
READY = b"ready to join\n"  # a child's first line, once it has built its data set and nets
_BROKEN_WORDS = ("Connection", "connection", "Timed out", "timed out", "NCCL", "Broken pipe", "gloo", "TCPStore")


class RankLost(ConnectionError):
    """A rank died or stopped answering: transient (worker.jobs.is_transient), the job resumes from its
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
    """CPU threads for each rank: the threads configured for a training process (else the machine's cores),
    shared out, since the N ranks of a job run side by side."""
    return max(1, (configured or os.cpu_count() or 1) // world)


def is_group_failure(exc: BaseException) -> bool:
    """Whether an error is the group's (a rank gone, a connection broken, a collective timed out), as opposed to
    the job's own (bad data, out of memory), which would only happen again on a retry."""
    return isinstance(exc, RuntimeError) and any(word in str(exc) for word in _BROKEN_WORDS)


@dataclass
class _Child:
    rank: int
    process: subprocess.Popen
    log: tempfile._TemporaryFileWrapper

    def tail(self) -> str:
        self.log.seek(0)
        lines = self.log.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else ""

    def ready(self) -> bool:
        self.log.seek(0)
        return READY in self.log.read()


class RankGroup:
    """The lead's view of its group: starts the other ranks and tells how they ended."""

    def __init__(self, job: dict, world: int, device: torch.device, timeout_s: float, threads: int):
        self.world, self.port, self.children = world, _free_port(), []
        order = {"job": {"id": job["id"], "spec": job["spec"]}, "world": world, "port": self.port,
                 "device": str(device), "timeout_s": timeout_s, "threads": threads, "lead": os.getpid()}
        try:
            for rank in range(1, world):
                self.children.append(self._start(rank, order))
        except BaseException:
            self.close(grace_s=0)
            raise

    @staticmethod
    def _start(rank: int, order: dict) -> _Child:
        log = tempfile.TemporaryFile()
        process = subprocess.Popen([sys.executable, "-m", "worker.parallel", str(rank)], stdin=subprocess.PIPE,
                                   stdout=log, stderr=subprocess.STDOUT)
        process.stdin.write(json.dumps(order).encode())
        process.stdin.close()
        return _Child(rank, process, log)

    def wait_ready(self, timeout_s: float) -> None:
        """Returns once every rank has built its data set and nets and is about to join. A rank that fails
        before that fails the job with its error at once, rather than leaving the lead waiting to join."""
        deadline = time.monotonic() + timeout_s
        waiting = list(self.children)
        while waiting:
            for child in list(waiting):
                if child.ready():
                    waiting.remove(child)
                elif child.process.poll() is not None:
                    raise self.lost(RuntimeError(f"rank {child.rank} exited before joining"))
            if time.monotonic() > deadline:
                raise RankLost(f"ranks {[c.rank for c in waiting]} were not ready in {timeout_s:g} s")
            time.sleep(0.05)

    @property
    def pids(self) -> list[int]:
        return [child.process.pid for child in self.children]

    def lost(self, exc: BaseException) -> BaseException:
        """What an error of the lead's means: a rank that ended is named (a killed one, or one whose own error the
        lead re-raises, since retrying would not help); a broken group is transient; any other error is the
        lead's own, raised as it is."""
        if not is_group_failure(exc) and all(c.process.poll() is None for c in self.children):
            return exc
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

    @contextmanager
    def failures_told(self) -> Iterator[None]:
        """Raises what an error inside means for the job (lost): transient when a rank went, else the error."""
        try:
            yield
        except RuntimeError as exc:
            told = self.lost(exc)
            if told is exc:
                raise
            raise told from exc

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


def _die_with_lead(lead_pid: int) -> None:
    """The kernel kills this rank when its lead's thread ends (Linux); a lead gone already ends it now."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # elsewhere, a broken group still ends the rank at its next collective
    if os.getppid() != lead_pid:
        sys.exit(GROUP_BROKEN)


def _follow(rank: int, order: dict) -> None:
    """A rank other than the lead: the same data and nets as the lead's, its state, its share of every batch."""
    from core.settings import get_settings
    from core.spec import JobSpec
    from core.store import open_store
    from worker.job_setup import prepare_training

    torch.set_num_threads(order["threads"])
    device = rank_device(torch.device(order["device"]), rank, order["world"])
    if device.type == "cuda":
        torch.cuda.set_device(device)
    settings = get_settings()
    spec = JobSpec.model_validate(order["job"]["spec"])
    dataset, _, trainer = prepare_training(spec, open_store(settings), device)
    sys.stdout.buffer.write(READY)
    sys.stdout.flush()
    trainer.distribute(join(rank, order["world"], "127.0.0.1", order["port"], device, order["timeout_s"]))
    trainer.share_state()
    labels = dataset.labels if trainer.needs_labels else None
    trainer.fit(dataset.data, labels)


def main() -> None:
    rank, order = int(sys.argv[1]), json.loads(sys.stdin.read())
    _die_with_lead(order["lead"])
    try:
        _follow(rank, order)
    except Exception as exc:  # noqa: BLE001
        if is_group_failure(exc):
            sys.exit(GROUP_BROKEN)
        traceback.print_exc()
        print(f"{type(exc).__name__}: {exc}", flush=True)
        sys.exit(1)
    finally:
        leave()


if __name__ == "__main__":
    main()
