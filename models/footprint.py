"""What a training job will hold in memory, estimated before anything is allocated: the nets are built on
PyTorch's "meta" device (shapes, no storage) and run once on a meta batch to size the activations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from models.config import TrainConfig
from models.gan import GANConfig, build_discriminator, build_generator
from models.inputs import Inputs
from models.nets.translation import CycleDiscriminators, Pix2PixDiscriminator

FLOAT_BYTES = 4


@dataclass(frozen=True)
class Footprint:
    parameters: int  # G and D together
    state_bytes: int  # weights, gradients and Adam's two moments of both nets, plus an EMA copy of G
    activation_bytes: int  # every module's output for one G and one D pass on a batch (kept for backward)

    @property
    def total_bytes(self) -> int:
        return self.state_bytes + self.activation_bytes

    def describe(self) -> str:
        return (f"{self.parameters / 1e6:,.1f} M parameters; about {self.total_bytes / 2**30:,.2f} GiB to train "
                f"({self.state_bytes / 2**30:,.2f} GiB of weights, gradients and optimiser state, "
                f"{self.activation_bytes / 2**30:,.2f} GiB of activations per batch)")


MetaPass = Callable[[nn.Module, nn.Module, GANConfig, int], None]


def training_footprint(gan: GANConfig, config: TrainConfig, meta_pass: MetaPass | None = None) -> Footprint:
    """`meta_pass`: how the model's kind runs its G and D once (core.kinds.Kind.footprint); default a sampler's."""
    config = config.for_family(gan)
    with torch.device("meta"):
        g, d = build_generator(gan), build_discriminator(gan)
    g_params, d_params = (sum(p.numel() for p in net.parameters()) for net in (g, d))
    copies = 4 if config.optimizer == "adam" else 3  # weights, grads, (Adam: two moments; SGD: momentum)
    state = FLOAT_BYTES * (copies * (g_params + d_params) + (g_params if config.ema else 0))
    # D sees d_steps real batches and one fake batch per step; G's batch goes through D once more.
    batch = config.batch_size * gan.pack
    activations = _activation_elements(g, d, gan, batch, meta_pass or sample_pass) * FLOAT_BYTES * 2
    return Footprint(g_params + d_params, state, activations)


def _activation_elements(g: nn.Module, d: nn.Module, gan: GANConfig, batch: int, meta_pass: MetaPass) -> int:
    total = 0

    def count(_module, _inputs, output) -> None:
        nonlocal total
        for tensor in output if isinstance(output, tuple) else (output,):
            if isinstance(tensor, torch.Tensor):
                total += tensor.numel()

    leaves = [m for net in (g, d) for m in net.modules() if not list(m.children())]
    hooks = [m.register_forward_hook(count) for m in leaves]
    try:
        with torch.device("meta"), torch.no_grad():
            meta_pass(g, d, gan, batch)
    finally:
        for hook in hooks:
            hook.remove()
    return total


def sample_pass(g: nn.Module, d: nn.Module, gan: GANConfig, batch: int) -> None:
    """A sampler's step on a meta batch: G on noise (labels, codes), D on its output."""
    inputs = Inputs(torch.empty(batch, gan.latent_dim),
                    torch.zeros(batch, dtype=torch.long) if gan.conditions_generator else None,
                    torch.zeros(batch, dtype=torch.long) if gan.cat_codes else None,
                    torch.empty(batch, gan.cont_codes) if gan.cont_codes else None)
    d(g(inputs.z, **inputs.as_kwargs()), inputs.labels)


def vary_pass(g: nn.Module, d: nn.Module, gan: GANConfig, batch: int) -> None:
    """An augmenter's step: G varies an image; D judges it beside the image."""
    source = torch.empty(batch, *gan.data_shape)
    d(source, g(source, torch.empty(batch, gan.latent_dim)))


def translate_pass(g: nn.Module, d: nn.Module, gan: GANConfig, batch: int) -> None:
    """A translator's step on a meta batch: each direction's G, and D on each output (CycleGAN's round trips
    run the Gs twice more, which the factor of 2 on activations roughly covers)."""
    source = torch.empty(batch, *gan.source_shape)
    for direction in gan.family.directions:
        out = g(source if direction == "a2b" else torch.empty(batch, *gan.data_shape), direction)
        if isinstance(d, CycleDiscriminators):
            (d.b if direction == "a2b" else d.a)(out)
        elif isinstance(d, Pix2PixDiscriminator):
            d(source, out)
        else:
            d(out)
