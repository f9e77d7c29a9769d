"""Minibatch standard deviation (Karras et al. 2018, ProGAN, arXiv:1710.10196): D sees how varied a group
of samples is, so a generator that collapses to a few outputs is easy to tell from the data."""

from __future__ import annotations

import torch
from torch import nn


class MinibatchStd(nn.Module):
    """Appends one feature (a constant map for images): the std of every feature over a group of `group`
    samples, averaged. The groups are strided, as in ProGAN; a batch that `group` does not divide is one
    group."""

    def __init__(self, group: int = 4):
        super().__init__()
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        g = self.group if 0 < self.group <= n and n % self.group == 0 else n
        y = x.reshape(g, n // g, -1).float()
        std = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=1)  # one per group member position
        std = std.repeat(g).to(x.dtype)
        if x.dim() == 4:
            return torch.cat([x, std.view(n, 1, 1, 1).expand(n, 1, *x.shape[2:])], dim=1)
        return torch.cat([x.flatten(1), std.unsqueeze(1)], dim=1)
