"""The precision and memory layout a sampler's generator serves in.

`serve_precision: auto` (the default) takes the serving row of models/speed_table.json for this class of device,
this kind of net and the nearest size (bench/serve_precision.py measures and records them; a setting other than
float32 is recorded only where it was at least 20 % faster). Where the row says bf16, the model must also pass a
check of its own at load: PROBE_IMAGES images from a fixed seed, made both ways, may differ from float32's by at
most MAX_MEAN_LEVELS on average and MAX_LEVELS anywhere (of 255), or the model serves in float32. So a model
serves the same bytes for the same request whenever the API runs on the same kind of machine, and what it serves
in, and why, is logged at load. `serve_precision: float32` serves every model exactly as it was trained.

Autocast casts a conv's or linear layer's float32 weights to bf16 on every forward it runs: at 64 px (a DCGAN of
widths 64, 3.6 M weights) that is a fixed cost per forward which a batch of 15 shares over fewer images than a batch
of 32. So where autocast serves, `images` runs a copy of the generator whose conv and linear layers hold their
weights in bf16 already, made once at load, under the same autocast: the same bytes (the probe checks that they are,
or the copy is not used), less CPU per image (docs/benchmarks.md). On CPU its transposed convolutions also hold their
weights in oneDNN's layout (`prepacked`), where the probe finds the same bytes again. The float32 generator stays for
the other paths (exports, style-based routes), which run without autocast.
"""

from __future__ import annotations

import copy
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch
from torch import nn

from core.card import ModelCard
from models.sampling import generate
from models.speed_table import DTYPES, describe, device_class, measured, net_key, setting_name
from service.api.schemas import GenerateRequest
from service.serving.generation import resolve_inputs
from service.serving.prepacked import prepack

PROBE_IMAGES = 16
MAX_MEAN_LEVELS = 1.0
MAX_LEVELS = 16
# The layers whose weights and bias autocast casts to its dtype on every call (on CPU and CUDA alike).
CAST_ONCE = (nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


@dataclass(frozen=True)
class ServingPrecision:
    amp: torch.dtype | None = None
    channels_last: bool = False
    reason: str = "float32"
    cast_once: bool = False  # `images` runs a copy with CAST_ONCE layers in `amp` (see the module's doc)
    prepacked: bool = False  # and that copy's transposed convolutions hold oneDNN's layout (service.serving.prepacked)

    @property
    def name(self) -> str:
        amp = next(name for name, dtype in DTYPES.items() if dtype == self.amp)
        return setting_name(amp, self.channels_last)

    def autocast(self, device: torch.device) -> AbstractContextManager:
        return nullcontext() if self.amp is None else torch.autocast(device.type, dtype=self.amp)

    def served_net(self, net: nn.Module) -> nn.Module:
        """The module that `images` runs under `autocast`: `net` itself, or its copy with weights cast once (and
        transposed convolutions prepacked)."""
        if not self.cast_once or self.amp is None:
            return net
        served = _cast_copy(net, self.amp)
        return prepack(served) if self.prepacked else served


def _cast_copy(net: nn.Module, dtype: torch.dtype) -> nn.Module:
    served = copy.deepcopy(net)
    for module in served.modules():
        if isinstance(module, CAST_ONCE):
            module.to(dtype)
    return served


def choose(net: nn.Module, card: ModelCard, device: torch.device, setting: str) -> ServingPrecision:
    """What `net` serves in; puts it in channels_last when that is chosen."""
    if setting == "float32":
        return ServingPrecision(reason="serve_precision: float32")
    if card.kind != "sampler" or card.data_kind != "images":
        return ServingPrecision(reason="float32: only image samplers have serving measurements")
    size = card.image_shape[-1]
    row = measured(device_class(device), net_key(card.gan), size, task="serve")
    if row is None:
        return ServingPrecision(reason="float32: nothing measured for serving this net on this device class")
    if row["amp"] == "off" and not row["channels_last"]:
        return ServingPrecision(reason=describe(row, size))
    candidate = ServingPrecision(DTYPES[row["amp"]], row["channels_last"], describe(row, size))
    return _checked(net, card, device, candidate)


def _checked(net: nn.Module, card: ModelCard, device: torch.device,
             candidate: ServingPrecision) -> ServingPrecision:
    """The candidate if this model's probe images stay within the bounds of float32's, else float32."""
    inputs = resolve_inputs(card, GenerateRequest(n=PROBE_IMAGES, seed=0), PROBE_IMAGES)
    exact = generate(net, inputs.latents, **inputs.conditioning)
    if candidate.channels_last:
        net.to(memory_format=torch.channels_last)
    with candidate.autocast(device):
        served = generate(net, inputs.latents, **inputs.conditioning)
        # The copy `images` will run is tried first; only where it draws other bytes, the copy without prepacking.
        prepacked = device.type == "cpu" and _same_images(lambda: prepack(_cast_copy(net, candidate.amp)), inputs,
                                                          served)
        cast_once = prepacked or _same_images(lambda: _cast_copy(net, candidate.amp), inputs, served)
    moved = (served.int() - exact.int()).abs().float()
    mean, largest = moved.mean().item(), int(moved.max().item())
    if mean > MAX_MEAN_LEVELS or largest > MAX_LEVELS:
        net.to(memory_format=torch.contiguous_format)
        return ServingPrecision(reason=f"float32: {candidate.name} moved this model's probe images by {mean:.2f} "
                                       f"levels on average, {largest} at most (allowed: {MAX_MEAN_LEVELS:g}, "
                                       f"{MAX_LEVELS})")
    return ServingPrecision(candidate.amp, candidate.channels_last,
                            f"{candidate.reason}; this model's probe images move {mean:.2f} levels on average, "
                            f"{largest} at most" + ("; weights cast once at load" if cast_once else "")
                            + (", transposed convolutions prepacked for oneDNN" if prepacked else ""),
                            cast_once, prepacked)


def _same_images(copy_of_net, inputs, served: torch.Tensor) -> bool:
    """Whether the copy that `copy_of_net()` makes draws exactly the images that autocast makes of the net (inside
    its autocast). A layer that reads its own weights outside autocast's casts would change them, or fail on the
    dtype; a PyTorch without the oneDNN ops fails to prepack: then no."""
    try:
        once = generate(copy_of_net(), inputs.latents, **inputs.conditioning)
    except (RuntimeError, TypeError, AttributeError):
        return False
    return torch.equal(once, served)
