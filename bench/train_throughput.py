"""Training throughput: the GANForge trainer vs a plain PyTorch loop of the same DCGAN and batch.

Both run in this process on the same MNIST images, alternating rounds so that machine noise hits
both alike; the figure is the median images/s over the rounds, and their ratio.

    .venv/bin/python bench/train_throughput.py                      # CPU
    .venv/bin/python bench/train_throughput.py --amp off            # CPU, the trainer in float32 like the loop
    .venv/bin/python bench/train_throughput.py --device cuda        # GPU: the trainer with AMP etc.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

import torch
import torch.nn.functional as F

from models.data import load_builtin, to_model_range
from models.gan import GANConfig, build_discriminator, build_generator
from models.trainer import TrainConfig, Trainer


def plain_loop(images: torch.Tensor, gan: GANConfig, steps: int, batch_size: int, device: torch.device) -> float:
    """The pytorch/examples DCGAN step, nothing else; returns images/s."""
    torch.manual_seed(0)
    netG, netD = build_generator(gan).to(device), build_discriminator(gan).to(device)
    optG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    data = to_model_range(images).to(device)
    order = torch.randperm(len(data), device=device)

    def step(i: int) -> None:
        real = data[order[(i * batch_size) % (len(data) - batch_size):][:batch_size]]
        fake = netG(torch.randn(batch_size, gan.latent_dim, device=device))
        real_logits, fake_logits = netD(real).logit, netD(fake.detach()).logit
        loss_d = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits)) + \
            F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
        optD.zero_grad()
        loss_d.backward()
        optD.step()
        out = netD(fake).logit
        loss_g = F.binary_cross_entropy_with_logits(out, torch.ones_like(out))
        optG.zero_grad()
        loss_g.backward()
        optG.step()

    step(0)  # warm-up, as the trainer gets one below
    _sync(device)
    started = time.perf_counter()
    for i in range(1, steps + 1):
        step(i)
    _sync(device)
    return steps * batch_size / (time.perf_counter() - started)


def ganforge(images: torch.Tensor, gan: GANConfig, steps: int, batch_size: int, device: torch.device,
             options: dict) -> float:
    config = TrainConfig(epochs=10_000, batch_size=batch_size, max_steps=1, progress_every_steps=50,
                         sample_every_epochs=10_000, checkpoint_every_steps=10**9, **options)
    trainer = Trainer(gan, config, device)
    trainer.fit(images)  # warm-up step (and compilation, if on)
    trainer.config = replace(trainer.config, max_steps=steps + 1)
    _sync(device)
    started = time.perf_counter()
    trainer.fit(images)
    _sync(device)
    return steps * batch_size / (time.perf_counter() - started)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--compile", action="store_true", help="torch.compile in the trainer (CUDA)")
    parser.add_argument("--amp", default="auto", choices=["auto", "off", "bf16", "fp16"],
                        help="the trainer's train.amp (the plain loop is always float32)")
    args = parser.parse_args()
    device = torch.device(args.device)
    images = load_builtin("mnist").images
    gan = GANConfig(arch="dcgan", latent_dim=100, data_shape=(1, 28, 28), g_width=64, d_width=64)
    # The trainer's defaults for the device: on CUDA that means bf16 autocast and channels_last, on a CPU with
    # AMX bf16 autocast.
    options = {"compile": args.compile, "amp": args.amp}
    precision = Trainer(gan, TrainConfig(**options), device).precision
    plain, ours = [], []
    for _ in range(args.rounds):
        plain.append(plain_loop(images, gan, args.steps, args.batch_size, device))
        ours.append(ganforge(images, gan, args.steps, args.batch_size, device, options))
    p, o = statistics.median(plain), statistics.median(ours)
    print(f"device={device} torch={torch.__version__} threads={torch.get_num_threads()} "
          f"batch={args.batch_size} steps/round={args.steps} rounds={args.rounds} trainer precision={precision}")
    print(f"plain PyTorch loop : {p:8.1f} images/s  (rounds: {', '.join(f'{x:.0f}' for x in plain)})")
    print(f"GANForge trainer   : {o:8.1f} images/s  (rounds: {', '.join(f'{x:.0f}' for x in ours)})")
    print(f"ratio trainer/plain: {o / p:.3f}")


if __name__ == "__main__":
    main()
