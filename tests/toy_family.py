"""A family that exists only in the tests: one Family row and two tiny nets, registered as a plugin
(`GANFORGE_FAMILY_MODULES='["tests.toy_family"]'`). It proves a new family needs no edit to the job
spec, the routers or the model card to train over HTTP and serve images."""

from __future__ import annotations

import math

import torch
from torch import nn

from models.gan import Family, GANConfig, register_family
from models.nets.conditional import DOutput

NAME = "toy-linear"


class LinearGenerator(nn.Module):
    """One linear map from z to a sample: images through a Tanh, points as they are."""

    def __init__(self, config: GANConfig):
        super().__init__()
        self.data_shape = config.data_shape
        self.linear = nn.Linear(config.latent_dim, math.prod(config.data_shape))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.linear(z).view(z.shape[0], *self.data_shape)
        return torch.tanh(out) if len(self.data_shape) == 3 else out


class LinearCritic(nn.Module):
    def __init__(self, config: GANConfig):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(config.data_shape), 16), nn.LeakyReLU(0.2),
                                 nn.Linear(16, 1))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> DOutput:
        return DOutput(self.net(x).view(-1))

    def q_parameters(self) -> list[nn.Parameter]:
        return []


TOY = Family("GANForge test suite", "one linear layer G, a two-layer MLP D", "least-squares",
             ("least-squares", "non-saturating"), 1e-3, 1e-3, (0.5, 0.999), data_kinds=("images", "points"),
             image_sizes=(28,), build_generator=LinearGenerator, build_discriminator=LinearCritic)
register_family(NAME, TOY)
