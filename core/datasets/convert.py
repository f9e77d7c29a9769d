"""One decoded image to a uint8 C x S x S array: modes flattened, alpha composited, cropped or padded.

Every mode ends as 8-bit RGB first (gray images as R = G = B), so one path handles them all; the caller
keeps one channel when the data set is gray, which is exact because Pillow's luma of R = G = B is R.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

from core.datasets.errors import InvalidUpload

_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")  # Pillow opens 16-bit gray PNG/TIFF as one of these
_RESAMPLE = Image.Resampling.LANCZOS


def to_rgb(image: Image.Image, background: int) -> Image.Image:
    """Any Pillow mode to 8-bit RGB; transparent pixels composited on a gray level `background` (0 or 255)."""
    if image.mode in _SIXTEEN_BIT:
        # convert("L") clips 16-bit values at 255 (a nearly white image); scale the full range instead.
        wide = np.asarray(image).astype(np.float64)
        image = Image.fromarray((wide / 257.0).round().clip(0, 255).astype(np.uint8))
    elif image.mode == "F":
        raise InvalidUpload("floating-point images are not supported; save them as 8- or 16-bit")
    elif image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        canvas = Image.new("RGBA", image.size, (background, background, background, 255))
        canvas.alpha_composite(image.convert("RGBA"))
        image = canvas
    return image.convert("RGB")


def fit(image: Image.Image, size: int, resize: str, background: int) -> Image.Image:
    if image.size == (size, size):
        return image
    if resize == "pad":
        return ImageOps.pad(image, (size, size), method=_RESAMPLE, color=(background,) * 3)
    return ImageOps.fit(image, (size, size), method=_RESAMPLE, centering=(0.5, 0.5))


def to_array(image: Image.Image) -> np.ndarray:
    """An RGB image to uint8 3 x H x W."""
    return np.asarray(image, dtype=np.uint8).transpose(2, 0, 1).copy()


def is_gray(array: np.ndarray) -> bool:
    return bool((array[0] == array[1]).all() and (array[1] == array[2]).all())
