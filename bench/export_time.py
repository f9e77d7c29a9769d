"""What an export costs: the whole ZIP of GET /v1/models/{id}/export (service.serving.exports.package) per format,
for the three generators of docs/export.md's table, warm (the first export in a process pays the exporter's
imports once), the median of `--rounds`.

    .venv/bin/python -m bench.export_time
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from core.kinds import card_for
from models.gan import GANConfig, build_generator
from service.serving.exports import package
from service.serving.generators import LoadedGenerator

NETS = {
    "dcgan 28 px, width 8, 16 latents": GANConfig(arch="dcgan", latent_dim=16, data_shape=(1, 28, 28), g_width=8),
    "dcgan 64 px, width 64, 100 latents": GANConfig(arch="dcgan", latent_dim=100, data_shape=(3, 64, 64),
                                                    g_width=64),
    "stylegan2 16 px, width 4": GANConfig(arch="stylegan2", latent_dim=8, data_shape=(3, 16, 16), g_width=4,
                                          mapping_layers=2),
}
FORMATS = ("onnx", "torchscript", "safetensors")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"| generator | {' | '.join(FORMATS)} | ZIP (safetensors) |")
    print("|---|" + "---|" * (len(FORMATS) + 1))
    for name, gan in NETS.items():
        torch.manual_seed(0)
        net = build_generator(gan).eval()
        card = card_for(gan, [], note="bench/export_time.py: random weights")
        loaded = LoadedGenerator(card.id, net, card, sum(p.numel() * p.element_size() for p in net.parameters()))
        seconds, size = {}, 0
        for fmt in FORMATS:
            package(loaded, fmt)  # warm-up
            times = []
            for _ in range(args.rounds):
                started = time.perf_counter()
                size = len(package(loaded, fmt))
                times.append(time.perf_counter() - started)
            seconds[fmt] = statistics.median(times)
        print(f"| {name} | " + " | ".join(f"{seconds[f]:.2f} s" for f in FORMATS) + f" | {size / 2**20:.2f} MiB |")


if __name__ == "__main__":
    main()
