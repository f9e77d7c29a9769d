"""The `ganforge` command: `up` (everything, locally), `api`, `worker`."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

from worker.settings import get_settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ganforge", description="Train GANs and serve them over HTTP.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="run Redis (embedded unless GANFORGE_REDIS_URL is set), a worker and the API")
    commands.add_parser("api", help="run the HTTP API against GANFORGE_REDIS_URL")
    worker = commands.add_parser("worker", help="run a Celery training worker against GANFORGE_REDIS_URL")
    worker.add_argument("--name", default=None, help="worker node name (default: gpu-or-cpu@host)")
    worker.add_argument("--concurrency", type=int, default=1, help="training processes (one per GPU)")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    {"up": run_up, "api": run_api, "worker": lambda: run_worker(args.name, args.concurrency)}[args.command]()


def run_api() -> None:
    import uvicorn

    from service.app import create_app

    settings = get_settings()
    settings.require_redis_url()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")


def run_worker(name: str | None, concurrency: int) -> None:
    from worker.tasks import app

    argv = ["worker", "--pool=prefork", f"--concurrency={concurrency}", "--loglevel=INFO", "--without-gossip"]
    if name:
        argv.append(f"--hostname={name}")
    app.worker_main(argv)


def run_up() -> None:
    """Supervises the parts as child processes; any one exiting, Ctrl-C or SIGTERM stops them all."""
    settings = get_settings()
    children: list[tuple[str, subprocess.Popen]] = []
    env = dict(os.environ)
    if not settings.redis_url:
        from service.embedded_redis import start_redis

        redis_process, url = start_redis(settings.data_dir / "redis")
        children.append(("redis", redis_process))
        env["GANFORGE_REDIS_URL"] = url
        print(f"ganforge: embedded Redis at {url} (data in {settings.data_dir / 'redis'})", flush=True)
    me = [sys.executable, "-m", "service.cli"]
    # Each child leads its own process group, so stopping one also stops its own children (Celery's pool).
    children.append(("worker", subprocess.Popen([*me, "worker"], env=env, start_new_session=True)))
    children.append(("api", subprocess.Popen([*me, "api"], env=env, start_new_session=True)))
    print(f"ganforge: API at http://{settings.host}:{settings.port} (docs at /docs); Ctrl-C stops", flush=True)

    stopping = False

    def request_stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    while not stopping and all(p.poll() is None for _, p in children):
        time.sleep(0.2)
    _stop_all(children)


def _stop_all(children: list[tuple[str, subprocess.Popen]], grace_s: float = 10.0) -> None:
    # API and worker first, Redis last, so nothing loses its broker while shutting down.
    for name, process in reversed(children):
        _signal_group(process, signal.SIGTERM)
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            print(f"ganforge: {name} did not stop in {grace_s} s; killing it", flush=True)
            _signal_group(process, signal.SIGKILL)
            process.wait()
        _signal_group(process, signal.SIGKILL)  # leftovers of the group (pool children), if any
    print("ganforge: stopped", flush=True)


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass


if __name__ == "__main__":
    main()
