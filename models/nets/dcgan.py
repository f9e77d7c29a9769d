"""Convolutional backbones after DCGAN (Radford et al. 2015, arXiv:1511.06434).

The paper's guidelines: strided (transposed) convolutions instead of pooling, BatchNorm in both nets
(except G's output and D's input layer), no fully-connected hidden layers, ReLU in G with Tanh at the
output, LeakyReLU(0.2) in D. Weights start from N(0, 0.02), BatchNorm scales from N(1, 0.02), as in
the reference implementation (pytorch/examples dcgan). Other families reuse these backbones with a
different normalisation in D: none/layer norm for a WGAN-GP critic, spectral norm for SNGAN.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from models.nets.minibatch_std import MinibatchStd

# Spatial size of the first feature map and how many 2x upsamplings reach each supported image size.
_LAYOUT = {28: (7, 2), 32: (4, 3), 64: (4, 4)}
SUPPORTED_SIZES = tuple(_LAYOUT)


def _layout(image_size: int) -> tuple[int, int]:
    if image_size not in _LAYOUT:
        raise ValueError(f"image_size must be one of {SUPPORTED_SIZES}; got {image_size}")
    return _LAYOUT[image_size]


class ConvGenerator(nn.Module):
    """Maps an input vector (latents plus any conditioning) to images in [-1, 1]."""

    def __init__(self, in_dim: int, channels: int, image_size: int, width: int = 64):
        super().__init__()
        base, n_up = _layout(image_size)
        widths = [width * 2 ** i for i in reversed(range(n_up))]  # e.g. [4w, 2w, w] for 32x32
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(in_dim, widths[0], base, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(True),
        ]
        for c_in, c_out in zip(widths, widths[1:], strict=False):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x[:, :, None, None])


class ConvBody(nn.Module):
    """D without its output layer: images (plus label maps, if any) to a feature vector."""

    def __init__(self, channels: int, image_size: int, width: int = 64, norm: str = "batch", mbstd: int = 0):
        super().__init__()
        base, n_down = _layout(image_size)
        widths = [width * 2 ** i for i in range(n_down)]  # e.g. [w, 2w, 4w] for 32x32
        wrap = spectral_norm if norm == "spectral" else (lambda m: m)
        layers: list[nn.Module] = [wrap(nn.Conv2d(channels, widths[0], 4, 2, 1, bias=norm != "batch")),
                                   nn.LeakyReLU(0.2, True)]
        for i, (c_in, c_out) in enumerate(zip(widths, widths[1:], strict=False)):
            if mbstd and i == len(widths) - 2:  # before D's last block, as in ProGAN
                layers.append(MinibatchStd(mbstd))
                c_in += 1
            layers += [wrap(nn.Conv2d(c_in, c_out, 4, 2, 1, bias=norm != "batch")), *_norm(norm, c_out),
                       nn.LeakyReLU(0.2, True)]
        self.net = nn.Sequential(*layers, nn.Flatten())
        self.features = widths[-1] * base * base

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _norm(kind: str, channels: int) -> list[nn.Module]:
    if kind == "batch":
        return [nn.BatchNorm2d(channels)]
    if kind == "layer":  # WGAN-GP: BatchNorm would make the penalty's per-sample gradients wrong
        return [nn.GroupNorm(1, channels)]
    return []


def init_weights(module: nn.Module) -> None:
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)) and not hasattr(module, "parametrizations"):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
