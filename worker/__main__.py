"""`python -m worker` (what `ganforge worker` runs): a Celery training worker on the CPU (GPUs hidden), or with
--gpus one worker process per GPU (or group of GPUs), each seeing its own."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys

from core.gpus import query_gpus
from core.settings import get_settings
from worker.pools import WorkerProcess


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ganforge worker", description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", default=None)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--queues", default=None)
    parser.add_argument("--gpus", default=None)
    parser.add_argument("--gpus-per-worker", type=int, default=1)
    return parser


def run_worker(name: str | None, concurrency: int, queues: str | None = None, gpus: str | None = None,
               gpus_per_worker: int = 1) -> int | None:
    """Never imports torch before the worker processes exist: the GPUs are read from nvidia-smi (worker.pools)."""
    from worker import pools

    chosen = [q.strip() for q in queues.split(",") if q.strip()] if queues else None
    if gpus is None:
        process = pools.cpu_worker(chosen, name)
        if get_settings().device.startswith("cuda"):  # the operator's explicit word: keep the GPUs visible
            return _run_celery(process.name, process.queues, [get_settings().device], concurrency)
        return _run_celery(process.name, process.queues, process.devices, concurrency, process.env)
    plan = pools.plan_gpu_workers(pools.select_gpus(query_gpus(), gpus), gpus_per_worker, chosen, name)
    if len(plan) == 1:
        return _run_celery(plan[0].name, plan[0].queues, plan[0].devices, 1, plan[0].env)
    return _run_pool(plan)


def _run_celery(name: str, queues: list[str], devices: list[str], concurrency: int,
                env: dict[str, str] | None = None) -> None:
    """One Celery worker in this process. `env` (CUDA_VISIBLE_DEVICES) is set before torch is imported, and the
    pool's processes inherit it."""
    os.environ.update(env or {})
    from core import logs

    logs.configure(get_settings().log_format)
    from worker.tasks import app

    app.conf.ganforge_devices = devices  # for the heartbeat (worker.tasks)
    app.worker_main(["worker", "--pool=prefork", f"--concurrency={concurrency}", "--loglevel=INFO", "--without-gossip",
                     f"--hostname={name}", f"--queues={','.join(queues)}"])


def _run_pool(plan: list[WorkerProcess]) -> int:
    """A `ganforge worker --gpus <its GPUs>` child per planned process, supervised like `ganforge up`'s parts;
    children die with this process (PR_SET_PDEATHSIG: SIGQUIT, Celery's cold shutdown)."""
    from core.supervisor import Part, Supervisor

    def starter(process: WorkerProcess) -> Part:
        argv = [sys.executable, "-m", "worker", "--name", process.name, "--queues",
                ",".join(process.queues), "--gpus", ",".join(str(g.index) for g in process.gpus),
                "--gpus-per-worker", str(len(process.gpus))]
        return Part(process.name, lambda: subprocess.Popen(argv, env={**os.environ, **process.env},
                                                           start_new_session=True, preexec_fn=_die_with_parent))

    for process in plan:
        print(f"ganforge: worker {process.name} on {', '.join(process.devices)} "
              f"(CUDA_VISIBLE_DEVICES={process.env['CUDA_VISIBLE_DEVICES']}), queues {','.join(process.queues)}",
              flush=True)
    supervisor = Supervisor([starter(p) for p in plan], log=lambda line: print(line, flush=True))
    signal.signal(signal.SIGINT, supervisor.stop)
    signal.signal(signal.SIGTERM, supervisor.stop)
    return supervisor.run()


def _die_with_parent() -> None:
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGQUIT)  # PR_SET_PDEATHSIG


if __name__ == "__main__":
    args = build_parser().parse_args()
    sys.exit(run_worker(args.name, args.concurrency, args.queues, args.gpus, args.gpus_per_worker))
