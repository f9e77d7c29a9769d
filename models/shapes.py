"""`shapes`: a built-in RGB data set drawn procedurally, so that the colour families can train without an upload.

Each 64 x 64 image is one filled shape (circle, square, triangle or cross: the label) on a textured background.
What varies, and at which scale, is chosen so that a style-based generator has something to separate:
- coarse: the kind of shape, its size (radius 11-22 px), place (centre within 20-44 px) and rotation;
- fine: the shape's colour (any hue, saturated), the background's two-colour gradient (random direction) and
  the faint stripes laid over it (random period 4-10 px and orientation).
Edges are anti-aliased (a 1 px soft ramp on the signed distance). Everything is drawn from one seeded generator
with tensor operations, so the set is the same on every machine and takes well under a second to make.
"""

from __future__ import annotations

import math

import torch

SHAPE_CLASSES = ("circle", "square", "triangle", "cross")
SIZE = 64


def draw_shapes(count: int, seed: int = 0, size: int = SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` images (uint8 N x 3 x size x size) and their labels (indices into SHAPE_CLASSES), in turn."""
    rng = torch.Generator().manual_seed(seed)
    labels = torch.arange(count) % len(SHAPE_CLASSES)

    def uniform(low: float, high: float, *shape: int) -> torch.Tensor:
        return low + (high - low) * torch.rand(count, *shape, generator=rng)

    ys, xs = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    scale = size / SIZE
    centre = uniform(20 * scale, 44 * scale, 2)
    radius = uniform(11 * scale, 22 * scale).view(-1, 1, 1)
    angle = uniform(0, 2 * math.pi).view(-1, 1, 1)
    dx, dy = xs - centre[:, 0].view(-1, 1, 1), ys - centre[:, 1].view(-1, 1, 1)
    u = dx * torch.cos(angle) + dy * torch.sin(angle)  # the shape's own axes
    v = -dx * torch.sin(angle) + dy * torch.cos(angle)
    inside = _signed_inside(labels, u, v, radius)
    coverage = (inside + 0.5).clamp(0, 1).unsqueeze(1)  # a 1 px ramp across the edge

    shape_colour = _saturated(uniform(0, 1), uniform(0.7, 1.0), uniform(0.75, 1.0))
    background = _background(count, size, rng)
    image = background.lerp_(shape_colour.view(-1, 3, 1, 1).expand_as(background), coverage)
    return image.mul_(255).round_().clamp_(0, 255).to(torch.uint8), labels


def _signed_inside(labels: torch.Tensor, u: torch.Tensor, v: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    """How far inside its shape each pixel is, in px (negative outside), per image's label; each kind is
    computed on its own images only."""
    inside = torch.empty_like(u)
    for kind, distance in enumerate((_circle, _square, _triangle, _cross)):
        chosen = labels == kind
        inside[chosen] = distance(u[chosen], v[chosen], radius[chosen])
    return inside


def _circle(u, v, r):
    return r - torch.sqrt(u * u + v * v)


def _square(u, v, r):
    return 0.85 * r - torch.maximum(u.abs(), v.abs())  # about a circle's area: half-side 0.89 r would match it


def _triangle(u, v, r):
    # Equilateral: inside all three edges, each 0.6 r from the centre (a circumradius of 1.2 r keeps its area
    # near the other shapes').
    edges = [0.6 * r - (u * math.cos(a) + v * math.sin(a)) for a in (math.pi / 2, 7 * math.pi / 6, 11 * math.pi / 6)]
    return torch.minimum(torch.minimum(edges[0], edges[1]), edges[2])


def _cross(u, v, r):
    arm = 0.32 * r
    return torch.maximum(torch.minimum(arm - u.abs(), r - v.abs()), torch.minimum(arm - v.abs(), r - u.abs()))


def _background(count: int, size: int, rng: torch.Generator) -> torch.Tensor:
    """A gradient between two muted colours (saturation at most 0.45, below any shape's 0.7) in a random
    direction, with faint stripes over it."""
    def draw(*shape: int) -> torch.Tensor:
        return torch.rand(count, *shape, generator=rng)

    first = _saturated(draw(), 0.15 + 0.3 * draw(), 0.2 + 0.5 * draw())
    second = _saturated(draw(), 0.15 + 0.3 * draw(), 0.2 + 0.5 * draw())
    ys, xs = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    direction = draw() * 2 * math.pi
    along = xs * torch.cos(direction).view(-1, 1, 1) + ys * torch.sin(direction).view(-1, 1, 1)
    low, high = along.amin(dim=(1, 2), keepdim=True), along.amax(dim=(1, 2), keepdim=True)
    along = along.sub_(low).div_(high - low).unsqueeze(1)
    period = (4 + 6 * draw()).view(-1, 1, 1) / size
    stripe_angle = (draw() * math.pi).view(-1, 1, 1)
    stripes = (xs * torch.cos(stripe_angle) + ys * torch.sin(stripe_angle)).div_(period).mul_(2 * math.pi)
    stripes = stripes.sin_().mul_(0.06).unsqueeze(1)
    gradient = first.view(-1, 3, 1, 1) + (second - first).view(-1, 3, 1, 1) * along
    return gradient.add_(stripes).clamp_(0, 1)


def _saturated(hue: torch.Tensor, saturation: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """HSV to RGB, N x 3 in [0, 1]."""
    k = torch.stack([(5 + hue * 6) % 6, (3 + hue * 6) % 6, (1 + hue * 6) % 6], dim=1)
    return value.unsqueeze(1) - value.unsqueeze(1) * saturation.unsqueeze(1) * \
        torch.clamp(torch.minimum(k, 4 - k), 0, 1)
