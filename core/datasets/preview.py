"""Preview images of a data set: a grid of images, or a scatter plot of 2-D points drawn with Pillow."""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image, ImageDraw

from models.sampling import grid, png_bytes

PREVIEW_IMAGES = 64
SCATTER_POINTS = 2_500
SCATTER_SIDE = 256
# Tableau-like colours, one per mode (cycled), so collapsed modes are visible at a glance.
_PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
            (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]


def spread(n: int, k: int) -> np.ndarray:
    """k indices spread evenly over 0..n-1, so a class-ordered set shows every class."""
    return np.unique(np.linspace(0, n - 1, min(n, k)).round().astype(np.int64))


def image_grid_png(images: torch.Tensor, pick: bool = True) -> bytes:
    """Up to PREVIEW_IMAGES images spread over the set, 8 per row; all of them, in order, without `pick`."""
    picked = images[torch.from_numpy(spread(len(images), PREVIEW_IMAGES))] if pick else images
    return png_bytes(grid(picked, nrow=8))


def scatter_png(points: torch.Tensor, labels: torch.Tensor) -> bytes:
    picked = spread(len(points), SCATTER_POINTS)
    xy, modes = points[picked].numpy(), labels[picked].numpy()
    low, high = xy.min(axis=0), xy.max(axis=0)
    margin = 0.08 * float((high - low).max() or 1.0)
    low, span = low - margin, float((high - low).max() + 2 * margin)
    pixels = (xy - low) / span * (SCATTER_SIDE - 1)
    canvas = Image.new("RGB", (SCATTER_SIDE, SCATTER_SIDE), "white")
    draw = ImageDraw.Draw(canvas)
    for (x, y), mode in zip(pixels, modes, strict=True):
        y = SCATTER_SIDE - 1 - y  # y grows upwards in a plot, downwards in an image
        draw.ellipse((x - 1.5, y - 1.5, x + 1.5, y + 1.5), fill=_PALETTE[int(mode) % len(_PALETTE)])
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()
