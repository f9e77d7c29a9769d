"""DAGAN's networks (Antoniou et al. 2017): a generator that encodes a real image and decodes it, together
with noise, into another image of the same class, and a critic that judges pairs of images.

The generator is a U-Net whose bottleneck receives z as a spatial map, and whose every decoder level sees
that map again (upsampled): the noise reaches coarse shape and fine strokes alike, so different z give
different variations. The skips carry the input's identity; that the output is not a copy is the
critic's doing: it compares the output with the input, and real pairs are two different images.
"""

from __future__ import annotations

import torch
from torch import nn

from models.nets.conditional import DOutput
from models.nets.dcgan import ConvBody, init_weights
from models.nets.translation import halvings

_NOISE_CHANNELS = 8  # channels of the spatial noise map at the bottleneck


def _down(c_in: int, c_out: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, True))


def _up(c_in: int, c_out: int) -> nn.Module:
    return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True))


class DaganGenerator(nn.Module):
    """x (C x S x S in [-1, 1]) and z (latent_dim) to an image of x's shape. Channels double per level from
    `g_width` (up to 8x); at most three halvings (28 px: 7 px bottleneck; 64 px: 8 px)."""

    def __init__(self, config):
        super().__init__()
        channels, size = config.data_shape[0], config.data_shape[-1]
        levels = halvings(size, 3)
        if levels < 2:
            raise ValueError(f"DAGAN's generator needs images whose side halves at least twice; got {size} px")
        width = config.g_width
        widths = [min(width * 2**i, width * 8) for i in range(levels + 1)]  # stem, then one per halving
        self.latent_dim, self.bottleneck = config.latent_dim, size >> levels
        self.stem = nn.Sequential(nn.Conv2d(channels, widths[0], 3, 1, 1), nn.LeakyReLU(0.2, True))
        self.downs = nn.ModuleList(_down(widths[i], widths[i + 1]) for i in range(levels))
        self.noise = nn.Linear(config.latent_dim, _NOISE_CHANNELS * self.bottleneck**2)
        # Decoder level i goes from widths[i + 1] to widths[i], taking the skip and the noise map beside it.
        self.ups = nn.ModuleList(
            _up(widths[i + 1] + (widths[i + 1] if i < levels - 1 else 0) + _NOISE_CHANNELS, widths[i])
            for i in reversed(range(levels)))
        self.out = nn.Sequential(nn.Conv2d(widths[0] * 2 + _NOISE_CHANNELS, channels, 3, 1, 1), nn.Tanh())
        self.apply(init_weights)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        skips = [self.stem(x)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        noise = self.noise(z.to(x.dtype)).view(-1, _NOISE_CHANNELS, self.bottleneck, self.bottleneck)
        y = skips.pop()
        for i, up in enumerate(self.ups):
            if i:  # the bottleneck has no skip of its own: it is the encoder's output
                y = torch.cat([y, skips.pop()], dim=1)
            y = up(torch.cat([y, _resized(noise, y.shape[-1])], dim=1))
        return self.out(torch.cat([y, skips.pop(), _resized(noise, y.shape[-1])], dim=1))


def _resized(noise: torch.Tensor, size: int) -> torch.Tensor:
    return noise if noise.shape[-1] == size else nn.functional.interpolate(noise, size=(size, size), mode="nearest")


class DaganDiscriminator(nn.Module):
    """Judges a pair (x, y): is y a real image of x's class other than x, or G's variation of x? The two
    images go in side by side as channels, through the DCGAN critic body (layer norm for WGAN-GP)."""

    def __init__(self, config):
        super().__init__()
        channels, size = config.data_shape[0], config.data_shape[-1]
        self.body = ConvBody(2 * channels, size, config.d_width, config.d_norm)
        self.body.apply(init_weights)
        self.adversarial = nn.Linear(self.body.features, 1)

    def forward(self, source: torch.Tensor, other: torch.Tensor) -> DOutput:
        return DOutput(self.adversarial(self.body(torch.cat([source, other], dim=1))).view(-1))

    def q_parameters(self) -> list[nn.Parameter]:
        return []
