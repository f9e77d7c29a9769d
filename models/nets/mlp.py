"""Fully-connected backbones (Goodfellow et al. 2014, arXiv:1406.2661): for 2-D toy data, or for
flattened images as in the paper's MNIST experiments."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from models.nets.minibatch_std import MinibatchStd


class MLPGenerator(nn.Module):
    def __init__(self, in_dim: int, data_shape: tuple[int, ...], hidden: int = 256, depth: int = 3):
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(depth):
            layers += [nn.Linear(in_dim if i == 0 else hidden, hidden), nn.ReLU(True)]
        layers.append(nn.Linear(hidden, math.prod(data_shape)))
        if len(data_shape) > 1:
            layers.append(nn.Tanh())  # images live in [-1, 1]; points are left unbounded
        self.net = nn.Sequential(*layers)
        self.data_shape = tuple(data_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(x.shape[0], *self.data_shape)


class MLPBody(nn.Module):
    def __init__(self, in_dim: int, hidden: int = 256, depth: int = 3, norm: str = "none", mbstd: int = 0):
        super().__init__()
        wrap = spectral_norm if norm == "spectral" else (lambda m: m)
        layers: list[nn.Module] = [nn.Flatten()]
        for i in range(depth):
            width_in = in_dim if i == 0 else hidden
            if mbstd and i == depth - 1:  # before the last hidden layer, as ProGAN puts it before D's last block
                layers.append(MinibatchStd(mbstd))
                width_in += 1
            layers += [wrap(nn.Linear(width_in, hidden)), nn.LeakyReLU(0.2, True)]
        self.net = nn.Sequential(*layers)
        self.features = hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
