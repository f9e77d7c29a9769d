"""Training throughput: the GANForge trainer vs a plain PyTorch loop of the same nets and batch.

Both run in this process on the same images, in rounds that alternate which goes first, so that machine noise hits
both alike; the figures are the median images/s over the rounds, and the ratio is the median of each round's
ratio (on a shared machine the load changes between rounds more than within one).

    .venv/bin/python bench/train_throughput.py                      # DCGAN, 28 px MNIST, widths 64, batch 64
    .venv/bin/python bench/train_throughput.py --amp off            # the trainer in float32 like the loop
    .venv/bin/python bench/train_throughput.py --net tiny           # widths 8: bookkeeping dominates the step
    .venv/bin/python bench/train_throughput.py --size 64            # DCGAN at 64 px (`shapes`, RGB), widths 64
    .venv/bin/python bench/train_throughput.py --arch stylegan2     # StyleGAN2 at 64 px
    .venv/bin/python bench/train_throughput.py --device cuda        # GPU: the trainer with AMP etc.
    .venv/bin/python bench/train_throughput.py --record             # the trainer alone in each precision and
                                                                    # layout: the row `amp: auto` then reads
    .venv/bin/python bench/train_throughput.py --arch infogan --record   # InfoGAN's FC nets, as its job builds them

The plain loop is the pytorch/examples DCGAN step (D on real and on detached fakes, G on the same fakes; BCE,
Adam 2e-4, betas 0.5/0.999), in float32, with its data converted and on the device up front. GANForge's step draws
fresh noise for G's update, one more forward pass of G; `--plain fresh` gives the plain loop that pass too, so that
the ratio then measures the trainer's bookkeeping alone. For stylegan2 the
trainer runs without R1 and style mixing (`r1_gamma 0`, `style_mixing 0`), so both do the same adversarial
step on the same nets.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import replace

import torch
import torch.nn.functional as F

from core.spec import JobSpec, gan_config
from models import speed_table
from models.data import load_builtin, to_model_range
from models.gan import GANConfig, build_discriminator, build_generator
from models.trainer import TrainConfig, make_trainer

WIDTHS = {"tiny": 8, "dcgan": 64}  # --net: the nets' widths (ngf = ndf)
DATA = {28: "mnist", 64: "shapes"}  # --size: the built-in data set at that size


def plain_loop(images: torch.Tensor, gan: GANConfig, steps: int, batch_size: int, device: torch.device,
               fresh: bool = False) -> float:
    """The pytorch/examples DCGAN step, nothing else; returns images/s. `fresh`: G's step on fakes from fresh
    noise, as GANForge's step does (D's fakes then need no graph through G), so the two do the same work."""
    torch.manual_seed(0)
    netG, netD = build_generator(gan).to(device), build_discriminator(gan).to(device)
    optG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    data = to_model_range(images).to(device)
    order = torch.randperm(len(data), device=device)

    def step(i: int) -> None:
        real = data[order[(i * batch_size) % (len(data) - batch_size):][:batch_size]]
        with torch.set_grad_enabled(not fresh):
            fake = netG(torch.randn(batch_size, gan.latent_dim, device=device))
        real_logits, fake_logits = netD(real).logit, netD(fake.detach()).logit
        loss_d = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits)) + \
            F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
        optD.zero_grad()
        loss_d.backward()
        optD.step()
        if fresh:
            fake = netG(torch.randn(batch_size, gan.latent_dim, device=device))
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
             options: dict, warmup: int) -> float:
    config = TrainConfig(epochs=10_000, batch_size=batch_size, max_steps=warmup, progress_every_steps=50,
                         sample_every_epochs=10_000, checkpoint_every_steps=10**9, **options)
    trainer = make_trainer(gan, config, device)
    trainer.fit(images)  # warm-up steps (and compilation, if on)
    trainer.config = replace(trainer.config, max_steps=steps + warmup)
    _sync(device)
    started = time.perf_counter()
    trainer.fit(images)
    _sync(device)
    return steps * batch_size / (time.perf_counter() - started)


def record(images: torch.Tensor, gan: GANConfig, args: argparse.Namespace, device: torch.device) -> None:
    """Times the trainer alone in float32 and bf16 (and on CUDA each in channels_last too), rounds alternating the
    order, and writes the fastest into models/speed_table.json for this device class, net and size."""
    layouts = (False, True) if device.type == "cuda" else (False,)
    settings = [(amp, layout) for amp in ("off", "bf16") for layout in layouts]
    speeds = {setting: [] for setting in settings}
    for i in range(args.rounds):
        for amp, layout in settings[::-1] if i % 2 else settings:
            options = {"amp": amp, "channels_last": layout, "compile": args.compile}
            speeds[amp, layout].append(ganforge(images, gan, args.steps, args.batch_size, device, options, 1))
    medians = {setting: statistics.median(values) for setting, values in speeds.items()}
    amp, layout = max(medians, key=medians.get)
    command = " ".join(["bench/train_throughput.py", *sys.argv[1:]])
    row = {"device": speed_table.device_class(device), "net": speed_table.net_key(gan), "size": gan.data_shape[-1],
           "batch": args.batch_size, "amp": amp, "channels_last": layout,
           "images_per_s": {speed_table.setting_name(*setting): round(speed) for setting, speed in medians.items()},
           "machine": speed_table.describe_machine(device, torch.get_num_threads()), "date": time.strftime("%Y-%m-%d"),
           "command": command}
    speed_table.record(row)
    print(json.dumps(row))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--arch", default="dcgan", choices=["dcgan", "stylegan2", "infogan"],
                        help="infogan: its job's nets on MNIST (FC layers: a speed table row of their own), "
                             "--record only")
    parser.add_argument("--net", default="dcgan", choices=sorted(WIDTHS), help="widths: tiny 8, dcgan 64")
    parser.add_argument("--size", type=int, default=None, choices=sorted(DATA),
                        help="image size (default: 28 for dcgan, 64 for stylegan2)")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--plain", default="examples", choices=["examples", "fresh"],
                        help="the plain loop's G step: on D's fakes (pytorch/examples) or on fresh noise (as ours)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch's intra-op threads")
    parser.add_argument("--compile", action="store_true", help="torch.compile in the trainer")
    parser.add_argument("--amp", default="auto", choices=["auto", "off", "bf16", "fp16"],
                        help="the trainer's train.amp (the plain loop is always float32)")
    parser.add_argument("--record", action="store_true", help="time the trainer in each precision (and layout, on "
                        "CUDA) and write the fastest to models/speed_table.json, which amp: auto reads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    size = args.size or (64 if args.arch == "stylegan2" else 28)
    images = load_builtin(DATA[size]).images
    width = WIDTHS[args.net]
    gan = GANConfig(arch=args.arch, latent_dim=100, data_shape=tuple(images.shape[1:]), g_width=width,
                    d_width=width)
    if args.arch == "infogan":  # the plain loop is DCGAN's step, so only the trainer's precisions compare
        if not args.record or size != 28:
            parser.error("--arch infogan times its MNIST job's nets: with --record, at 28 px")
        gan = gan_config(JobSpec(dataset="mnist", model={"arch": "infogan"}), tuple(images.shape[1:]), 10)
    # The trainer's defaults for the device: on CUDA that means bf16 autocast and channels_last, on a CPU with
    # AMX bf16 autocast.
    if args.record:
        return record(images, gan, args, device)
    options = {"compile": args.compile, "amp": args.amp}
    if args.arch == "stylegan2":
        options |= {"r1_gamma": 0.0, "style_mixing": 0.0}
    precision = make_trainer(gan, TrainConfig(**options), device).precision
    # A compiled trainer needs a few steps before its graphs settle (D with and without grad, G's step).
    warmup = 3 if args.compile else 1
    plain, ours = [], []
    for i in range(args.rounds):
        if i % 2:
            ours.append(ganforge(images, gan, args.steps, args.batch_size, device, options, warmup))
        plain.append(plain_loop(images, gan, args.steps, args.batch_size, device, args.plain == "fresh"))
        if not i % 2:
            ours.append(ganforge(images, gan, args.steps, args.batch_size, device, options, warmup))
    p, o = statistics.median(plain), statistics.median(ours)
    ratio = statistics.median(x / y for x, y in zip(ours, plain, strict=True))
    print(f"device={device} torch={torch.__version__} threads={torch.get_num_threads()} arch={args.arch} "
          f"size={size} widths={width} batch={args.batch_size} steps/round={args.steps} rounds={args.rounds} "
          f"trainer precision={precision} compile={args.compile} plain={args.plain}")
    print(f"plain PyTorch loop : {p:8.1f} images/s  (rounds: {', '.join(f'{x:.0f}' for x in plain)})")
    print(f"GANForge trainer   : {o:8.1f} images/s  (rounds: {', '.join(f'{x:.0f}' for x in ours)})")
    print(f"ratio trainer/plain: {ratio:.3f}")


if __name__ == "__main__":
    main()
