"""Turning latents into images: seeded latents, batched inference, uint8 conversion, grids, PNG."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from models.inputs import Conditioning as Conditioning  # re-exported: the service's name for it
from models.inputs import Inputs
from models.png import png_bytes as png_bytes  # re-exported: where the service and the benches import it from

# Redraw rounds before the rest is drawn by inverse CDF: with t = 0.5 (38 % inside) under 1e-4 of the
# components are left after 20 rounds; with t = 1e-9, redrawing alone would take billions of rounds.
_REDRAW_ROUNDS = 20


def latents_for_seed(n: int, latent_dim: int, seed: int, truncation: float | None = None) -> torch.Tensor:
    """The same (n, latent_dim, seed, truncation) gives the same latents on every machine: a CPU generator.

    With `truncation` t, every component with |z| > t is drawn again (from the same generator): the
    truncation trick, trading variety for fidelity (Brock et al. 2019, BigGAN). Components already inside
    stay as drawn. After a fixed number of rounds, what is still outside is drawn from the truncated normal
    by its inverse CDF, so the time is bounded however small t is."""
    generator = torch.Generator().manual_seed(seed)
    latents = torch.randn(n, latent_dim, generator=generator)
    if truncation is None:
        return latents
    outside = latents.abs() > truncation
    for _ in range(_REDRAW_ROUNDS):
        if not outside.any():
            return latents
        latents[outside] = torch.randn(int(outside.sum()), generator=generator)
        outside = latents.abs() > truncation
    if outside.any():
        latents[outside] = truncated_normal(int(outside.sum()), truncation, generator)
    return latents


def truncated_normal(count: int, bound: float, generator: torch.Generator) -> torch.Tensor:
    """`count` draws of a standard normal restricted to [-bound, bound], by inverse CDF: uniform draws
    between Phi(-bound) and Phi(bound), mapped back through Phi's inverse (in float64, then clamped)."""
    below = 0.5 * math.erfc(bound / math.sqrt(2))  # Phi(-bound)
    p = below + torch.rand(count, generator=generator, dtype=torch.float64) * (1 - 2 * below)
    return (math.sqrt(2) * torch.erfinv(2 * p - 1)).clamp(-bound, bound).float()


def interpolate(start: torch.Tensor, end: torch.Tensor, steps: int, method: str = "slerp") -> torch.Tensor:
    """`steps` latents from `start` to `end` (both included, exactly), linearly or along the great circle.

    Slerp keeps the norm a Gaussian latent typically has, where lerp's midpoints shrink towards the
    origin (White 2016, "Sampling Generative Networks"); nearly parallel vectors fall back to lerp."""
    t = torch.linspace(0, 1, steps).unsqueeze(1)
    start, end = start.float().unsqueeze(0), end.float().unsqueeze(0)
    path = start + t * (end - start)
    if method == "slerp":
        cosine = torch.nn.functional.cosine_similarity(start, end).clamp(-1, 1)
        omega = torch.arccos(cosine)
        if float(torch.sin(omega)) > 1e-6:
            path = (torch.sin((1 - t) * omega) * start + torch.sin(t * omega) * end) / torch.sin(omega)
    path[0], path[-1] = start[0], end[0]
    return path


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Float images in [-1, 1] to uint8 in [0, 255]."""
    return ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


@torch.inference_mode()
def generate(generator: nn.Module, latents: torch.Tensor, batch_size: int = 256,
             **conditioning: torch.Tensor) -> torch.Tensor:
    """Runs the generator in eval mode on the CPU side's inputs (latents, and the labels, codes or truncation
    it takes by keyword); returns uint8 NCHW images, or float N x 2 points for a 2-D model."""
    device = next(generator.parameters()).device
    inputs = Inputs.of(latents, conditioning)
    out = []
    for start in range(0, len(inputs), batch_size):
        chunk = inputs[start : start + batch_size].to(device)
        result = generator(chunk.z, **chunk.as_kwargs()).float().cpu()
        out.append(to_uint8(result) if result.dim() == 4 else result)
    return torch.cat(out)


@torch.inference_mode()
def mapped_ws(generator: nn.Module, latents: torch.Tensor, labels: torch.Tensor | None = None,
              batch_size: int = 256) -> torch.Tensor:
    """A style-based generator's ws for latents (N x num_ws x w_dim, untruncated): its mapping network's w,
    one per layer."""
    device = next(generator.parameters()).device
    out = []
    for start in range(0, latents.shape[0], batch_size):
        rows = slice(start, start + batch_size)
        w = generator.mapping(latents[rows].to(device), None if labels is None else labels[rows].to(device))
        out.append(w.float().cpu().unsqueeze(1).expand(-1, generator.num_ws, -1))
    return torch.cat(out) if out else torch.empty(0, generator.num_ws, generator.w_dim)


@torch.inference_mode()
def generate_from_ws(generator: nn.Module, ws: torch.Tensor, psi: torch.Tensor | None = None,
                     cutoff: torch.Tensor | None = None, batch_size: int = 256) -> torch.Tensor:
    """uint8 NCHW images of a style-based generator for explicit ws (N x num_ws x w_dim), truncated per sample
    by `psi` on the first `cutoff` ws, in eval mode."""
    device = next(generator.parameters()).device
    out = []
    for start in range(0, ws.shape[0], batch_size):
        rows = slice(start, start + batch_size)
        chunk = generator.truncate(ws[rows].to(device), None if psi is None else psi[rows].to(device),
                                   None if cutoff is None else cutoff[rows].to(device))
        out.append(to_uint8(generator.synthesis(chunk).float().cpu()))
    return torch.cat(out)


@torch.inference_mode()
def translate(net: nn.Module, images: torch.Tensor, direction: str = "a2b", batch_size: int = 256) -> torch.Tensor:
    """uint8 NCHW in, uint8 NCHW out, in eval mode."""
    device = next(net.parameters()).device
    net.eval()
    out = [to_uint8(net(chunk.to(device).float().div(127.5).sub(1), direction).float().cpu())
           for chunk in images.split(batch_size)]
    return torch.cat(out)


def variation_latents(inputs: int, n: int, latent_dim: int, seed: int) -> torch.Tensor:
    """The noise of `n` variations of each of `inputs` images: input j's are latents_for_seed(n, ..., seed + j),
    so an image gets the same variations whatever else is sent with it, at the same place."""
    return torch.cat([latents_for_seed(n, latent_dim, seed + j) for j in range(inputs)]) if inputs else \
        torch.empty(0, latent_dim)


@torch.inference_mode()
def vary(net: nn.Module, images: torch.Tensor, latents: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """A variation model's outputs (DAGAN): uint8 NCHW images, each with its row of `latents`, in eval mode."""
    device = next(net.parameters()).device
    net.eval()
    out = [to_uint8(net(chunk.to(device).float().div(127.5).sub(1), z.to(device)).float().cpu())
           for chunk, z in zip(images.split(batch_size), latents.split(batch_size), strict=True)]
    return torch.cat(out) if out else images.clone()


def as_shown(images: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Images resized (nearest, so pixels stay visible) and given the channels of `shape` (N, C, H, W)."""
    if images.shape[-1] != shape[-1]:
        images = F.interpolate(images, size=tuple(shape[-2:]), mode="nearest")
    if images.shape[1] != shape[1]:
        images = images.mean(dim=1, keepdim=True).expand(-1, shape[1], -1, -1) if shape[1] == 3 else \
            images.mean(dim=1, keepdim=True)
    return images


def grid(images: torch.Tensor, nrow: int | None = None, padding: int = 2) -> torch.Tensor:
    """Tiles uint8 NCHW images into one CHW image, nrow images per row (square by default)."""
    n, c, h, w = images.shape
    nrow = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / nrow)
    canvas = torch.zeros(c, rows * (h + padding) + padding, nrow * (w + padding) + padding, dtype=torch.uint8)
    for i, image in enumerate(images):
        top = padding + (i // nrow) * (h + padding)
        left = padding + (i % nrow) * (w + padding)
        canvas[:, top : top + h, left : left + w] = image
    return canvas


def to_pil(image: torch.Tensor) -> Image.Image:
    """One uint8 CHW image (1 or 3 channels) as a Pillow image (mode L or RGB)."""
    array = image.permute(1, 2, 0).numpy()
    return Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
