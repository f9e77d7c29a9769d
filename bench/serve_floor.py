"""What a generate request cannot cost less than: the two floors under the API's CPU per image.

1. The batch's thread. The API's work for a batch of n single-image requests (service.serving.batching with
   service.serving.generation.Generation: a seed's latents each, one forward, a PNG and a Response each) against
   the raw loop's (one forward of n latents, a PNG each), CPU ms per image in one thread, for several n, rounds
   alternating. The API's batches are as large as the requests that wait for them; the raw loop's are 32.
2. HTTP itself. A bare ASGI app (reads the body, answers a fixed 12 kB) under uvicorn with uvloop and httptools, as
   `ganforge api` runs, under the same clients as bench/serve_throughput.py's `--client lean`: the server's CPU per
   request that no application code can remove.

    .venv/bin/python -m bench.serve_floor --threads 1
    .venv/bin/python -m bench.serve_floor --threads 1 --precision float32 --sizes 1,15,32
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import torch

from bench.serve_throughput import LeanUsers, generate_batch, process_cpu_seconds, random_generator
from core.kinds import card_for
from models.gan import GANConfig
from models.sampling import png_bytes
from service.api.schemas import GenerateRequest
from service.cli.embedded_redis import free_port
from service.cli.processes import answers_ok, wait_for
from service.serving.batching import Batcher, _Waiting
from service.serving.generation import Generation
from service.serving.generators import BatchPolicy, LoadedGenerator, module_bytes
from service.serving.precision import choose


def batch_thread(args: argparse.Namespace) -> None:
    gan = GANConfig(arch="dcgan", latent_dim=100, data_shape=(args.channels, args.size, args.size),
                    g_width=args.g_width)
    net, card = random_generator(gan, 0), card_for(gan, [])
    precision = choose(net, card, torch.device("cpu"), args.precision)
    print(f"{args.size} px DCGAN (widths {args.g_width}), served in {precision.name}; CPU ms per image, one thread")
    loaded = LoadedGenerator(card.id, net, card, module_bytes(net), BatchPolicy(64, 0), precision)
    batcher = Batcher(loaded.images, 64, 0, lambda n: None)
    seeds = itertools.count()

    def api(n: int) -> None:
        works = [Generation(card, GenerateRequest(n=1, seed=next(seeds)), 64) for _ in range(n)]
        outcomes = batcher._run_together([_Waiting(w.prepare, w.finish, 1, None) for w in works])
        assert all(error is None for _, error in outcomes)

    forwards = {n: generate_batch(net, gan.latent_dim, n, seeds, precision) for n in args.sizes}

    def raw(n: int) -> None:
        for image in forwards[n]():
            png_bytes(image)

    times: dict[tuple[str, int], list[float]] = {}
    for _ in range(args.rounds):
        for n in args.sizes:
            for name, work in (("raw", raw), ("api", api)):
                work(n)  # warm
                repeats = max(2, 96 // n)
                started = time.thread_time()
                for _ in range(repeats):
                    work(n)
                times.setdefault((name, n), []).append(1000 * (time.thread_time() - started) / (n * repeats))
    raw32 = statistics.median(times[("raw", max(args.sizes))])
    print(f"{'batch':>6} {'raw':>7} {'API':>7} {'API/raw':>8} {'API/raw at ' + str(max(args.sizes)):>14}")
    for n in args.sizes:
        r, a = statistics.median(times[("raw", n)]), statistics.median(times[("api", n)])
        print(f"{n:>6} {r:7.3f} {a:7.3f} {a / r:8.2f} {a / raw32:14.2f}")


BARE_APP = textwrap.dedent("""
    BODY = bytes(12000)

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        message = {"more_body": True}
        while message.get("more_body"):
            message = await receive()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"image/png"), (b"content-length", b"12000")]})
        await send({"type": "http.response.body", "body": BODY})
""")


def http_floor(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as directory:
        Path(directory, "bare_app.py").write_text(BARE_APP)
        port, log = free_port(), Path(directory, "uvicorn.log")
        with open(log, "wb") as out:
            server = subprocess.Popen([sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(port),
                                       "--loop", "uvloop", "--http", "httptools", "--no-access-log",
                                       "--log-level", "warning"], cwd=directory, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: answers_ok(f"http://127.0.0.1:{port}/"), 30, "bare ASGI app", server, log)
            for clients in args.clients:
                per_request = [asyncio.run(_round(port, server.pid, clients, args.seconds))
                               for _ in range(args.rounds)]
                print(f"bare ASGI app under uvicorn, {clients} clients: server CPU "
                      f"{statistics.median(per_request):.3f} ms per request "
                      f"(rounds: {', '.join(f'{x:.3f}' for x in per_request)})")
        finally:
            server.terminate()
            server.wait()


async def _round(port: int, pid: int, clients: int, seconds: float) -> float:
    users = LeanUsers(f"http://127.0.0.1:{port}", clients)
    deadline, count = time.perf_counter() + seconds, 0

    async def user() -> None:
        nonlocal count
        while time.perf_counter() < deadline:
            answer = await users.post("/v1/models/m/generate", json={"n": 1, "seed": count})
            assert answer.status_code == 200
            count += 1

    before = process_cpu_seconds(pid)
    await asyncio.gather(*(user() for _ in range(clients)))
    spent = process_cpu_seconds(pid) - before
    await users.aclose()
    return 1000 * spent / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64, choices=(28, 32, 64))
    parser.add_argument("--channels", type=int, default=3, choices=(1, 3))
    parser.add_argument("--g-width", type=int, default=64)
    parser.add_argument("--precision", default="auto", choices=("auto", "float32"),
                        help="as the API's GANFORGE_SERVE_PRECISION")
    parser.add_argument("--sizes", default="1,8,15,32", help="batch sizes (the last one is the raw loop's)")
    parser.add_argument("--clients", default="8,32")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each HTTP round")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    args.sizes = sorted(int(n) for n in args.sizes.split(","))
    args.clients = [int(n) for n in args.clients.split(",")]
    torch.set_num_threads(args.threads)
    batch_thread(args)
    http_floor(args)


if __name__ == "__main__":
    main()
