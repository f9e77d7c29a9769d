"""Serving throughput: POST /v1/models/{id}/translate under N concurrent clients vs the raw translator.

bench/serve_throughput.py's measurement for the image-to-image route, with its rounds, processes and
table. The raw figure is the same translator in this process: models.sampling.translate over batches of
the inputs plus one PNG encode per output, nothing else. The HTTP figure runs a real API process (uvicorn,
`python -m service.cli api`) against a real Redis, and N asyncio clients, each with an httpx.AsyncClient of its
own, POST one input image in a loop for a fixed time: a multipart `file` (a PNG, encoded once before the rounds, a
different input each request), `format=png`, the answer one PNG. On top of the raw work the API receives the
upload (held in memory), parses the form, decodes the PNG and brings it to the model's input shape, and batches
concurrent requests into one forward. Raw and HTTP rounds alternate so machine noise hits both; figures are medians
over rounds, latencies are pooled over rounds, and the ratio compares each HTTP round with the raw rounds
either side of it. The clients and the server share this machine's CPU cores, so the HTTP figure pays for
the clients too; the CPU time each process spends per request (against the raw loop's per image) says
where the cores went.

No training: the translator has seeded random weights (the networks a training job with the defaults
builds for the built-in data set); the forward pass costs the same whatever it learnt. The inputs are the
built-in data set's real A images (B for --direction b2a).

From the repository root, as a module (so that it finds the process helpers in service/cli/processes.py):

    .venv/bin/python -m bench.translate_throughput                    # pix2pix on edges-digits, 28x28x1
    .venv/bin/python -m bench.translate_throughput --arch cyclegan    # digits-stripes, a2b
    .venv/bin/python -m bench.translate_throughput --arch srgan       # digits-14to28: 14x14 in, 28x28 out
    .venv/bin/python -m bench.translate_throughput --quick            # smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import tempfile
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import torch
from redis import Redis
from torch import nn

from bench.serve_throughput import (
    Api,
    Results,
    add_round_options,
    alternate,
    api_server,
    http_client,
    load_average,
    redis_server,
    round_options,
    table,
)
from core.artifacts import load_published_generator, publish_generator
from core.kinds import card_for
from core.registry import Registry
from core.spec import JobSpec, ModelSpec, gan_config
from core.store import ArtifactStore, LocalStore
from models.data import TwoDomainDataset, load_builtin
from models.gan import FAMILIES, GANConfig, build_generator
from models.sampling import png_bytes, translate

ROUTE = "/v1/models/{model_id}/translate"  # the route template the API's metrics are labelled with
# Each family on the built-in data set it is made for (docs/models.md): all 28x28 gray digits.
BUILTIN = {"pix2pix": "edges-digits", "cyclegan": "digits-stripes", "srgan": "digits-14to28"}
INPUTS = 1024  # distinct input images, cycled through by the raw batches and the requests alike


# -- the model ------------------------------------------------------------------------------------

def translator_config(arch: str, dataset: TwoDomainDataset, g_width: int | None, blocks: int | None) -> GANConfig:
    """The networks a training job with the defaults (the family's recipe for 28 px) builds for the data set."""
    spec = JobSpec(dataset=dataset.name, model=ModelSpec(arch=arch, g_width=g_width, blocks=blocks))
    return gan_config(spec, dataset.shape, dataset.classes, dataset.source_shape)


def random_translator(gan: GANConfig, probes: dict[str, torch.Tensor], seed: int) -> nn.Module:
    """Seeded random weights, each output conv (the one before a Tanh) scaled so that the images use the whole
    pixel range as a trained model's do, as bench/serve_throughput.py does for a sampler. `probes`: uint8
    inputs for each direction, to measure the spread before the Tanh."""
    torch.manual_seed(seed)
    net = build_generator(gan).eval()
    outputs = [m[-2] for m in net.modules() if isinstance(m, nn.Sequential) and len(m) > 1
               and isinstance(m[-1], nn.Tanh) and isinstance(m[-2], nn.Conv2d | nn.ConvTranspose2d)]
    spread: dict[nn.Module, list[torch.Tensor]] = {conv: [] for conv in outputs}
    hooks = [conv.register_forward_hook(lambda conv, _, out: spread[conv].append(out.flatten()))
             for conv in outputs]
    with torch.no_grad():
        for direction, images in probes.items():
            net(images.float().div(127.5).sub(1), direction)
        for hook in hooks:
            hook.remove()
        for conv, values in spread.items():
            if values:  # a direction that is not benchmarked keeps its init
                std = torch.cat(values).std()
                conv.weight.div_(std)
                if conv.bias is not None:
                    conv.bias.div_(std)
    return net


def publish_model(gan: GANConfig, classes, probes: dict[str, torch.Tensor], store: ArtifactStore,
                  registry: Registry, seed: int) -> str:
    """Stores and registers a translator as a finished training job would; returns its id."""
    card = card_for(gan, classes,
                           note=f"bench/translate_throughput.py: random weights (seed {seed}), untrained")
    publish_generator(store, random_translator(gan, probes, seed), card.to_json())
    registry.register_model(card)
    return card.id


# -- the measurements -----------------------------------------------------------------------------

async def measure(api: Api, model_id: str, store: ArtifactStore, inputs: torch.Tensor, pngs: list[bytes],
                  args: argparse.Namespace) -> Results:
    net, _ = load_published_generator(store, model_id, args.device)
    path = f"/v1/models/{model_id}/translate"
    starts = itertools.count(0, args.batch)  # the raw batches walk through the inputs
    requests = itertools.count()  # and so do the requests: each its own input, as distinct users would send
    form = {"direction": args.direction, "format": "png"}

    def forward() -> torch.Tensor:
        start = next(starts) % len(inputs)
        batch = inputs[start:start + args.batch]
        if len(batch) < args.batch:  # wrap around the end
            batch = torch.cat([batch, inputs[:args.batch - len(batch)]])
        return translate(net, batch, args.direction, batch_size=args.batch)

    async with http_client(api, args.clients) as client:
        def send():
            blob = pngs[next(requests) % len(pngs)]
            return client.post(path, files={"file": ("input.png", blob, "image/png")}, data=form)

        return await alternate(client, api, forward, send, args, ROUTE)


# -- the report -----------------------------------------------------------------------------------

def report(results: Results, args: argparse.Namespace, gan: GANConfig, parameters: int, input_png: int,
           output_png: int) -> None:
    raw = statistics.median(r.images_per_s for r in results.raw)
    raw_cpu_ms = 1000 * sum(r.cpu_seconds for r in results.raw) / sum(r.images for r in results.raw)
    source, target = (gan.source_shape, gan.data_shape) if args.direction == "a2b" else \
        (gan.data_shape, gan.source_shape)
    blocks = f", blocks {gan.blocks}" if gan.blocks else ""
    print()
    print(f"translator: {gan.arch} {args.direction} {'x'.join(map(str, source))} -> {'x'.join(map(str, target))} "
          f"({BUILTIN[gan.arch]}), g_width {gan.g_width}{blocks}, {parameters:,} parameters in G({args.direction}), "
          f"on {args.device}; "
          f"input PNG about {input_png} bytes, output PNG about {output_png} bytes; torch {torch.__version__}; "
          f"{args.threads} torch thread(s) in the API (OMP_NUM_THREADS) and in the raw loop; {os.cpu_count()} CPU "
          f"cores, shared by the API, the clients and the raw loop" +
          "".join(f"; {k}={v}" for k, v in args.api_env.items()))
    print(f"raw: batch {args.batch}, {raw:.0f} images/s, {raw_cpu_ms:.2f} CPU ms per image (rounds: "
          f"{', '.join(f'{r.images_per_s:.0f}' for r in results.raw)})")
    print(f"HTTP: POST multipart file=<one PNG>, direction={args.direction}, format=png, {args.seconds:g} s per "
          f"round, {args.rounds} round(s)")
    table(results, tails=(95, 99))


# -- main -----------------------------------------------------------------------------------------

def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="pix2pix", choices=tuple(BUILTIN),
                        help="the family, on its built-in data set: " +
                             ", ".join(f"{a} on {d}" for a, d in BUILTIN.items()))
    parser.add_argument("--direction", default="a2b", choices=("a2b", "b2a"), help="b2a: cyclegan only")
    parser.add_argument("--g-width", type=int, help="channels of G's first/last hidden layer (default: the "
                                                    "family's recipe for 28 px, as a training job's)")
    parser.add_argument("--blocks", type=int, help="residual blocks, cyclegan and srgan (default: the recipe's)")
    add_round_options(parser, "translator")
    args = parser.parse_args()
    family = FAMILIES[args.arch]
    if args.direction not in family.directions:
        parser.error(f"{args.arch} translates {' and '.join(family.directions)} only")
    if args.blocks is not None and "blocks" not in family.model_options:
        parser.error(f"--blocks applies to {', '.join(n for n, f in FAMILIES.items() if 'blocks' in f.model_options)}")
    return round_options(args)


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {load_average()}", flush=True)
    dataset = load_builtin(BUILTIN[args.arch])
    gan = translator_config(args.arch, dataset, args.g_width, args.blocks)
    inputs = (dataset.a if args.direction == "a2b" else dataset.b)[:INPUTS].contiguous()
    pngs = [png_bytes(image) for image in inputs]
    with ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ganforge-translate-bench-")))
        redis_url = stack.enter_context(redis_server(root / "redis"))
        store = LocalStore(root / "data")
        redis = stack.enter_context(Redis.from_url(redis_url))
        model_id = publish_model(gan, dataset.classes, {args.direction: inputs[:64]}, store, Registry(redis),
                                 args.seed)
        api = stack.enter_context(api_server(redis_url, store.root, args.threads, args.device, args.api_env,
                                             root / "api.log"))
        results = asyncio.run(measure(api, model_id, store, inputs, pngs, args))
        net = load_published_generator(store, model_id)[0]
        outputs = translate(net, inputs[:64], args.direction)
        parameters = sum(p.numel() for p in getattr(net, args.direction, net).parameters())  # cyclegan: one G
    input_png = round(statistics.mean(len(blob) for blob in pngs))
    output_png = round(statistics.mean(len(png_bytes(image)) for image in outputs))
    report(results, args, gan, parameters, input_png, output_png)
    print(f"load average at the end {load_average()}")


if __name__ == "__main__":
    main()
