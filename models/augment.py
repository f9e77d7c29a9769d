"""Differentiable augmentation for small data sets (DiffAugment, Zhao et al. 2020, arXiv:2006.10738).

The same random transforms go on real and generated images before D sees them, and they are
differentiable, so G still gets gradients; D cannot memorise a small data set as easily.
All randomness comes from the caller's generator, so training stays reproducible.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

POLICIES = ("color", "translation", "cutout")


def diff_augment(x: torch.Tensor, policies: tuple[str, ...], generator: torch.Generator) -> torch.Tensor:
    for policy in policies:
        x = _TRANSFORMS[policy](x, generator)
    return x


def _rand(x: torch.Tensor, generator: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.rand(x.shape[0], *shape, device=x.device, generator=generator, dtype=x.dtype)


def _color(x, g):
    x = x + (_rand(x, g, 1, 1, 1) - 0.5)  # brightness
    if x.shape[1] == 3:
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * (_rand(x, g, 1, 1, 1) * 2) + mean  # saturation
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_rand(x, g, 1, 1, 1) + 0.5) + mean  # contrast


def _translation(x, g, ratio: float = 0.125):
    # Shift each image by up to 1/8 of its size, filling with zeros, through an affine sampling grid.
    shift = (_rand(x, g, 2) * 2 - 1) * ratio * 2  # grid coordinates span [-1, 1]
    theta = torch.zeros(x.shape[0], 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)


def _cutout(x, g, ratio: float = 0.5):
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = (_rand(x, g, 1) * (h - ch + 1)).long()
    left = (_rand(x, g, 1) * (w - cw + 1)).long()
    rows = torch.arange(h, device=x.device)[None, :]
    cols = torch.arange(w, device=x.device)[None, :]
    inside_rows = (rows >= top) & (rows < top + ch)
    inside_cols = (cols >= left) & (cols < left + cw)
    mask = ~(inside_rows[:, :, None] & inside_cols[:, None, :])
    return x * mask[:, None].to(x.dtype)


_TRANSFORMS = {"color": _color, "translation": _translation, "cutout": _cutout}
