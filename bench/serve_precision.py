"""Which precision and memory layout serve a generator fastest here, and how far its images move with them.

For DCGAN generators (seeded random weights, scaled as bench/serve_throughput.py scales them) at each --sizes: the
serving work per image (a batched forward of --batch images, then one PNG each) in float32, float32 + channels_last,
bfloat16 autocast and bfloat16 autocast + channels_last (the conv weights cast to bf16 once and, on a CPU, the
transposed convolutions' weights prepacked for oneDNN, as the API serves them), rounds alternating: this process's
CPU time on a CPU, wall time on a GPU (--device cuda). Beside each setting, how far its uint8 images lie from
float32's (mean and largest difference, in 0-255 levels). `--record` writes the fastest setting per size into
models/speed_table.json as a serving row ("task": "serve"), which the API's `serve_precision: auto` reads; a setting
that changes the images must be 20 % faster than float32 to be chosen.

    .venv/bin/python -m bench.serve_precision --threads 1
    .venv/bin/python -m bench.serve_precision --threads 1 --record
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from contextlib import nullcontext
from datetime import UTC, datetime

import torch

from bench.serve_throughput import random_generator
from models.gan import GANConfig
from models.sampling import latents_for_seed, png_bytes, to_uint8
from models.speed_table import DTYPES, SERVE_MARGIN, describe_machine, device_class, net_key, record, setting_name
from service.serving.precision import ServingPrecision

SETTINGS = (("off", False), ("off", True), ("bf16", False), ("bf16", True))


def images(net: torch.nn.Module, latents: torch.Tensor, amp: str) -> torch.Tensor:
    autocast = torch.autocast(latents.device.type, dtype=torch.bfloat16) if amp == "bf16" else nullcontext()
    with torch.inference_mode(), autocast:
        return to_uint8(net(latents).float()).cpu()


def ms_per_image(net: torch.nn.Module, latents: torch.Tensor, amp: str, seconds: float) -> float:
    """On a CPU, this process's CPU time per image; on a GPU, wall time (the copy back waits for the forward)."""
    clock = time.process_time if latents.device.type == "cpu" else time.perf_counter
    count, started = 0, clock()
    while count == 0 or clock() - started < seconds:
        for image in images(net, latents, amp):
            png_bytes(image)
        count += len(latents)
    return 1000 * (clock() - started) / count


def measure(size: int, channels: int, args: argparse.Namespace) -> dict:
    gan = GANConfig(arch="dcgan", latent_dim=100, data_shape=(channels, size, size), g_width=args.g_width)
    plain = random_generator(gan, 0).to(args.device)
    layouts = {False: plain, True: copy.deepcopy(plain).to(memory_format=torch.channels_last)}
    prepacked = torch.device(args.device).type == "cpu"  # as the API serves where its probe allows
    nets = {(amp, layout): ServingPrecision(DTYPES[amp], layout, cast_once=True, prepacked=prepacked).served_net(
        layouts[layout]) for amp, layout in SETTINGS}
    latents = latents_for_seed(args.batch, gan.latent_dim, 1).to(args.device)
    reference = images(plain, latents, "off")
    timings: dict[str, list[float]] = {setting_name(*s): [] for s in SETTINGS}
    for amp, layout in SETTINGS:  # warm-up: each shape's first forward sets up its kernels
        ms_per_image(nets[amp, layout], latents, amp, 0.2)
    for _ in range(args.rounds):
        for amp, layout in SETTINGS:
            timings[setting_name(amp, layout)].append(ms_per_image(nets[amp, layout], latents, amp, args.seconds))
    print(f"\ndcgan {channels}x{size}x{size}, g_width {args.g_width}, batch {args.batch}, {args.device}: ms per image "
          f"(forward + PNG), median of {args.rounds} rounds; difference from float32 in 0-255 levels")
    medians = {name: statistics.median(values) for name, values in timings.items()}
    for amp, layout in SETTINGS:
        name = setting_name(amp, layout)
        moved = (images(nets[amp, layout], latents, amp).int() - reference.int()).abs().float()
        print(f"  {name:<24} {medians[name]:6.2f} ms  x{medians['float32'] / medians[name]:.2f}   "
              f"mean {moved.mean():.2f}, largest {moved.max():.0f}   (rounds: "
              f"{', '.join(f'{x:.2f}' for x in timings[name])})")
    amp, layout = min(SETTINGS, key=lambda s: medians[setting_name(*s)])
    if medians["float32"] / medians[setting_name(amp, layout)] < SERVE_MARGIN:
        amp, layout = "off", False
    return {"device": device_class(args.device), "task": "serve", "net": net_key(gan), "size": size,
            "batch": args.batch, "amp": amp, "channels_last": layout,
            "images_per_s": {name: round(1000 / ms) for name, ms in medians.items()},
            "machine": describe_machine(args.device, args.threads),
            "date": f"{datetime.now(UTC):%Y-%m-%d}",
            "command": f"bench/serve_precision.py --device {args.device} --threads {args.threads} --sizes {size} "
                       f"--g-width {args.g_width} --batch {args.batch} --rounds {args.rounds} --record"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="28,64", help="comma-separated image sides (28: 1 channel, else 3)")
    parser.add_argument("--g-width", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16, help="images per forward (the API's batches at 32 "
                        "clients held 10-15)")
    parser.add_argument("--seconds", type=float, default=1.5, help="length of each setting's turn in a round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", type=torch.device, default=torch.device("cpu"), help="cpu or cuda")
    parser.add_argument("--record", action="store_true", help="write the winners into models/speed_table.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for size in (int(s) for s in args.sizes.split(",")):
        row = measure(size, 1 if size == 28 else 3, args)
        print(f"  serve in: {setting_name(row['amp'], row['channels_last'])}")
        if args.record:
            record(row)


if __name__ == "__main__":
    main()
