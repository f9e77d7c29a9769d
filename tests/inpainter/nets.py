"""The inpainter's nets: G fills a centred hole (a small encoder-decoder), D is a patch critic."""

from __future__ import annotations

import torch
from torch import nn

from models.family import GANConfig
from models.nets.conditional import DOutput


def hole(shape: tuple[int, ...] | torch.Size) -> torch.Tensor:
    """1 in the centred square of half the side that the model fills, 0 elsewhere: (1, 1, H, W)."""
    height, width = shape[-2:]
    mask = torch.zeros(1, 1, height, width)
    mask[..., height // 4: height // 4 + height // 2, width // 4: width // 4 + width // 2] = 1
    return mask


class HoleFiller(nn.Module):
    """G: sees the image with its hole blanked (and where the hole is), returns the image with the hole filled."""

    def __init__(self, config: GANConfig):
        super().__init__()
        channels, width = config.data_shape[0], config.g_width
        # Down to a quarter of the side and back, so that the middle of the hole sees the image around it.
        self.net = nn.Sequential(nn.Conv2d(channels + 1, width, 4, 2, 1), nn.ReLU(),
                                 nn.Conv2d(width, 2 * width, 4, 2, 1), nn.ReLU(),
                                 nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.ReLU(),
                                 nn.ConvTranspose2d(width, channels, 4, 2, 1), nn.Tanh())

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        mask = hole(image.shape).to(image)
        kept = image * (1 - mask)
        return kept + mask * self.net(torch.cat([kept, mask.expand(image.shape[0], -1, -1, -1)], dim=1))


class PatchCritic(nn.Module):
    def __init__(self, config: GANConfig):
        super().__init__()
        channels, width = config.data_shape[0], config.d_width
        self.net = nn.Sequential(nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(width, 1, 3, 1, 1))

    def forward(self, image: torch.Tensor, labels: torch.Tensor | None = None) -> DOutput:
        return DOutput(self.net(image).mean(dim=(1, 2, 3)))

    def q_parameters(self) -> list[nn.Parameter]:
        return []
