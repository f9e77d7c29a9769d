"""StyleGAN2's networks (Karras et al. 2020, arXiv:1912.04958), in plain PyTorch.

G: a mapping network turns z into w; w drives every layer of a synthesis network that starts from a learned 4x4
constant, through weight modulation and demodulation (the paper's replacement for AdaIN, which caused its
droplet artefacts), with per-pixel noise and an RGB output at every resolution summed up the levels (the
"skip" generator). D: residual blocks down to 4x4 (config F; stylegan2-ada's small-image config has plain ones,
`d_architecture` "orig"), minibatch std, two fully connected layers. Every layer uses an
equalised learning rate (weights N(0, 1), He's constant applied at run time).

Resampling is plain: bilinear 2x upsampling in G (with align_corners=False it is the paper's [1, 3, 3, 1] FIR
filter away from the border; the border is replicated rather than zero padded) and 2x2 average pooling in D
(a box filter where the paper blurs with [1, 3, 3, 1]); both need no custom kernel.

Each w input ("ws" index) drives one modulated layer: index 0 the 4x4 conv, then for each level its first
(upsampling) conv, its second conv, and its toRGB, which shares its w with the next level's first conv, as in
the paper's code: 2 * log2(size) - 2 ws in all.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from models.nets.conditional import DOutput
from models.nets.minibatch_std import MinibatchStd

if TYPE_CHECKING:
    from models.family import GANConfig

IMAGE_SIZES = (4, 8, 16, 32, 64, 128, 256)
# Channels double per level down from the top one and stop at 8x: per-level compute (size^2 x channels^2) then
# stays flat instead of the low levels taking most weights; stylegan2-ada's 256 px configs have the same 8x
# ratio (64 channels at the top, 512 at most).
_WIDEST = 8
W_AVG_BETA = 0.995  # the tracked mean of w, for truncation (the paper's code)
_GAIN = math.sqrt(2)  # keeps unit variance through leaky ReLU(0.2), as the paper's layers do


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2) * _GAIN


def _normalise(x: torch.Tensor) -> torch.Tensor:
    """Unit second moment per row (the paper's pixel norm of z), so w does not depend on z's scale."""
    return x * (x.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()


def num_ws(size: int) -> int:
    return 2 * int(math.log2(size)) - 2


def style_layers(config: GANConfig) -> list[int]:
    """The resolution of the feature maps each ws index modulates: 4, 4, 8, 8, ..., size, size (an upsampling
    conv and a toRGB scale the features of the level below the one they output). The paper's style-mixing
    split reads it: coarse 4-8, middle 16-32, fine 64 up."""
    return [4 * 2 ** (i // 2) for i in range(num_ws(_image_size(config)))]


def _image_size(config: GANConfig) -> int:
    _, h, w = config.data_shape
    if h != w or h not in IMAGE_SIZES:
        raise ValueError(f"stylegan2 takes square images of {', '.join(map(str, IMAGE_SIZES))} px; got {h}x{w}")
    return h


def _widths(size: int, width: int, top_scale: int = 1) -> dict[int, int]:
    """Channels per resolution: `width` at the top, doubling per level down, at most _WIDEST x width; and at least
    `top_scale` x width on every level."""
    return {4 * 2**i: max(top_scale * width, min(width * size // (4 * 2**i), _WIDEST * width))
            for i in range(int(math.log2(size)) - 1)}


class EqualLinear(nn.Module):
    """A linear layer with an equalised learning rate (Karras et al. 2018): Adam's steps are then the same size
    relative to every layer's weights. `lr_mul` slows a layer down (the mapping network's 0.01)."""

    def __init__(self, in_features: int, out_features: int, bias_init: float = 0.0, lr_mul: float = 1.0,
                 activate: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), bias_init / lr_mul))
        self.weight_gain, self.lr_mul, self.activate = lr_mul / math.sqrt(in_features), lr_mul, activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight * self.weight_gain, self.bias * self.lr_mul)
        return _lrelu(x) if self.activate else x


class EqualConv2d(nn.Module):
    """A convolution with an equalised learning rate; `down` halves the size first (2x2 mean), which is cheaper
    than convolving at full size and pooling after."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, bias: bool = True, activate: bool = True,
                 down: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1 / math.sqrt(in_channels * kernel * kernel)
        self.activate, self.down = activate, down

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.down:
            x = F.avg_pool2d(x, 2)
        x = F.conv2d(x, self.weight * self.weight_gain, self.bias, padding=self.weight.shape[-1] // 2)
        return _lrelu(x) if self.activate else x


class ModulatedConv(nn.Module):
    """The paper's modulated convolution: w's style s scales the weights per input channel, and demodulation
    rescales each output channel by 1 / sqrt(sum (W s)^2), so that unit-variance inputs give unit-variance
    outputs whatever the style. Written as scaling the activations before and after one ordinary convolution
    (equal to the per-sample weights of the paper's grouped convolution, and what stylegan2-ada trains with),
    so a batch shares one conv call."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, kernel: int, demodulate: bool = True,
                 up: bool = False):
        super().__init__()
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)  # styles start at 1: plain convolutions
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel))
        self.demodulate, self.up = demodulate, up
        # Without demodulation (toRGB) the equalised-LR constant is what keeps the output's scale.
        self.style_gain = 1.0 if demodulate else 1 / math.sqrt(in_channels * kernel * kernel)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.style_gain
        x = x * styles.to(x.dtype)[:, :, None, None]
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        x = F.conv2d(x, self.weight.to(x.dtype), padding=self.weight.shape[-1] // 2)
        if self.demodulate:  # in float32: a sum of squares over in_channels x kernel^2 terms
            energy = self.weight.float().square().sum(dim=(2, 3))  # out x in
            scale = ((styles.float().square()[:, None, :] * energy).sum(dim=2) + 1e-8).rsqrt()
            x = x * scale.to(x.dtype)[:, :, None, None]
        return x


class SynthesisLayer(nn.Module):
    """A modulated 3x3 conv, then noise (learned strength, starting at 0), bias and leaky ReLU. `noise_const` is
    the fixed map eval mode uses, so a served model gives the same pixels for the same w."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, up: bool):
        super().__init__()
        self.conv = ModulatedConv(in_channels, out_channels, w_dim, 3, up=up)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("noise_const", torch.randn(1, 1, resolution, resolution))
        self.resolution = resolution

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        x = self.conv(x, w)
        if noise is None:
            noise = torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device) if self.training else self.noise_const
        x = x + (noise * self.noise_strength).to(x.dtype) + self.bias.to(x.dtype)[:, None, None]
        return _lrelu(x)


class ToRGB(nn.Module):
    def __init__(self, in_channels: int, channels: int, w_dim: int):
        super().__init__()
        self.conv = ModulatedConv(in_channels, channels, w_dim, 1, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.conv(x, w) + self.bias.to(x.dtype)[:, None, None]


class StyleGenerator(nn.Module):
    """z (+ labels) -> w (mapping) -> ws, one per modulated layer (truncation, style mixing) -> images
    (synthesis). Training mode: the mapping updates `w_avg`, synthesis draws fresh noise unless given some (the
    trainer gives noise from its own RNG), and images are unbounded as in the paper. Eval mode: fixed noise and
    images clamped to [-1, 1]."""

    def __init__(self, config: GANConfig):
        super().__init__()
        size = _image_size(config)
        if config.mapping_layers < 1:
            raise ValueError(f"mapping_layers must be at least 1; got {config.mapping_layers}")
        self.latent_dim = self.w_dim = config.latent_dim
        self.num_classes = config.num_classes if config.conditions_generator else 0
        self.num_ws = num_ws(size)
        # stylegan2-ada's conditional mapping: a class embedding, normalised like z, joined to it.
        self.embed = nn.Embedding(self.num_classes, self.w_dim) if self.num_classes else None
        in_dim = self.latent_dim + (self.w_dim if self.num_classes else 0)
        self.mapping_net = nn.Sequential(*[EqualLinear(in_dim if i == 0 else self.w_dim, self.w_dim, lr_mul=0.01,
                                                       activate=True) for i in range(config.mapping_layers)])
        self.register_buffer("w_avg", torch.zeros(self.w_dim))

        if config.g_top_scale < 1:
            raise ValueError(f"g_top_scale must be at least 1; got {config.g_top_scale}")
        widths, channels = _widths(size, config.g_width, config.g_top_scale), config.data_shape[0]
        self.const = nn.Parameter(torch.randn(widths[4], 4, 4))
        layers, to_rgb = [SynthesisLayer(widths[4], widths[4], self.w_dim, 4, up=False)], [
            ToRGB(widths[4], channels, self.w_dim)]
        for res in list(widths)[1:]:
            layers += [SynthesisLayer(widths[res // 2], widths[res], self.w_dim, res, up=True),
                       SynthesisLayer(widths[res], widths[res], self.w_dim, res, up=False)]
            to_rgb.append(ToRGB(widths[res], channels, self.w_dim))
        self.layers, self.to_rgb = nn.ModuleList(layers), nn.ModuleList(to_rgb)

    def mapping(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """(N, latent_dim) -> w (N, w_dim), untruncated."""
        x = _normalise(z)
        if self.embed is not None:
            if labels is None:
                raise ValueError(f"this stylegan2 is conditional: pass labels (class indices 0-{self.num_classes - 1})")
            x = torch.cat([x, _normalise(self.embed(labels)).to(x.dtype)], dim=1)
        w = self.mapping_net(x)
        if self.training:
            with torch.no_grad():
                self.w_avg.copy_(w.detach().float().mean(dim=0).lerp(self.w_avg, W_AVG_BETA))
        return w

    def truncate(self, w: torch.Tensor, psi: torch.Tensor | float | None = None,
                 cutoff: torch.Tensor | int | None = None) -> torch.Tensor:
        """w (N, w_dim) or ws (N, num_ws, w_dim) -> ws (N, num_ws, w_dim). With `psi` (N,): w_avg + psi (w - w_avg)
        in the layers below `cutoff` (N,) (every layer when None); the others are left as they are."""
        ws = w.unsqueeze(1).expand(-1, self.num_ws, -1) if w.dim() == 2 else w
        if ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"ws must have shape (N, {self.num_ws}, {self.w_dim}); got {tuple(w.shape)}")
        if psi is None:
            return ws
        n = ws.shape[0]
        psi = torch.as_tensor(psi, dtype=ws.dtype, device=ws.device).expand(n)
        layer = torch.arange(self.num_ws, device=ws.device)
        if cutoff is None:
            truncated = torch.ones(n, self.num_ws, dtype=torch.bool, device=ws.device)
        else:
            truncated = layer < torch.as_tensor(cutoff, device=ws.device).expand(n)[:, None]
        # lerp gives w exactly at psi 1 and w_avg exactly at psi 0.
        moved = torch.lerp(self.w_avg.to(ws.dtype).expand_as(ws), ws, psi[:, None, None].expand_as(ws))
        return torch.where(truncated[:, :, None], moved, ws)

    def synthesis(self, ws: torch.Tensor, noise: list[torch.Tensor] | None = None) -> torch.Tensor:
        """ws (N, num_ws, w_dim) -> images; `noise`: one map per layer ((N or 1, 1, res, res), as draw_noise
        gives) in place of the built-in noise."""
        if ws.dim() != 3 or ws.shape[1] != self.num_ws:
            raise ValueError(f"ws must have shape (N, {self.num_ws}, {self.w_dim}); got {tuple(ws.shape)}")
        if noise is not None and len(noise) != len(self.layers):
            raise ValueError(f"noise must hold {len(self.layers)} maps, one per layer; got {len(noise)}")
        noise = noise if noise is not None else [None] * len(self.layers)
        x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
        x = self.layers[0](x, ws[:, 0], noise[0])
        image = self.to_rgb[0](x, ws[:, 1])
        for level in range(1, len(self.to_rgb)):
            i = 2 * level - 1
            x = self.layers[i](x, ws[:, i], noise[i])
            x = self.layers[i + 1](x, ws[:, i + 1], noise[i + 1])
            image = F.interpolate(image, scale_factor=2, mode="bilinear", align_corners=False) \
                + self.to_rgb[level](x, ws[:, i + 2])
        return image if self.training else image.clamp(-1, 1)

    def draw_noise(self, n: int, generator: torch.Generator) -> list[torch.Tensor]:
        """Fresh noise maps for every layer, from `generator` (on its device)."""
        return [torch.randn(n, 1, layer.resolution, layer.resolution, generator=generator, device=generator.device)
                for layer in self.layers]

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None, psi: torch.Tensor | float | None = None,
                cutoff: torch.Tensor | int | None = None) -> torch.Tensor:
        return self.synthesis(self.truncate(self.mapping(z, labels), psi, cutoff))


D_ARCHITECTURES = ("resnet", "orig")


class _DBlock(nn.Module):
    """Two 3x3 convs, the second halving the size; in the residual block (config F) beside a 1x1 skip, summed with
    1/sqrt(2) so the variance holds."""

    def __init__(self, in_channels: int, out_channels: int, residual: bool):
        super().__init__()
        self.conv0 = EqualConv2d(in_channels, in_channels, 3)
        self.conv1 = EqualConv2d(in_channels, out_channels, 3, down=True)
        self.skip = EqualConv2d(in_channels, out_channels, 1, bias=False, activate=False, down=True) \
            if residual else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.skip is None:
            return self.conv1(self.conv0(x))
        return (self.skip(x) + self.conv1(self.conv0(x))) * math.sqrt(0.5)


class StyleDiscriminator(nn.Module):
    """fromRGB at the top resolution, blocks down to 4x4 (residual or plain: config.d_architecture), minibatch std
    (config.mbstd, the recipe's 4; 0: off), a 3x3 conv and two fully connected layers. With classes, a projection
    (Miyato & Koyama 2018): the score plus <embed(y), features> / sqrt(features) (the equalised-LR scale of an N(0, 1)
    embedding)."""

    def __init__(self, config: GANConfig):
        super().__init__()
        size = _image_size(config)
        if config.pack > 1:
            raise ValueError("stylegan2's D judges one image at a time: leave pack at 1 (minibatch std sees the "
                             "batch's spread)")
        if config.d_architecture not in D_ARCHITECTURES:
            raise ValueError(f"stylegan2's D is one of {', '.join(D_ARCHITECTURES)}; got {config.d_architecture!r}")
        widths = _widths(size, config.d_width)
        self.from_rgb = EqualConv2d(config.data_shape[0], widths[size], 1)
        self.blocks = nn.Sequential(*[_DBlock(widths[res], widths[res // 2], config.d_architecture == "resnet")
                                      for res in reversed(list(widths)[1:])])
        self.mbstd = MinibatchStd(config.mbstd) if config.mbstd else None
        features = widths[4]
        self.conv = EqualConv2d(features + (1 if self.mbstd else 0), features, 3)
        self.fc = EqualLinear(features * 16, features, activate=True)
        self.out = EqualLinear(features, 1)
        self.projection = nn.Embedding(config.num_classes, features) if config.conditioning == "projection" else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> DOutput:
        x = self.blocks(self.from_rgb(x))
        if self.mbstd is not None:
            x = self.mbstd(x)
        features = self.fc(self.conv(x).flatten(1))
        logit = self.out(features).view(-1)
        if self.projection is not None:
            embedded = self.projection(labels).to(features.dtype)
            logit = logit + (embedded * features).sum(dim=1) / math.sqrt(features.shape[1])
        return DOutput(logit)

    def q_parameters(self) -> list[nn.Parameter]:
        return []
