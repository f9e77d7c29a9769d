"""Many Server-Sent Event streams on one key, against a real API process and Redis: how many Redis connections
they use, whether every stream gets every event, and how /healthz answers meanwhile (against the same API with
no stream open, measured in the same run).

    .venv/bin/python bench/event_streams.py --streams 1000 --events 20

Prints one line per phase and a last line `healthz p99 with/without streams: X`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from redis import Redis

from core.registry import Registry
from service.cli.processes import env_for, start_api, stop


def _quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q * 100) - 1] if len(values) > 1 else values[0]


async def healthz_latencies(http: httpx.AsyncClient, count: int) -> list[float]:
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        assert (await http.get("/healthz")).status_code == 200
        latencies.append(time.perf_counter() - started)
        await asyncio.sleep(0.01)
    return latencies


async def read_events(response: httpx.Response, lines, wanted: int) -> int:
    got = 0
    async for line in lines:
        if line.startswith("data: "):
            got += 1
            if got == wanted:
                return got
    return got


async def run(url: str, redis_url: str, streams: int, events: int) -> None:
    limits = httpx.Limits(max_connections=streams + 20, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:
        quiet = await healthz_latencies(http, 200)
        with Redis.from_url(redis_url) as redis:
            before = redis.info("clients")["connected_clients"]
            started = time.perf_counter()
            opened = []
            for chunk in range(0, streams, 100):  # in waves, as browsers would arrive
                opened += await asyncio.gather(*(_open(http) for _ in range(min(100, streams - chunk))))
            print(f"opened {len(opened)} streams in {time.perf_counter() - started:.1f} s; statuses "
                  f"{sorted({r.status_code for r, _ in opened})}")
            during_open = redis.info("clients")["connected_clients"] - before
            print(f"redis connections added by {streams} streams: {during_open}")
            key = Registry(redis).status_changes_key
            readers = [asyncio.create_task(read_events(r, lines, events)) for r, lines in opened]
            busy = asyncio.create_task(healthz_latencies(http, 200))
            sent = time.perf_counter()
            for number in range(events):
                redis.xadd(key, {"job": f"bench_{number}", "status": "queued"}, maxlen=10_000, approximate=True)
                await asyncio.sleep(0.05)
            done, pending = await asyncio.wait(readers, timeout=120)
            for task in pending:
                task.cancel()
            counts = [task.result() if task in done else -1 for task in readers]
            delivered = time.perf_counter() - sent
            loaded = await busy
            print(f"events delivered: {sum(counts)} of {streams * events} "
                  f"({sum(c == events for c in counts)} streams got all {events}) in {delivered:.1f} s")
        for response, _ in opened:
            await response.aclose()
    p99_quiet, p99_loaded = _quantile(quiet, 0.99), _quantile(loaded, 0.99)
    print(f"healthz p50/p99 without streams: {statistics.median(quiet) * 1000:.1f} / {p99_quiet * 1000:.1f} ms")
    print(f"healthz p50/p99 with {streams} streams: {statistics.median(loaded) * 1000:.1f} / "
          f"{p99_loaded * 1000:.1f} ms")
    print(f"healthz p99 with/without streams: {p99_loaded / p99_quiet:.2f}")


async def _open(http: httpx.AsyncClient):
    response = await http.send(http.build_request("GET", "/v1/events?after=$",
                                                  headers={"Accept": "text/event-stream"}), stream=True)
    lines = response.aiter_lines()
    if response.status_code == 200:
        await anext(lines)  # retry:
    return response, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--events", type=int, default=20)
    args = parser.parse_args()
    from service.cli.embedded_redis import start_redis
    with tempfile.TemporaryDirectory() as directory:
        redis_process, redis_url = start_redis(Path(directory))
        api, url = start_api(env_for(redis_url, Path(directory) / "data"), Path(directory) / "api.log")
        try:
            asyncio.run(run(url, redis_url, args.streams, args.events))
        finally:
            stop(api)
            stop(redis_process)


if __name__ == "__main__":
    main()
