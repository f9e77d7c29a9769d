"""ProGAN's networks (Karras et al. 2018, arXiv:1710.10196): a generator and a critic that grow from 4x4 to
the full image size one resolution at a time, each new resolution faded in over the old one.

Both nets are built whole; a `level` buffer (0: 4x4, 1: 8x8, ...) says how much of them is in use and an
`alpha` buffer how far the newest resolution has faded in. They are buffers so that an exported generator,
rebuilt from its card and its state dict, renders what training reached. The paper's choices: pixel
norm after every conv of G, an equalised learning rate (weights drawn from N(0, 1) and scaled by He's
constant at run time, so Adam's step is the same relative size for every layer), minibatch std before the
critic's last block, LeakyReLU 0.2, 1x1 toRGB / fromRGB per resolution, nearest upsampling and average
pooling, and no output activation in G.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from models.nets.conditional import DOutput
from models.nets.minibatch_std import MinibatchStd

MIN_SIZE, MAX_SIZE = 4, 256
# Widths double per level down from the full resolution's width, up to 8x it: at 256 px with width 64 this
# is the paper's own layout (64 channels at 256, 128 at 128, 256 at 64, 512 from 32 down), and at the small
# sizes a CPU trains it keeps the coarse levels, where most of the image's structure is decided, wide.
_MAX_WIDENING = 8
_SLOPE = 0.2


def levels_for(size: int) -> int:
    """How many resolutions grow to `size` px: 4x4 is level 0, and each level doubles the side."""
    if size < MIN_SIZE or size > MAX_SIZE or size & (size - 1):
        raise ValueError(f"progan takes square images whose side is a power of two from {MIN_SIZE} to {MAX_SIZE} "
                         f"px; got {size}: set model.image_size to one of those")
    return int(math.log2(size)) - 1


def widths(size: int, width: int) -> list[int]:
    """Channels at each level, coarsest first: `width` at the full resolution, doubling per level down."""
    levels = levels_for(size)
    return [width * min(2 ** (levels - 1 - level), _MAX_WIDENING) for level in range(levels)]


def downsample(images: torch.Tensor, size: int) -> torch.Tensor:
    """Average-pooled to `size` px (a power-of-two fraction of the side), as the paper shows D real images."""
    factor = images.shape[-1] // size
    if factor * size != images.shape[-1] or factor < 1:
        raise ValueError(f"cannot pool {images.shape[-1]} px images to {size} px; give images of the full size or "
                         "of the current resolution")
    return F.avg_pool2d(images, factor) if factor > 1 else images


def upsample(images: torch.Tensor, size: int) -> torch.Tensor:
    # Python ints even when traced (models/export.py): a traced size would reach interpolate as a tensor.
    size, side = int(size), int(images.shape[-1])
    return F.interpolate(images, scale_factor=size // side, mode="nearest") if side != size else images


def fade_in(images: torch.Tensor, alpha: float) -> torch.Tensor:
    """Images at a new resolution faded in over their half-resolution version (nearest upsampled): what G's
    output is made of during a fade-in, so that real images do the same (the paper's section 3)."""
    if alpha >= 1:
        return images
    coarse = upsample(F.avg_pool2d(images, 2), images.shape[-1])
    return torch.lerp(coarse, images, alpha)


class EqualConv2d(nn.Module):
    """A conv whose weights are N(0, 1), scaled by gain / sqrt(fan_in) at every call (equalised learning rate)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, gain: float = math.sqrt(2)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.scale, self.padding = gain / math.sqrt(c_in * kernel * kernel), kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class EqualLinear(nn.Module):
    def __init__(self, d_in: int, d_out: int, gain: float = math.sqrt(2)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(d_out, d_in))
        self.bias = nn.Parameter(torch.zeros(d_out))
        self.scale = gain / math.sqrt(d_in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


def pixel_norm(x: torch.Tensor) -> torch.Tensor:
    """Each pixel's feature vector scaled to unit mean square: keeps G's signal from escalating when G and D
    compete (section 4.2), in place of batch norm."""
    return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


def _act(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, _SLOPE)


class _Staged(nn.Module):
    """The stage buffers and their reading, shared by G and D."""

    def __init__(self, levels: int):
        super().__init__()
        self.levels = levels
        self.register_buffer("level", torch.tensor(levels - 1))
        self.register_buffer("alpha", torch.tensor(1.0))

    def set_stage(self, level: int, alpha: float = 1.0) -> None:
        """Trains (or renders) the first `level` + 1 resolutions, the last faded in by `alpha` (0: not yet
        visible, 1: fully in)."""
        if not 0 <= level < self.levels or not 0 <= alpha <= 1:
            raise ValueError(f"stage must be a level from 0 to {self.levels - 1} and alpha in [0, 1]; got "
                             f"({level}, {alpha})")
        self.level.fill_(level)
        self.alpha.fill_(alpha if level else 1.0)  # the 4x4 level has nothing to fade in over

    def stage(self) -> tuple[int, float]:
        # A memory estimate builds the nets on the meta device, where buffers hold no values: size it whole.
        if self.level.is_meta:
            return self.levels - 1, 1.0
        return int(self.level), float(self.alpha)

    @property
    def resolution(self) -> int:
        """The side of the images the current stage makes or judges."""
        return MIN_SIZE * 2 ** self.stage()[0]


class ProGANGenerator(_Staged):
    """z to images of config.data_shape; `full_size=False` gives them at the current stage's resolution."""

    def __init__(self, config):
        channels, size = config.data_shape[0], config.data_shape[-1]
        super().__init__(levels_for(size))
        self.size, self.latent_dim = size, config.latent_dim
        w = widths(size, config.g_width)
        # The paper's first layer is a 4x4 transposed conv of the 1x1 latent, written as a linear layer: its
        # gain is divided by 4 so that it is scaled as that conv's fan-in (16 taps per input) would scale it.
        self.start = EqualLinear(config.latent_dim, w[0] * 16, gain=math.sqrt(2) / 4)
        self.start_conv = EqualConv2d(w[0], w[0], 3)
        self.blocks = nn.ModuleList(
            nn.ModuleList([EqualConv2d(w[level - 1], w[level], 3), EqualConv2d(w[level], w[level], 3)])
            for level in range(1, self.levels))
        self.to_rgb = nn.ModuleList(EqualConv2d(c, channels, 1, gain=1.0) for c in w)

    def forward(self, z: torch.Tensor, full_size: bool = True) -> torch.Tensor:
        level, alpha = self.stage()
        x = pixel_norm(_act(self.start(pixel_norm(z)).view(z.shape[0], -1, MIN_SIZE, MIN_SIZE)))
        x = pixel_norm(_act(self.start_conv(x)))
        for block in self.blocks[: max(level - 1, 0)]:
            x = self._grow(block, x)
        if level == 0:
            images = self.to_rgb[0](x)
        else:
            new = self._grow(self.blocks[level - 1], x)
            images = self.to_rgb[level](new)
            if alpha < 1:
                images = torch.lerp(upsample(self.to_rgb[level - 1](x), images.shape[-1]), images, alpha)
        if not full_size:
            return images
        # The served output: the full size whatever the stage, in the data's range (training sees the raw
        # linear output, as in the paper, so that D can push back pixels that overshoot).
        return upsample(images, self.size).clamp(-1, 1)

    @staticmethod
    def _grow(block: nn.ModuleList, x: torch.Tensor) -> torch.Tensor:
        x = upsample(x, x.shape[-1] * 2)
        for conv in block:
            x = pixel_norm(_act(conv(x)))
        return x


class ProGANDiscriminator(_Staged):
    """A critic of images at the full size or at the current stage's resolution (larger ones are pooled down)."""

    def __init__(self, config):
        channels, size = config.data_shape[0], config.data_shape[-1]
        super().__init__(levels_for(size))
        if config.pack != 1 or config.num_classes:
            raise ValueError("progan's critic judges single unlabelled images: leave model.pack and classes unset")
        w = widths(size, config.d_width)
        self.from_rgb = nn.ModuleList(EqualConv2d(channels, c, 1) for c in w)
        # Level l's block takes its features from l's width to the next coarser level's, and halves the side.
        self.blocks = nn.ModuleList(
            nn.ModuleList([EqualConv2d(w[level], w[level], 3), EqualConv2d(w[level], w[level - 1], 3)])
            for level in range(1, self.levels))
        self.mbstd = MinibatchStd(config.mbstd or 4)  # the paper's group of 4 unless the job picks another
        self.final_conv = EqualConv2d(w[0] + 1, w[0], 3)
        self.final_dense = EqualLinear(w[0] * MIN_SIZE * MIN_SIZE, w[0])
        self.score = EqualLinear(w[0], 1, gain=1.0)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> DOutput:
        level, alpha = self.stage()
        images = downsample(images, MIN_SIZE * 2**level)
        x = _act(self.from_rgb[level](images))
        if level:
            x = self._shrink(self.blocks[level - 1], x)
            if alpha < 1:
                x = torch.lerp(_act(self.from_rgb[level - 1](F.avg_pool2d(images, 2))), x, alpha)
        for block in reversed(self.blocks[: max(level - 1, 0)]):
            x = self._shrink(block, x)
        x = _act(self.final_conv(self.mbstd(x)))
        x = _act(self.final_dense(x.flatten(1)))
        return DOutput(logit=self.score(x).view(-1))

    @staticmethod
    def _shrink(block: nn.ModuleList, x: torch.Tensor) -> torch.Tensor:
        for conv in block:
            x = _act(conv(x))
        return F.avg_pool2d(x, 2)

    def q_parameters(self) -> list[nn.Parameter]:
        return []
