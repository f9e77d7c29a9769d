"""Networks that take an image and give an image: pix2pix's U-Net and PatchGAN, CycleGAN's ResNet generator
(two of them, one per direction), SRGAN's SRResNet and its discriminator.

Every generator here has `forward(x, direction="a2b")`, so serving runs any translator the same way; a
one-way family accepts only "a2b". Images are float in [-1, 1], NCHW, as everywhere in `models`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from models.nets.conditional import DOutput
from models.nets.dcgan import init_weights

DIRECTIONS = ("a2b", "b2a")


def _norm(kind: str, channels: int) -> nn.Module:
    # CycleGAN normalises per image (instance norm); pix2pix and SRGAN use batch norm.
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False)
    return nn.BatchNorm2d(channels)


def halvings(size: int, most: int) -> int:
    """How many times a side of `size` halves exactly, at most `most` times and never below 1 px."""
    count = 0
    while count < most and size % 2 == 0 and size > 1:
        size //= 2
        count += 1
    return count


class _OneWay(nn.Module):
    """A generator that translates A to B only."""

    def forward(self, x: torch.Tensor, direction: str = "a2b") -> torch.Tensor:
        if direction != "a2b":
            raise ValueError(f"this generator translates a2b only; got direction {direction!r}")
        return self.net_forward(x)

    def net_forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class _UNetLevel(nn.Module):
    """One level of the U-Net: down, the levels inside, up, and the skip joining input and output."""

    def __init__(self, outer: int, inner: int, inside: nn.Module | None, *, first: bool, norm: str,
                 dropout: bool, in_channels: int | None = None, out_channels: int | None = None):
        super().__init__()
        in_channels = in_channels or outer
        down = [nn.Conv2d(in_channels, inner, 4, 2, 1, bias=False)]
        if not first:
            down = [nn.LeakyReLU(0.2, True), *down]
        if not first and inside is not None:  # the innermost level has no norm: it is 1 px wide at 256 px
            down.append(_norm(norm, inner))
        up_in = inner if inside is None else inner * 2
        up: list[nn.Module] = [nn.ReLU(True), nn.ConvTranspose2d(up_in, out_channels or outer, 4, 2, 1,
                                                                  bias=first)]
        if first:
            up.append(nn.Tanh())
        else:
            up.append(_norm(norm, outer))
            if dropout:  # pix2pix's noise: dropout in the decoder, at training and at test time alike
                up.append(nn.Dropout(0.5))
        self.first = first
        self.down, self.inside, self.up = nn.Sequential(*down), inside, nn.Sequential(*up)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.down(x)
        if self.inside is not None:
            y = self.inside(y)
        y = self.up(y)
        return y if self.first else torch.cat([x, y], dim=1)


class UNetGenerator(_OneWay):
    """pix2pix's U-Net (Isola et al. 2017): 4x4 stride-2 convs down to the smallest side the image halves to
    (1 px at 256 px, after 8 levels; 7 px for 28 px digits), transposed convs back up, each level's encoder
    output joined to its decoder input. Channels double per level from `g_width`, up to 8x."""

    def __init__(self, config):
        super().__init__()
        out_c, size = config.data_shape[0], config.data_shape[-1]
        in_c = config.source_shape[0]
        levels = halvings(size, 8)
        if levels < 2:
            raise ValueError(f"the U-Net needs images whose side halves at least twice; got {size} px")
        width = config.g_width
        channels = [min(width * 2**i, width * 8) for i in range(levels)]
        level: nn.Module | None = None
        for i in reversed(range(1, levels)):
            inner_most = level is None
            level = _UNetLevel(channels[i - 1], channels[i], level, first=False, norm="batch",
                               dropout=not inner_most and i >= levels - 4)
        self.net = _UNetLevel(out_c, channels[0], level, first=True, norm="batch", dropout=False,
                              in_channels=in_c, out_channels=out_c)
        self.apply(init_weights)

    def net_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class PatchDiscriminator(nn.Module):
    """PatchGAN (Isola et al. 2017): a fully convolutional D whose every output judges one patch. `layers`
    stride-2 convs (3 at 64 px and up: 70x70 patches at 256 px; fewer for small images, so that a patch
    stays smaller than the image), then two stride-1 convs. pix2pix's D sees the input beside the output
    (`in_channels` = both); CycleGAN's sees one image."""

    def __init__(self, in_channels: int, size: int, width: int, norm: str):
        super().__init__()
        layers = max(1, min(3, int(math.log2(size)) - 3))
        blocks: list[nn.Module] = [nn.Conv2d(in_channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        channels = width
        for i in range(1, layers + 1):
            out = width * min(2**i, 8)
            stride = 2 if i < layers else 1
            blocks += [nn.Conv2d(channels, out, 4, stride, 1, bias=False), _norm(norm, out), nn.LeakyReLU(0.2, True)]
            channels = out
        blocks.append(nn.Conv2d(channels, 1, 4, 1, 1))
        self.net = nn.Sequential(*blocks)
        self.apply(init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Pix2PixDiscriminator(nn.Module):
    """A PatchGAN judging (input, output) pairs: each patch logit is one term of the loss."""

    def __init__(self, config):
        super().__init__()
        channels = config.source_shape[0] + config.data_shape[0]
        self.patches = PatchDiscriminator(channels, config.data_shape[-1], config.d_width, "batch")

    def forward(self, source: torch.Tensor, target: torch.Tensor) -> DOutput:
        return DOutput(self.patches(torch.cat([source, target], dim=1)))

    def q_parameters(self) -> list[nn.Parameter]:
        return []


class _ResidualBlock(nn.Module):
    def __init__(self, channels: int, norm: str, activation: nn.Module, padding: str):
        super().__init__()
        pad = nn.ReflectionPad2d(1) if padding == "reflect" else nn.Identity()
        inner = 0 if padding == "reflect" else 1
        self.body = nn.Sequential(
            pad, nn.Conv2d(channels, channels, 3, 1, inner, bias=False), _norm(norm, channels), activation,
            nn.ReflectionPad2d(1) if padding == "reflect" else nn.Identity(),
            nn.Conv2d(channels, channels, 3, 1, inner, bias=False), _norm(norm, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """CycleGAN's generator (Johnson et al. 2016's network as Zhu et al. 2017 use it): a 7x7 conv, two
    stride-2 convs, `blocks` residual blocks (6 below 256 px, 9 from 256), two transposed convs up and a
    7x7 conv to the output; instance norm, reflection padding."""

    def __init__(self, in_channels: int, out_channels: int, width: int, blocks: int):
        super().__init__()
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, width, 7, bias=False),
                                   _norm("instance", width), nn.ReLU(True)]
        channels = width
        for _ in range(2):
            layers += [nn.Conv2d(channels, channels * 2, 3, 2, 1, bias=False), _norm("instance", channels * 2),
                       nn.ReLU(True)]
            channels *= 2
        layers += [_ResidualBlock(channels, "instance", nn.ReLU(True), "reflect") for _ in range(blocks)]
        for _ in range(2):
            layers += [nn.ConvTranspose2d(channels, channels // 2, 3, 2, 1, output_padding=1, bias=False),
                       _norm("instance", channels // 2), nn.ReLU(True)]
            channels //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(channels, out_channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def cycle_blocks(config) -> int:
    return config.blocks or (9 if config.data_shape[-1] >= 256 else 6)


class CycleGenerators(nn.Module):
    """Both of CycleGAN's generators in one module, so one checkpoint serves both directions: `a2b` maps
    domain A to B (G in the paper), `b2a` maps B to A (F)."""

    def __init__(self, config):
        super().__init__()
        a, b = config.source_shape[0], config.data_shape[0]
        if config.data_shape[-1] % 4:
            raise ValueError(f"CycleGAN's generator halves the image twice: its side must be a multiple of 4; "
                             f"got {config.data_shape[-1]}")
        self.a2b = ResnetGenerator(a, b, config.g_width, cycle_blocks(config))
        self.b2a = ResnetGenerator(b, a, config.g_width, cycle_blocks(config))

    def forward(self, x: torch.Tensor, direction: str = "a2b") -> torch.Tensor:
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}; got {direction!r}")
        return self.a2b(x) if direction == "a2b" else self.b2a(x)


class CycleDiscriminators(nn.Module):
    """D_B judges images of domain B (real, or a2b's), D_A those of domain A; 70x70-style PatchGANs."""

    def __init__(self, config):
        super().__init__()
        size = config.data_shape[-1]
        self.a = PatchDiscriminator(config.source_shape[0], size, config.d_width, "instance")
        self.b = PatchDiscriminator(config.data_shape[0], size, config.d_width, "instance")

    def q_parameters(self) -> list[nn.Parameter]:
        return []


class SRResNet(_OneWay):
    """SRGAN's generator (Ledig et al. 2017): a 9x9 conv, `blocks` residual blocks (conv-BN-PReLU-conv-BN,
    16 in the paper), a conv-BN joined to the first conv's output, then one sub-pixel convolution
    (conv to 4x the channels, PixelShuffle(2), PReLU) per doubling, and a 9x9 conv to the image."""

    def __init__(self, config):
        super().__init__()
        in_c, out_c = config.source_shape[0], config.data_shape[0]
        scale = config.data_shape[-1] // config.source_shape[-1]
        width, blocks = config.g_width, config.blocks or 16
        self.head = nn.Sequential(nn.Conv2d(in_c, width, 9, 1, 4), nn.PReLU(width))
        self.body = nn.Sequential(*[_ResidualBlock(width, "batch", nn.PReLU(width), "zeros") for _ in range(blocks)],
                                  nn.Conv2d(width, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width))
        upsample: list[nn.Module] = []
        for _ in range(int(math.log2(scale))):
            upsample += [nn.Conv2d(width, width * 4, 3, 1, 1), nn.PixelShuffle(2), nn.PReLU(width)]
        self.tail = nn.Sequential(*upsample, nn.Conv2d(width, out_c, 9, 1, 4), nn.Tanh())

    def net_forward(self, x: torch.Tensor) -> torch.Tensor:
        head = self.head(x)
        return self.tail(head + self.body(head))


class SRDiscriminator(nn.Module):
    """SRGAN's D: eight 3x3 convs (`d_width` channels doubling every other conv, stride 2 on every second),
    LeakyReLU 0.2 and batch norm, then a dense layer of 16x`d_width` and one logit. The paper flattens a
    96 px input's last feature map; a global average pool lets the same D take any size."""

    def __init__(self, config):
        super().__init__()
        width, channels = config.d_width, config.data_shape[0]
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 3, 1, 1), nn.LeakyReLU(0.2, True)]
        current = width
        for i in range(1, 8):
            out = width * 2 ** (i // 2)
            layers += [nn.Conv2d(current, out, 3, 2 if i % 2 else 1, 1, bias=False), nn.BatchNorm2d(out),
                       nn.LeakyReLU(0.2, True)]
            current = out
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Sequential(nn.Linear(current, width * 16), nn.LeakyReLU(0.2, True), nn.Linear(width * 16, 1))

    def forward(self, x: torch.Tensor) -> DOutput:
        return DOutput(self.head(self.features(x)).view(-1))

    def q_parameters(self) -> list[nn.Parameter]:
        return []
