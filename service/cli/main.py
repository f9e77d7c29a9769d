"""The `ganforge` command: `up` (everything, locally), `api`, `worker`, `status`, `keys new`, and the commands
for people at a terminal (service.cli.user_commands: train, jobs, models, generate, augment, evaluate, export,
import)."""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from core.gpus import gpus_here
from core.settings import SCOPES, get_settings
from service.cli import user_commands

if TYPE_CHECKING:
    from fastapi import FastAPI


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ganforge", description="Train GANs and serve them over HTTP. Settings come from GANFORGE_* "
        "environment variables (see docs/configuration.md); `ganforge <command> --help` says what a command does.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=summary, description=summary)

    up = command("up", "Run everything on this machine: Redis (embedded unless GANFORGE_REDIS_URL is set), a "
                       "worker and the API, restarting any that exits. Ctrl-C stops them all.")
    up.add_argument("--host", help="address the API binds (default: GANFORGE_HOST or 127.0.0.1)")
    up.add_argument("--port", type=int, help="the API's port (default: GANFORGE_PORT or 8000)")
    up.add_argument("--data-dir", help="models, data sets and the embedded Redis (default: GANFORGE_DATA_DIR or "
                                       "./ganforge-data)")
    api = command("api", "Run the HTTP API against GANFORGE_REDIS_URL.")
    api.add_argument("--workers", type=_at_least_one, help="API processes serving the port, each with its own "
                                                           "generator cache and batchers; /metrics answers for all "
                                                           "(default: GANFORGE_API_WORKERS or 1)")
    worker = command("worker", "Run a Celery training worker against GANFORGE_REDIS_URL: on the CPU (GPUs hidden), "
                               "or with --gpus one worker process per GPU (or group of GPUs), each seeing its own.")
    worker.add_argument("--name", default=None, help="worker node name (default: cpu@host; with --gpus gpu<i>@host, "
                                                     "or <name>-gpu<i>@host)")
    worker.add_argument("--concurrency", type=int, default=1, help="CPU worker: jobs trained at once (with --gpus, "
                                                                   "each worker process trains one job at a time)")
    worker.add_argument("--queues", default=None, help="comma-separated queues to take jobs from (default: celery,cpu; "
                                                       "with --gpus, those the GPUs' memory serves: celery,gpu,"
                                                       "gpu-16gb,...)")
    worker.add_argument("--gpus", default=None, help="'all' or nvidia-smi indices (0,1): one worker process per GPU, "
                                                     "its CUDA_VISIBLE_DEVICES set to it; restarted if it exits")
    worker.add_argument("--gpus-per-worker", type=int, default=1, help="with --gpus: GPUs per worker process, for "
                                                                       "jobs on several GPUs (train.devices)")
    status = command("status", "Print live workers, the jobs queued (and the broker's messages) and recent jobs, "
                               "from GANFORGE_REDIS_URL, else from the `ganforge up` running on the data dir, else "
                               "(no data dir named) from the one this user started last, wherever it runs.")
    status.add_argument("--limit", type=int, default=20, help="most recent jobs to list")
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    status.add_argument("--data-dir", help="where to look for a running `ganforge up` (default: GANFORGE_DATA_DIR "
                                           "or ./ganforge-data, then the one this user started last)")
    status.add_argument("--this-host", action="store_true", help="only this machine's workers; exit 1 when none "
                                                                 "is alive (a container healthcheck)")
    user_commands.add_commands(commands, command)
    keys = command("keys", "Make API keys.").add_subparsers(dest="keys_command", required=True, metavar="action")
    new = keys.add_parser("new", help="print a fresh API key and the entry that configures it")
    new.add_argument("--scope", choices=SCOPES, required=True)
    new.add_argument("--name", default=None, help="a name for the key, shown in logs (default: <scope>-<random>)")
    return parser


def main(argv: list[str] | None = None) -> None:
    try:
        try:
            code = _run(argv)
        finally:
            sys.stdout.flush()  # here (--help's exit too), so that a reader gone away is caught below, not at exit
    except BrokenPipeError:
        # `ganforge models | head -1`: the reader has what it wanted. Quiet, as the shell's own tools end on SIGPIPE:
        # stdout goes to /dev/null so that Python's flush at exit finds no closed pipe either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 128 + signal.SIGPIPE
    sys.exit(code)


def _run(argv: list[str] | None) -> int | None:
    args = build_parser().parse_args(argv)
    _apply_overrides({"GANFORGE_HOST": getattr(args, "host", None), "GANFORGE_PORT": getattr(args, "port", None),
                      "GANFORGE_DATA_DIR": getattr(args, "data_dir", None),
                      "GANFORGE_API_WORKERS": getattr(args, "workers", None)})
    commands = {
        "up": run_up,
        "api": run_api,
        "worker": lambda: run_worker(_worker_argv(args)),
        "status": lambda: run_status(args.limit, args.json, args.this_host),
        "keys": lambda: run_keys_new(args.scope, args.name),
        **dict.fromkeys(("train", "jobs", "models", "generate", "augment", "evaluate", "export", "import"),
                        lambda: user_commands.run(args)),
    }
    return commands[args.command]()


def _worker_argv(args: argparse.Namespace) -> list[str]:
    argv = ["--concurrency", str(args.concurrency), "--gpus-per-worker", str(args.gpus_per_worker)]
    for flag, value in (("--name", args.name), ("--queues", args.queues), ("--gpus", args.gpus)):
        if value is not None:
            argv += [flag, value]
    return argv


def _at_least_one(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of processes, 1 or more; got {text!r}")
    return int(text)


def _apply_overrides(flags: dict[str, object]) -> None:
    """Command-line flags win over the environment, for this process and the ones it starts."""
    os.environ.update({name: str(value) for name, value in flags.items() if value is not None})
    get_settings.cache_clear()


def run_api() -> None:
    from core import logs
    from service.api.auth import refuse_unsafe_bind

    settings = get_settings()
    settings.require_redis_url()
    auth_mode = refuse_unsafe_bind(settings)  # before the slow imports: a refusal comes at once
    logs.configure(settings.log_format, background=True)
    import uvicorn

    log = logging.getLogger("ganforge.api")
    (log.info if settings.api_keys else log.warning)(auth_mode)
    # An open event stream (a dashboard tab) never ends by itself: on SIGTERM, give requests 5 s, then stop.
    # Keep-alive outlasts a load balancer's idle timeout (60 s is common; uvicorn's default is 5 s), so the server
    # is never the side that closes an idle connection just as a client sends on it: that request gets no answer.
    options = dict(host=settings.host, port=settings.port, log_config=None, access_log=False,
                   timeout_graceful_shutdown=5, timeout_keep_alive=75)
    if settings.api_workers == 1:
        from service.api.app import create_app

        app = create_app(settings)
        freeze_what_startup_made()
        uvicorn.run(app, **options)
        return
    # Each process's torch would take a thread per core, and N processes' OpenMP threads spinning on the same
    # cores slow every forward (docs/benchmarks.md): the processes share the cores, unless OMP_NUM_THREADS is set.
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, _cores() // settings.api_workers)))
    # uvicorn binds the port here and hands the socket to N processes it starts afresh (spawn) and restarts when
    # one dies; each builds its app by calling api_process_app. On SIGTERM it stops them all, then returns.
    with _shared_metrics_dir():
        uvicorn.run("service.cli.main:api_process_app", factory=True, workers=settings.api_workers, **options)


def api_process_app() -> FastAPI:
    """The app of one of `ganforge api --workers N`'s processes: a fresh interpreter, so logging and settings are
    made again, from the environment the parent set."""
    from core import logs
    from service.api.app import create_app

    settings = get_settings()
    logs.configure(settings.log_format, background=True)
    app = create_app(settings)
    freeze_what_startup_made()
    return app


def freeze_what_startup_made() -> None:
    """The imports and the app, about 235,000 objects that live as long as the API, are moved out of the cyclic
    collector's sight, so that a full collection under load scans only what requests made. Each one scanned them
    all: 170-185 ms with the event loop and the batch thread stopped, every 8 s or so at 32 clients, which every
    request in flight waited out (docs/benchmarks.md, issue 33). Garbage is collected first, so none is frozen."""
    gc.collect()
    gc.freeze()


def _cores() -> int:
    """The CPU cores this process may run on (a container's cpuset, where there is one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@contextmanager
def _shared_metrics_dir() -> Iterator[None]:
    """Where the API processes keep their metrics for each other (prometheus_client's multiprocess mode, which a
    process enters when PROMETHEUS_MULTIPROC_DIR is set as it starts): the operator's, else a fresh directory for
    this run, removed when it ends (files left by an earlier run would count again)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
        yield
        return
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="ganforge-api-metrics-")
    try:
        yield
    finally:
        shutil.rmtree(os.environ.pop("PROMETHEUS_MULTIPROC_DIR"), ignore_errors=True)


def run_keys_new(scope: str, name: str | None) -> None:
    from service.api.auth import hash_key, new_key

    key = new_key()
    name = name or f"{scope}-{secrets.token_hex(3)}"
    entry = {"name": name, "sha256": hash_key(key), "scope": scope}
    print(f"key (give it to the client; it is shown only now): {key}")
    print(f"entry for GANFORGE_API_KEYS (a JSON list of such entries): {json.dumps(entry)}")
    print(f"for example: export GANFORGE_API_KEYS='{json.dumps([entry])}'")


def run_status(limit: int, as_json: bool, this_host: bool = False) -> int:
    from core.presence import alive_workers
    from core.queues import queue_depths, queued_jobs
    from core.redis_connection import connect
    from core.registry import Registry
    from service.cli.local_stack import data_dir_chosen, read_state, runtime_dir

    settings = get_settings()
    anywhere = not data_dir_chosen()
    redis_url = settings.redis_url or (read_state(settings.data_dir, anywhere) or {}).get("redis_url")
    if not redis_url:
        raise SystemExit(f"ganforge status: GANFORGE_REDIS_URL is not set and no `ganforge up` runs on "
                         f"{settings.data_dir}" + (f" or is recorded in {runtime_dir()}" if anywhere else "") +
                         " (pass --data-dir to look elsewhere)")
    redis = connect(redis_url, settings.redis_sentinel_password, socket_timeout=5, socket_connect_timeout=5)
    registry = Registry(redis)
    everyone = alive_workers(redis)
    workers = [w for w in everyone if w["host"] == socket.gethostname()] if this_host else everyone
    waiting = queued_jobs(registry)
    report = {
        "workers": workers,
        "jobs_queued": sum(waiting.values()),  # the registry's queued jobs: the live work
        "jobs_queued_by_queue": waiting,
        "broker_messages": queue_depths(redis, everyone),  # more: reference tasks, cancelled jobs' tasks
        "jobs_by_status": registry.count_by_status(),
        "jobs": registry.list_jobs(limit) if limit > 0 else [],
    }
    if as_json:
        print(json.dumps(report, indent=2))
        return 1 if this_host and not workers else 0
    print(f"workers alive: {len(report['workers'])}")
    for w in report["workers"]:
        print(f"  {w['name']:<32} pid {w['pid']:<8} up since {w['started_at']}  queues "
              f"{','.join(w.get('queues') or ['?'])}  on {'; '.join(w.get('devices') or ['?'])}  "
              f"{'running ' + w['current_job'] if w.get('current_job') else 'idle'}")
    print(_queue_line(report, {q for w in everyone for q in w.get("queues") or ["celery"]}))
    print("jobs: " + ", ".join(f"{k} {v}" for k, v in report["jobs_by_status"].items()))
    if report["jobs"]:
        print(user_commands.jobs_table(report["jobs"], attempts=True))
    return 1 if this_host and not workers else 0


def _queue_line(report: dict, taken: set[str]) -> str:
    """'jobs queued: 1 (celery 1); broker messages: 3 (celery 3)', naming a queue no live worker takes."""
    def listed(counts: dict[str, int], note: bool = False) -> str:
        shown = [f"{name} {n}" + (" (no live worker takes it)" if note and name not in taken else "")
                 for name, n in counts.items() if n]
        return f" ({', '.join(shown)})" if shown else ""

    messages = report["broker_messages"]
    return (f"jobs queued: {report['jobs_queued']}{listed(report['jobs_queued_by_queue'], True)}; "
            f"broker messages: {sum(messages.values())}{listed(messages)}")


def run_worker(argv: list[str]) -> None:
    """The worker is its own program (`python -m worker`): this process becomes it, so that the API's command line
    never loads the job runner."""
    os.execv(sys.executable, [sys.executable, "-m", "worker", *argv])


def run_up() -> int:
    """Runs Redis (embedded unless configured), a worker and the API as supervised child processes: one that
    exits is restarted with back-off; Ctrl-C or SIGTERM stops them all. Exits 1 when a part keeps failing."""
    from core.supervisor import Part, Supervisor
    from service.api.auth import refuse_unsafe_bind
    from service.cli.local_stack import clear_state, write_state
    settings = get_settings()
    refuse_unsafe_bind(settings)  # at once, rather than an API child that exits and is restarted in vain
    env = dict(os.environ)
    parts: list[Part] = []
    if not settings.redis_url:
        from service.cli.embedded_redis import free_port, start_redis

        redis_dir, port = settings.data_dir / "redis", free_port()
        parts.append(Part("redis", lambda: start_redis(redis_dir, port)[0]))  # the same port after a restart
        env["GANFORGE_REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        print(f"ganforge: embedded Redis at {env['GANFORGE_REDIS_URL']} (data in {redis_dir})", flush=True)
    me, worker = [sys.executable, "-m", "service.cli"], [sys.executable, "-m", "worker"]
    # Each child leads its own process group, so stopping one also stops its own children (Celery's pool).
    # A CPU worker, for jobs that ask for the CPU; and a worker per GPU when there are GPUs (read from nvidia-smi,
    # never torch: this process starts the workers).
    parts.append(Part("worker", lambda: subprocess.Popen(worker, env=env, start_new_session=True)))
    if gpus_here():
        parts.append(Part("gpu-workers", lambda: subprocess.Popen([*worker, "--gpus", "all"], env=env,
                                                                  start_new_session=True)))
    parts.append(Part("api", lambda: subprocess.Popen([*me, "api"], env=env, start_new_session=True)))
    api_url = f"http://{settings.host}:{settings.port}"
    print(f"ganforge: dashboard at {api_url}/ui/, API docs at {api_url}/docs; Ctrl-C stops", flush=True)
    supervisor = Supervisor(parts, log=lambda line: print(line, flush=True))
    signal.signal(signal.SIGINT, supervisor.stop)
    signal.signal(signal.SIGTERM, supervisor.stop)
    write_state(settings.data_dir, env.get("GANFORGE_REDIS_URL") or settings.redis_url, api_url)
    try:
        return supervisor.run()
    finally:
        clear_state(settings.data_dir)


if __name__ == "__main__":
    main()
