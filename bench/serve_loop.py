"""The event loop's CPU per generate request, without HTTP: the API's ASGI app called in this process.

N concurrent callers POST `{"n": 1, "seed": k}` to a model's generate route by calling the app as uvicorn would
(scope, receive, send), with the API's real middleware, a real Redis and the real batcher, for a fixed time. It
prints the event loop's CPU per request (this thread's; the callers' own share is small: a dict and two awaits),
the process's, and the batch size. HTTP parsing is left out: uvicorn with httptools costs about 0.03 ms per request
(bench/serve_floor.py), so what is left is the app's. The garbage of start-up is frozen first, as `ganforge api`
does, and the built-in data sets' warm-up thread is waited out.

Variants of the app are measured in alternating rounds, each with its own generator cache and batcher:
`--drop NAME,...` adds one built without the named middlewares (class names, e.g. RequestContext), to see what they
cost; `--plain-router` adds one without HotRoutes (service/api/direct_route.py), FastAPI's router matching every
request. `--profile N` prints the N functions with the most thread CPU time in the loop (cProfile on
time.thread_time; it slows every call, so read the shares, not the times) for the app as built.

    .venv/bin/python -m bench.serve_loop --threads 1 --plain-router
    .venv/bin/python -m bench.serve_loop --threads 1 --drop FailFastWhileRedisIsDown
    .venv/bin/python -m bench.serve_loop --threads 1 --profile 30
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import itertools
import json
import os
import pstats
import statistics
import tempfile
import time
from contextlib import AsyncExitStack, ExitStack
from pathlib import Path

import torch
import uvloop
from fastapi import FastAPI
from redis import Redis

from bench.serve_throughput import publish_model, redis_server
from core.registry import Registry
from core.store import LocalStore
from models.gan import GANConfig
from service.cli.main import freeze_what_startup_made


def settings_env(redis_url: str, data_dir: Path) -> None:
    """The API's settings as bench/serve_throughput.py gives its API process (rate limit off)."""
    for name in [name for name in os.environ if name.startswith("GANFORGE_")]:
        del os.environ[name]
    os.environ.update(GANFORGE_REDIS_URL=redis_url, GANFORGE_DATA_DIR=str(data_dir),
                      GANFORGE_RATE_LIMIT_GENERATE_PER_MIN="0", GANFORGE_DEVICE="cpu")


def build(drop: set[str] = frozenset(), plain_router: bool = False) -> FastAPI:
    from core.settings import get_settings
    from service.api.app import create_app

    app = create_app(get_settings())
    unknown = drop - {m.cls.__name__ for m in app.user_middleware}
    if unknown:
        raise SystemExit(f"no such middleware: {', '.join(sorted(unknown))}")
    app.user_middleware = [m for m in app.user_middleware if m.cls.__name__ not in drop]
    if plain_router:
        app.build_middleware_stack = FastAPI.build_middleware_stack.__get__(app)  # as FastAPI builds it
    return app


async def call(app: FastAPI, path: str, body: bytes) -> int:
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
             "root_path": "", "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 50000), "state": {},
             "headers": [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json"),
                         (b"content-length", str(len(body)).encode())]}
    sent = False
    status = 0

    async def receive():
        nonlocal sent
        if sent:
            await asyncio.Event().wait()  # a client that stays: only a disconnect would come
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def drive(app: FastAPI, path: str, clients: int, seconds: float, seeds) -> tuple[int, float, float]:
    """Requests answered, loop CPU s and process CPU s over `seconds` of `clients` callers."""
    done = 0
    stop_at = time.perf_counter() + seconds

    async def user():
        nonlocal done
        while time.perf_counter() < stop_at:
            status = await call(app, path, json.dumps({"n": 1, "seed": next(seeds)}).encode())
            if status != 200:
                raise RuntimeError(f"generate answered {status}")
            done += 1

    loop_cpu, process_cpu = time.thread_time(), time.process_time()
    await asyncio.gather(*(user() for _ in range(clients)))
    return done, time.thread_time() - loop_cpu, time.process_time() - process_cpu


async def until_idle(timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        before = time.process_time()
        await asyncio.sleep(0.5)
        if time.process_time() - before < 0.02:
            return


async def measure(variants: dict[str, FastAPI], model_id: str, args: argparse.Namespace) -> None:
    path = f"/v1/models/{model_id}/generate"
    seeds = itertools.count()
    rows: dict[str, list[tuple[int, float, float]]] = {name: [] for name in variants}
    async with AsyncExitStack() as stack:
        for app in variants.values():
            await stack.enter_async_context(app.router.lifespan_context(app))
            await drive(app, path, args.clients, 1.0, seeds)  # loads the model, warms the batcher
        await until_idle()  # the built-in data sets' manifests are computed in a thread at start-up
        freeze_what_startup_made()  # as `ganforge api` does
        for _ in range(args.rounds):
            for name, app in variants.items():
                rows[name].append(await drive(app, path, args.clients, args.seconds, seeds))
        if args.profile:
            profiler = cProfile.Profile(time.thread_time)
            profiler.enable()
            await drive(variants["as built"], path, args.clients, args.seconds, seeds)
            profiler.disable()
    print(f"{args.clients} callers, {args.rounds} rounds of {args.seconds} s for each variant, alternating; "
          f"CPU ms per request, median of rounds")
    for name, app in variants.items():
        loop_ms = [1000 * loop / n for n, loop, _ in rows[name]]
        process_ms = [1000 * process / n for n, _, process in rows[name]]
        images, forwards = _sum_and_count(app.state.metrics.batch_images)
        print(f"{name:>24}: loop {statistics.median(loop_ms):.3f} (rounds: {', '.join(f'{v:.3f}' for v in loop_ms)}), "
              f"process {statistics.median(process_ms):.3f}, "
              f"{statistics.median(n / args.seconds for n, _, _ in rows[name]):.0f} requests/s, "
              f"batch {images / forwards:.1f}")
    if args.profile:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(args.profile)
        print(out.getvalue())


def _sum_and_count(histogram) -> tuple[float, float]:
    """A histogram's sum and count of observations, as a scrape reads them."""
    (metric,) = histogram.collect()
    samples = {sample.name: sample.value for sample in metric.samples}
    return samples[metric.name + "_sum"], samples[metric.name + "_count"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--size", type=int, default=64, choices=(28, 32, 64))
    parser.add_argument("--channels", type=int, default=3, choices=(1, 3))
    parser.add_argument("--drop", default="", help="comma-separated middleware class names: a variant without them")
    parser.add_argument("--plain-router", action="store_true", help="a variant without HotRoutes")
    parser.add_argument("--profile", type=int, default=0, metavar="N")
    args = parser.parse_args()
    drop = {name for name in args.drop.split(",") if name}
    torch.set_num_threads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    gan = GANConfig(arch="dcgan", latent_dim=100, data_shape=(args.channels, args.size, args.size), g_width=64)
    with ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ganforge-loop-bench-")))
        redis_url = stack.enter_context(redis_server(root / "redis"))
        store = LocalStore(root / "data")
        with Redis.from_url(redis_url) as redis:
            model_id = publish_model(gan, store, Registry(redis), 0)
        settings_env(redis_url, root / "data")
        from core import logs

        logs.configure("json", background=True)  # as `ganforge api` logs: a thread writes the lines
        variants = {"as built": build()}
        if drop:
            variants[f"without {', '.join(sorted(drop))}"] = build(drop)
        if args.plain_router:
            variants["without HotRoutes"] = build(plain_router=True)
        uvloop.run(measure(variants, model_id, args))  # uvicorn's loop


if __name__ == "__main__":
    main()
