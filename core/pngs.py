"""Images inside job specs and results: base64 PNGs (a projection's target and its reconstruction)."""

from __future__ import annotations

import base64
import io

import numpy as np
import torch
from PIL import Image

from models.sampling import png_bytes


def decode_png(text: str) -> torch.Tensor:
    """The uint8 C x H x W image the API stored (already at the model's shape)."""
    array = np.asarray(Image.open(io.BytesIO(base64.b64decode(text))))
    array = array[:, :, None] if array.ndim == 2 else array
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()


def encode_png(image: torch.Tensor) -> str:
    return base64.b64encode(png_bytes(image)).decode()
