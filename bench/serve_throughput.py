"""Serving throughput: POST /v1/models/{id}/generate under N concurrent clients vs the raw generator.

The raw figure is the same generator in this process: batched forward passes plus one PNG encode per
image, nothing else. The HTTP figure runs a real API process (uvicorn, `python -m service.cli api`)
against a real Redis (with --api-workers 1,2: an API for each number of processes, all measured in each
round), and N asyncio clients, each with an httpx.AsyncClient of its own, POST `{"n": 1, "seed": k}` with a fresh k
in a loop for a fixed time. Raw and HTTP rounds alternate so machine noise hits both; figures are
medians over rounds, latencies are pooled over rounds, and the ratio compares each HTTP round with the
raw rounds either side of it. The clients and the server share this machine's CPU
cores, so the HTTP figure pays for the clients too; the CPU time each process spends per request
(against the raw loop's per image) says where the cores went.

No training: the generator has seeded random weights; the forward pass costs the same whatever it learnt.

From the repository root, as a module (so that it finds the process helpers in service/cli/processes.py):

    .venv/bin/python -m bench.serve_throughput                          # 64x64x3 DCGAN
    .venv/bin/python -m bench.serve_throughput --size 28 --channels 1   # the MNIST one
    .venv/bin/python -m bench.serve_throughput --quick                  # smoke run
    .venv/bin/python -m bench.serve_throughput --clients 32 --threads 1 --api-workers 1,2   # 1 vs 2 API processes
    .venv/bin/python -m bench.serve_throughput --clients 1,32 --threads 1 --litserve   # beside LitServe (installed)
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import httpx
import torch
from redis import Redis

from core.artifacts import load_published_generator, publish_generator
from core.card import ModelCard
from core.kinds import card_for
from core.registry import Registry
from core.store import ArtifactStore, LocalStore
from models.gan import GANConfig, build_generator
from models.sampling import generate, latents_for_seed, png_bytes
from service.cli.embedded_redis import start_redis
from service.cli.processes import start_api, stop
from service.serving.precision import ServingPrecision
from service.serving.precision import choose as choose_precision

ROUTE = "/v1/models/{model_id}/generate"  # the route template the API's metrics are labelled with


# -- the model ------------------------------------------------------------------------------------

def random_generator(gan: GANConfig, seed: int) -> torch.nn.Module:
    """Seeded random weights, the output layer scaled so that images use the whole pixel range as a
    trained model's do. At init they are almost flat grey, which PNG squeezes to a quarter; scaled,
    they are noisier than a trained model's and barely compress (PNG cost errs on the high side)."""
    torch.manual_seed(seed)
    generator = build_generator(gan).eval()
    layers = generator.backbone.net
    with torch.no_grad():
        probe = layers[:-1](torch.randn(64, gan.latent_dim)[:, :, None, None])  # everything but the Tanh
        layers[-2].weight.div_(probe.std())
    return generator


def publish_model(gan: GANConfig, store: ArtifactStore, registry: Registry, seed: int) -> str:
    """Stores and registers a model as a finished training job would; returns its id."""
    card = card_for(gan, [], note=f"bench/serve_throughput.py: random weights (seed {seed}), untrained")
    publish_generator(store, random_generator(gan, seed), card.to_json())
    registry.register_model(card)
    return card.id


# -- the processes --------------------------------------------------------------------------------

@contextmanager
def redis_server(directory: Path):
    process, url = start_redis(directory)
    try:
        yield url
    finally:
        stop(process)


@dataclass(frozen=True)
class Api:
    url: str
    pid: int  # with several workers, uvicorn's supervisor: the workers are its children
    workers: int = 1
    name: str = "GANForge"
    path: str | None = None  # where a single-image request goes (None: the model's generate route)

    @property
    def label(self) -> str:
        return self.name if self.name != "GANForge" else f"GANForge, {self.workers} API process(es)"


@contextmanager
def api_server(redis_url: str, data_dir: Path, threads: int, device: str, extra_env: dict[str, str], log: Path,
               workers: int = 1):
    """`python -m service.cli api --workers <workers>` in its own process group, `threads` torch threads in each
    of its processes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GANFORGE_")}
    env.update(GANFORGE_REDIS_URL=redis_url, GANFORGE_DATA_DIR=str(data_dir), GANFORGE_RATE_LIMIT_GENERATE_PER_MIN="0",
               GANFORGE_DEVICE=device, OMP_NUM_THREADS=str(threads), PYTHONUNBUFFERED="1",
               GANFORGE_API_WORKERS=str(workers))
    env.update(extra_env)
    process, url = start_api(env, log)
    try:
        yield Api(url, process.pid, workers)
    finally:
        stop(process)


# -- the measurements -----------------------------------------------------------------------------

@dataclass
class RawRound:
    images: int
    seconds: float
    cpu_seconds: float  # this process's CPU time, all its threads

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds


def raw_round(forward: Callable[[], torch.Tensor], seconds: float) -> RawRound:
    """One batched forward after another (`forward()`: uint8 NCHW images), then one PNG per image, for about
    `seconds`."""
    images, started, cpu = 0, time.perf_counter(), time.process_time()
    while images == 0 or time.perf_counter() - started < seconds:
        batch = forward()
        for image in batch:
            png_bytes(image)
        images += len(batch)
    return RawRound(images, time.perf_counter() - started, time.process_time() - cpu)


def generate_batch(generator: torch.nn.Module, latent_dim: int, batch: int, seeds,
                   precision: ServingPrecision) -> Callable[[], torch.Tensor]:
    """The raw loop's forward for a sampler: `batch` images from latents of a fresh seed each time, in the
    precision the API serves the model in (its weights cast once where the API casts them once)."""
    device = next(generator.parameters()).device
    served = precision.served_net(generator)

    def forward() -> torch.Tensor:
        with precision.autocast(device):
            return generate(served, latents_for_seed(batch, latent_dim, next(seeds)))
    return forward


@dataclass
class HttpRound:
    images: int
    seconds: float
    latencies: list[float]
    server: dict[str, float | None]  # what the API's /metrics counted during the round
    api_cpu_seconds: float | None
    api_loop_cpu_seconds: float | None  # the API processes' main threads: their event loops
    client_cpu_seconds: float
    api_cpu_by_process: dict[int, float] = field(default_factory=dict)  # pid: its share of api_cpu_seconds

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds


Send = Callable[[], Awaitable["httpx.Response | Answer"]]  # makes one single-image request


async def http_round(client: Users, api: Api, send: Send, clients: int, seconds: float,
                     route: str = ROUTE) -> HttpRound:
    """`clients` tasks, each sending one single-image request (`send()`) after another until the time is
    up. The round ends when the last answer arrives, so requests still in flight at the deadline count.
    `route`: the route template the API labels the requests' metrics with."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def one_client() -> None:
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            response = await send()
            latencies.append(time.perf_counter() - sent)
            _check(response)

    before = await server_counters(client, route)
    loop_cpu = process_cpu_seconds(api.pid, main_threads=True)
    api_before, client_cpu, started = cpu_by_process(api.pid), time.process_time(), time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(clients)))
    elapsed, client_cpu = time.perf_counter() - started, time.process_time() - client_cpu
    api_after = cpu_by_process(api.pid)
    loop_cpu = _minus(process_cpu_seconds(api.pid, main_threads=True), loop_cpu)
    after = await server_counters(client, route)
    server = {k: _minus(after[k], before[k]) for k in before}
    if api_before is None or api_after is None:
        return HttpRound(len(latencies), elapsed, latencies, server, None, loop_cpu, client_cpu)
    by_process = {pid: api_after[pid] - seconds for pid, seconds in api_before.items() if pid in api_after}
    return HttpRound(len(latencies), elapsed, latencies, server, sum(by_process.values()), loop_cpu, client_cpu,
                     by_process)


def process_cpu_seconds(pid: int, main_threads: bool = False) -> float | None:
    """User + system CPU time of a process and of its live descendants (an API's worker processes), all their
    threads (Linux /proc; None elsewhere). Per request, it says where the cores went: the generator's share is
    the raw loop's CPU per image. `main_threads`: only each process's main thread, an API process's event loop,
    which runs the HTTP work holding the GIL: one process can give it one core at most."""
    tree = cpu_by_process(pid, main_threads)
    return None if tree is None else sum(tree.values())


def cpu_by_process(pid: int, main_threads: bool = False) -> dict[int, float] | None:
    """process_cpu_seconds for the process and each live descendant apart, by pid."""
    stats = _proc_stats(main_threads)
    if pid not in stats:
        return None
    family, seconds = {pid}, {}
    while family:
        member = family.pop()
        seconds[member] = stats[member][1]
        family |= {child for child, (parent, _) in stats.items() if parent == member}
    return seconds


def _proc_stats(main_threads: bool) -> dict[int, tuple[int, float]]:
    """Every process's (parent pid, user + system CPU seconds: all its threads', or its main thread's), from
    /proc."""
    stats = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = entry / "task" / entry.name / "stat" if main_threads else entry / "stat"
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):  # not a process, or gone
            continue
        stats[int(entry.name)] = int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return stats


def wait_until_idle(pid: int, timeout_s: float = 30) -> None:
    """The API keeps working for a while after it answers /healthz (it describes the built-in data
    sets in a background thread): that would slow the first raw round."""
    deadline = time.monotonic() + timeout_s
    before = process_cpu_seconds(pid)
    while before is not None and time.monotonic() < deadline:
        time.sleep(0.25)
        now = process_cpu_seconds(pid)
        if now is None or now - before < 0.02:
            return
        before = now


def _minus(after: float | None, before: float | None) -> float | None:
    return None if after is None or before is None else after - before


def _check(response: httpx.Response | Answer) -> None:
    if response.status_code != 200 or response.headers.get("content-type") != "image/png":
        raise RuntimeError(f"answered {response.status_code} {response.headers.get('content-type')}: "
                           f"{response.text[:500]}")


async def server_counters(client: Users, route: str = ROUTE) -> dict[str, float | None]:
    """The API's own running totals. Seconds spent in the route (its duration histogram's sum): what the
    client's latency adds to it is the client, the loopback and uvicorn before the app. Images and
    forwards of its batchers (absent before dynamic batching): their ratio is the batch size."""
    text = (await client.get("/metrics")).text
    return {"route_seconds": _sample(text, "ganforge_http_request_duration_seconds_sum", f'route="{route}"'),
            "batched_images": _sample(text, "ganforge_generation_batch_images_sum"),
            "batches": _sample(text, "ganforge_generation_batch_images_count")}


def _sample(text: str, name: str, label: str = "") -> float | None:
    for line in text.splitlines():
        if line.startswith(name) and line[len(name)] in " {" and label in line:
            return float(line.rsplit(" ", 1)[1])
    return None


@dataclass
class Results:
    raw: list[RawRound] = field(default_factory=list)
    http: dict[int, list[HttpRound]] = field(default_factory=dict)


async def measure(apis: list[Api], model_id: str, store: ArtifactStore, gan: GANConfig,
                  args: argparse.Namespace) -> list[Results]:
    """Results for each API, measured in the same rounds."""
    generator, card = load_published_generator(store, model_id, args.device)
    path = f"/v1/models/{model_id}/generate"
    seeds = itertools.count(1)  # every request and raw batch its own seed, as distinct users would send
    precision = choose_precision(generator, ModelCard.model_validate(card), torch.device(args.device),
                                 args.api_env.get("GANFORGE_SERVE_PRECISION", "auto"))
    print(f"the raw loop and GANForge's API serve in {precision.name} ({precision.reason})", flush=True)
    forward = generate_batch(generator, gan.latent_dim, args.batch, seeds, precision)

    def sender(api: Api, client: Users) -> Send:
        return lambda: client.post(api.path or path, json={"n": 1, "seed": next(seeds)})

    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(http_client(api, args.clients, args.client == "lean"))
                   for api in apis]
        targets = [Target(api, client, sender(api, client)) for api, client in zip(apis, clients, strict=True)]
        return await alternate_apis(targets, forward, args, ROUTE)


class Users:
    """N independent users, each an httpx.AsyncClient with one connection, lent to whichever task sends next; the
    same few serve a round with fewer tasks, so their connections stay open. One AsyncClient with N connections would
    be cheaper to write and dearer to run: httpcore's pool rescans every connection for every request (in
    `_assign_requests_to_connections`, a scan per connection), so the bench's own CPU per request grew with N
    (1.5 ms at 8, 3.5 ms at 32 on two cores) and took the cores the API was being measured on."""

    def __init__(self, base_url: str, users: int):
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        self._all = [httpx.AsyncClient(base_url=base_url, limits=limits, timeout=120) for _ in range(users)]
        self._free = list(self._all)

    async def post(self, *args, **kwargs) -> httpx.Response:
        return await self._send("POST", *args, **kwargs)

    async def get(self, *args, **kwargs) -> httpx.Response:
        return await self._send("GET", *args, **kwargs)

    async def _send(self, method: str, *args, **kwargs) -> httpx.Response:
        client = self._free.pop()
        try:
            return await client.request(method, *args, **kwargs)
        finally:
            self._free.append(client)

    async def aclose(self) -> None:
        for client in self._all:
            await client.aclose()


@dataclass
class Answer:
    status_code: int
    headers: dict[str, str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class LeanUsers:
    """N users as in `Users`, each one keep-alive HTTP/1.1 connection written and read by hand (`--client lean`):
    a request costs this process a tenth of what httpx's does (about 0.1 against 1 ms of CPU), so on a machine where
    the clients share the API's cores, they leave it the CPU that httpx's clients take. It reads only what these
    routes answer (a Content-Length body); GETs go through httpx."""

    def __init__(self, base_url: str, users: int):
        self._httpx = Users(base_url, 1)
        self._address = httpx.URL(base_url)
        self._free: list[tuple[asyncio.StreamReader, asyncio.StreamWriter] | None] = [None] * users
        self._open: list[asyncio.StreamWriter] = []

    async def post(self, path: str, json: dict) -> Answer:
        connection = self._free.pop()
        try:
            for fresh in (connection is None, True):  # a kept-alive connection the server has closed: once more
                if fresh:
                    connection = await asyncio.open_connection(self._address.host, self._address.port)
                    self._open.append(connection[1])
                try:
                    return await self._exchange(*connection, path, _json_bytes(json))
                except (asyncio.IncompleteReadError, ConnectionError):
                    if fresh:
                        raise
        finally:
            self._free.append(connection)

    async def get(self, *args, **kwargs) -> httpx.Response:
        return await self._httpx.get(*args, **kwargs)

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str,
                        body: bytes) -> Answer:
        writer.write(f"POST {path} HTTP/1.1\r\nHost: {self._address.host}:{self._address.port}\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = dict(line.split(": ", 1) for line in head[1:] if line)
        headers = {name.lower(): value for name, value in headers.items()}
        if "content-length" not in headers:
            raise RuntimeError(f"{path}: an answer without Content-Length ({head[0]}); use --client httpx")
        return Answer(int(head[0].split(" ", 2)[1]), headers, await reader.readexactly(int(headers["content-length"])))

    async def aclose(self) -> None:
        for writer in self._open:
            writer.close()
        await self._httpx.aclose()


def _json_bytes(value: dict) -> bytes:
    return json.dumps(value).encode()


@asynccontextmanager
async def http_client(api: Api, clients: list[int], lean: bool = False):
    """Users enough for the most tasks of any round (and one more for /metrics)."""
    users = (LeanUsers if lean else Users)(api.url, max(clients) + 1)
    try:
        yield users
    finally:
        await users.aclose()


@dataclass(frozen=True)
class Target:
    """An API under test, the client that reaches it, and how to send it one single-image request."""
    api: Api
    client: Users
    send: Send


async def alternate(client: Users, api: Api, forward: Callable[[], torch.Tensor], send: Send,
                    args: argparse.Namespace, route: str) -> Results:
    """alternate_apis for one API."""
    return (await alternate_apis([Target(api, client, send)], forward, args, route))[0]


async def alternate_apis(targets: list[Target], forward: Callable[[], torch.Tensor], args: argparse.Namespace,
                         route: str) -> list[Results]:
    """Warm-up, then `args.rounds` rounds of a raw round (`forward` in this process) followed by an HTTP round
    (each target's `send`) for each target and each number of clients in `args.clients`, and one raw round more
    at the end, so that every HTTP round has a raw round on either side. The targets' results share the raw
    rounds."""
    raw_rounds: list[RawRound] = []
    results = [Results(raw_rounds, {n: [] for n in args.clients}) for _ in targets]
    several = len(targets) > 1

    def raw(seconds: float) -> RawRound:
        return raw_round(forward, seconds)

    # Warm-up: the first request loads the model into the API's cache (each process's); then each N once, which
    # opens every connection and lets the CPU kernels meet the batch sizes each N makes (the first forward of a
    # new shape pays a one-off setup).
    warm_up_s = max(0.5, args.seconds / 4)
    for target in targets:
        wait_until_idle(target.api.pid)
    raw(warm_up_s)
    for target in targets:
        _check(await target.send())
        for n in args.clients:
            await http_round(target.client, target.api, target.send, n, warm_up_s, route)
    servers = [target.api.pid for target in targets]
    for r in range(args.rounds):
        with paused(servers):
            raw_rounds.append(raw(args.seconds))
        print(f"round {r + 1}/{args.rounds}: raw {raw_rounds[-1].images_per_s:.0f} images/s", end="", flush=True)
        for target, result in zip(targets, results, strict=True):
            with paused([pid for pid in servers if pid != target.api.pid]):
                for n in args.clients:
                    result.http[n].append(await http_round(target.client, target.api, target.send, n,
                                                           args.seconds, route))
                    label = f"{target.api.label}: " if several else ""
                    print(f", {label}N={n} {result.http[n][-1].images_per_s:.0f}", end="", flush=True)
        print(f"   (load average {load_average()})", flush=True)
    with paused(servers):
        raw_rounds.append(raw(args.seconds))
    print(f"raw once more, after the last round: {raw_rounds[-1].images_per_s:.0f} images/s", flush=True)
    if args.profile:  # a round of its own: the sampler's own cost stays out of the measured rounds
        target = targets[-1]
        with flame_graph(target.api.pid, args.profile, args.native):
            await http_round(target.client, target.api, target.send, max(args.clients), args.seconds, route)
        print(f"flame graph of the API ({target.api.label}) at N={max(args.clients)}: "
              f"{args.profile}", flush=True)
    return results


@contextmanager
def paused(servers: list[int]):
    """The servers' process groups stopped (SIGSTOP) while the block runs: a server waiting for its turn takes no
    CPU from the one measured (LitServe's workers poll their queues, about a sixth of a core when idle)."""
    for pid in servers:
        os.killpg(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in servers:
            os.killpg(pid, signal.SIGCONT)


@contextmanager
def flame_graph(pid: int, path: Path, native: bool = False):
    """py-spy samples the API process and its worker processes (all their threads, idle ones left out) while the
    block runs. A `.txt` path gets the collapsed stacks, each under its thread, to count a thread's samples by
    function (the event loop's, say); any other path an SVG. `native`: C frames too (uvloop's, torch's)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    path.parent.mkdir(parents=True, exist_ok=True)
    collapsed = ["--format", "raw", "--threads"] if path.suffix == ".txt" else []
    process = subprocess.Popen([spy, "record", "--pid", str(pid), "--subprocesses", "--output", str(path),
                                "--rate", "250", *collapsed, *(["--native"] if native else [])],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # attached before the load starts
    try:
        yield
    finally:
        process.send_signal(signal.SIGINT)  # py-spy writes the SVG on SIGINT
        process.wait(60)


# -- the report -----------------------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def report(apis: list[Api], results: list[Results], args: argparse.Namespace, png_size: int) -> None:
    raw_rounds = results[0].raw
    raw = statistics.median(r.images_per_s for r in raw_rounds)
    raw_cpu_ms = 1000 * sum(r.cpu_seconds for r in raw_rounds) / sum(r.images for r in raw_rounds)
    print()
    print(f"generator: dcgan {args.channels}x{args.size}x{args.size}, nz 100, g_width {args.g_width}, on "
          f"{args.device}; PNG about {png_size} bytes; torch {torch.__version__}; {args.threads} torch thread(s) "
          f"in each API process (OMP_NUM_THREADS) and in the raw loop; {os.cpu_count()} CPU cores, shared by the "
          f"API, the clients and the raw loop" + "".join(f"; {k}={v}" for k, v in args.api_env.items()))
    print(f"raw: batch {args.batch}, {raw:.0f} images/s, {raw_cpu_ms:.2f} CPU ms per image (rounds: "
          f"{', '.join(f'{r.images_per_s:.0f}' for r in raw_rounds)})")
    print(f"HTTP: POST {{\"n\": 1, \"seed\": k}}, {args.seconds:g} s per round, {args.rounds} round(s)")
    for api, result in zip(apis, results, strict=True):
        if len(apis) > 1:
            print(f"\n{api.label} (API cpu: all its processes together)")
        table(result)
    ours = [(api, result) for api, result in zip(apis, results, strict=True) if api.name == "GANForge"]
    if len(ours) > 1:
        print()
        scaling(*map(list, zip(*ours, strict=True)))
    for peer, result in zip(apis, results, strict=True):
        if peer.name != "GANForge":
            print()
            side_by_side(ours[0], (peer, result))


def side_by_side(ours: tuple[Api, Results], peer: tuple[Api, Results]) -> None:
    """GANForge's images/s over the peer's, round by round (they ran back to back), and the CPU each spent per
    image."""
    (api, mine), (other, theirs) = ours, peer
    for n, rounds in mine.http.items():
        ratios = [a.images_per_s / b.images_per_s for a, b in zip(rounds, theirs.http[n], strict=True)]
        cpu = [_per(r, lambda x: x.api_cpu_seconds, lambda x: x.images / 1000) for r in (rounds, theirs.http[n])]
        print(f"{api.label} over {other.label}, N={n}: images/s x{statistics.median(ratios):.2f} (rounds: "
              f"{', '.join(f'{x:.2f}' for x in ratios)}); server CPU ms per image {cpu[0]} against {cpu[1]}")


def scaling(apis: list[Api], results: list[Results]) -> None:
    """Each API's images/s over the first one's, round by round: rounds run back to back, so that what else the
    machine does weighs on both alike. And how its busiest processes (its workers) shared its CPU in each round:
    they race to accept each new connection, and a connection stays with the process that took it."""
    for api, result in zip(apis[1:], results[1:], strict=True):
        for n, rounds in result.http.items():
            ratios = [mine.images_per_s / base.images_per_s
                      for mine, base in zip(rounds, results[0].http[n], strict=True)]
            print(f"{api.workers} API processes over {apis[0].workers}, N={n}: images/s x"
                  f"{statistics.median(ratios):.2f} (rounds: {', '.join(f'{x:.2f}' for x in ratios)}); "
                  f"CPU % of each of its {api.workers} busiest processes: "
                  f"{', '.join(_shares(r.api_cpu_by_process, api.workers) for r in rounds)}")


def _shares(cpu: dict[int, float], processes: int) -> str:
    busiest = sorted(cpu.values(), reverse=True)[:processes]
    return "/".join(f"{100 * x / sum(cpu.values()):.0f}" for x in busiest) if sum(cpu.values()) else "n/a"


def table(results: Results, tails: tuple[int, ...] = (99,)) -> None:
    """A row per number of clients, the ratio at the most clients, and what the columns mean. `tails`: the
    latency percentiles shown beside the median."""
    print(f"{'clients':>7} {'images/s':>9} {'x raw':>6} {'p50 ms':>7} " + "".join(f"{f'p{q} ms':>7} " for q in tails)
          + f"{'server ms':>9} {'batch':>5} {'API cpu':>7} {'loop cpu':>8} {'API cores':>9} {'client cpu':>10}  rounds")
    for n, rounds in results.http.items():
        rate = statistics.median(r.images_per_s for r in rounds)
        ratio = statistics.median(round_ratios(results, n))
        latencies = [x for r in rounds for x in r.latencies]
        server_ms = _per(rounds, lambda r: r.server["route_seconds"], lambda r: r.images / 1000)
        batch = _per(rounds, lambda r: r.server["batched_images"], lambda r: r.server["batches"])
        api_cpu = _per(rounds, lambda r: r.api_cpu_seconds, lambda r: r.images / 1000)
        loop_cpu = _per(rounds, lambda r: r.api_loop_cpu_seconds, lambda r: r.images / 1000)
        api_cores = _per(rounds, lambda r: r.api_cpu_seconds, lambda r: r.seconds)
        client_cpu = _per(rounds, lambda r: r.client_cpu_seconds, lambda r: r.images / 1000)
        print(f"{n:>7} {rate:>9.0f} {ratio:>6.2f} {percentile(latencies, 50) * 1000:>7.1f} "
              + "".join(f"{percentile(latencies, q) * 1000:>7.1f} " for q in tails)
              + f"{server_ms:>9} {batch:>5} {api_cpu:>7} {loop_cpu:>8} {api_cores:>9} {client_cpu:>10}  "
              f"{', '.join(f'{r.images_per_s:.0f}' for r in rounds)}")
    top = max(results.http)
    ratios = round_ratios(results, top)
    print(f"ratio HTTP(N={top}) / raw: {statistics.median(ratios):.3f} "
          f"(rounds: {', '.join(f'{x:.2f}' for x in ratios)})")
    api_cpu = _per(results.http[top], lambda r: r.api_cpu_seconds, lambda r: r.images / 1000)  # ms per image
    raw_cpu = 1000 * sum(r.cpu_seconds for r in results.raw) / sum(r.images for r in results.raw)
    if api_cpu != "n/a":
        print(f"API CPU per image at N={top} over the raw loop's: {float(api_cpu) / raw_cpu:.2f} "
              f"({api_cpu} against {raw_cpu:.2f} ms)")
    print("x raw: each HTTP round over the raw rounds either side of it, median of rounds. server ms: the API's "
          "own mean duration per request (its /metrics histogram), waits inside it included; the rest of the "
          "latency is the client, the loopback and uvicorn before the app. batch: mean images per generator "
          "forward in the API. API cpu, client cpu: CPU ms per request of the API process (all its processes) and of "
          "this one; compare with the raw loop's CPU ms per image. loop cpu: the part of API cpu in the API "
          "processes' main threads (event loops; one core per process at most). API cores: API cpu per second.")


def round_ratios(results: Results, clients: int) -> list[float]:
    """Each round's HTTP figure over the mean of the raw rounds just before and just after it: when
    another process takes the cores halfway through, the ratio of neighbours stays meaningful where
    a ratio of medians would not."""
    return [http.images_per_s / statistics.mean(r.images_per_s for r in results.raw[i:i + 2])
            for i, http in enumerate(results.http[clients])]


def _per(rounds: list[HttpRound], numerator, denominator) -> str:
    """numerator(round) summed over the rounds over denominator(round) summed likewise; n/a when the
    API does not report it."""
    above, below = [numerator(r) for r in rounds], [denominator(r) for r in rounds]
    if any(x is None for x in above + below) or not sum(below):
        return "n/a"
    return f"{sum(above) / sum(below):.2f}"


def load_average() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


# -- main -----------------------------------------------------------------------------------------

def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64, choices=(28, 32, 64), help="image side")
    parser.add_argument("--channels", type=int, default=3, choices=(1, 3))
    parser.add_argument("--g-width", type=int, default=64, help="channels of G's last hidden layer (ngf)")
    add_round_options(parser, "generator")
    parser.add_argument("--api-workers", default="1", help="comma-separated numbers of API processes (`ganforge api "
                        "--workers`): one API for each, all measured in every round, e.g. 1,2")
    parser.add_argument("--litserve", action="store_true",
                        help="also serve the generator with LitServe (bench/litserve_peer.py; install it first) and "
                             "measure both in every round")
    parser.add_argument("--client", choices=("httpx", "lean"), default="httpx",
                        help="the clients' HTTP: httpx, or requests written and read by hand (LeanUsers), which "
                             "leave the API the CPU that httpx takes")
    parser.add_argument("--litserve-batch-timeout", type=float, default=0.005, metavar="SECONDS",
                        help="LitServe's batch_timeout: how long its worker waits to fill a batch (at 0 it polls "
                             "its queue without pause and spins a core)")
    args = round_options(parser.parse_args())
    args.api_workers = sorted({int(n) for n in args.api_workers.split(",")})
    return args


def add_round_options(parser: argparse.ArgumentParser, net: str) -> None:
    """The options of a serving bench's rounds, clients and API process."""
    parser.add_argument("--clients", default="1,8,32", help="comma-separated numbers of concurrent clients")
    parser.add_argument("--batch", type=int, default=32, help="batch of the raw forward passes")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="torch threads in the API and in the raw loop (default: torch's, one per core)")
    parser.add_argument("--device", default="cpu", help=f"where the API and the raw loop run the {net}")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    parser.add_argument("--api-env", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for the API process, e.g. GANFORGE_BATCH_WAIT_MS=0 (repeatable)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: one short round")
    parser.add_argument("--profile", type=Path, metavar="PATH",
                        help="after the rounds, one more round at the most clients under py-spy: its flame graph "
                             "(SVG), or for a .txt path its collapsed stacks by thread")
    parser.add_argument("--native", action="store_true", help="with --profile: C frames too (py-spy --native)")


def round_options(args: argparse.Namespace) -> argparse.Namespace:
    """add_round_options's values parsed: client counts as a sorted list, the API's settings as a dict."""
    args.clients = sorted({int(n) for n in args.clients.split(",")})
    args.api_env = dict(item.split("=", 1) for item in args.api_env)
    if args.quick:
        args.rounds, args.seconds = 1, 0.5
    return args


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    gan = GANConfig(arch="dcgan", latent_dim=100, data_shape=(args.channels, args.size, args.size),
                    g_width=args.g_width)
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {load_average()}", flush=True)
    with ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ganforge-serve-bench-")))
        redis_url = stack.enter_context(redis_server(root / "redis"))
        store = LocalStore(root / "data")
        redis = stack.enter_context(Redis.from_url(redis_url))
        model_id = publish_model(gan, store, Registry(redis), args.seed)
        apis = [stack.enter_context(api_server(redis_url, store.root, args.threads, args.device, args.api_env,
                                               root / f"api-{workers}.log", workers))
                for workers in args.api_workers]
        if args.litserve:  # imported here: LitServe is installed for this bench only
            from bench.litserve_peer import PATH as LITSERVE_PATH
            from bench.litserve_peer import litserve_server
            url, pid = stack.enter_context(litserve_server(store.root, model_id, gan.latent_dim, args.threads,
                                                           args.batch, args.litserve_batch_timeout,
                                                           root / "litserve.log"))
            apis.append(Api(url, pid, name=f"LitServe {version('litserve')}", path=LITSERVE_PATH))
        results = asyncio.run(measure(apis, model_id, store, gan, args))
        png_size = len(png_bytes(generate(load_published_generator(store, model_id)[0],
                                          latents_for_seed(1, gan.latent_dim, 1))[0]))
    report(apis, results, args, png_size)
    print(f"load average at the end {load_average()}")


if __name__ == "__main__":
    main()
