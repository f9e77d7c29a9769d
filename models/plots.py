"""Pictures of samples: a grid of images, or a scatter plot of 2-D points."""

from __future__ import annotations

import torch
from PIL import Image, ImageDraw

from models.sampling import grid


def scatter(points: torch.Tensor, size: int = 256, means: torch.Tensor | None = None) -> torch.Tensor:
    """Plots 2-D points as a uint8 1 x size x size image, framing them with a margin."""
    points = points.detach().float().cpu()
    reference = means if means is not None else points
    extent = max(float(reference.abs().max()) * 1.25, 1e-3)
    image = Image.new("L", (size, size), 255)
    draw = ImageDraw.Draw(image)
    scale = (size - 1) / (2 * extent)
    for x, y in points.tolist():
        px, py = (x + extent) * scale, (extent - y) * scale
        draw.point((px, py), fill=0)
    if means is not None:
        for x, y in means.tolist():
            px, py = (x + extent) * scale, (extent - y) * scale
            draw.ellipse((px - 3, py - 3, px + 3, py + 3), outline=128)
    return torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8).view(1, size, size)


def picture(samples: torch.Tensor, nrow: int | None = None) -> torch.Tensor:
    """uint8 NCHW images become a grid; float N x 2 points become a scatter plot."""
    if samples.dim() == 2:
        return scatter(samples)
    return samples[0] if samples.shape[0] == 1 else grid(samples, nrow)
