"""models.png writes PNGs that any decoder (here Pillow) reads back to the exact pixels."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from models.png import png_bytes


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 64, 64), (3, 5, 7), (1, 1, 1)])
def test_pillow_reads_back_the_exact_pixels(shape):
    image = torch.randint(0, 256, shape, dtype=torch.uint8)
    image[..., 0, :2] = torch.tensor([255, 0], dtype=torch.uint8)[: shape[-1]]  # the Sub filter wraps modulo 256
    decoded = Image.open(io.BytesIO(png_bytes(image)))
    assert decoded.mode == ("L" if shape[0] == 1 else "RGB") and decoded.size == (shape[2], shape[1])
    assert np.array_equal(np.asarray(decoded).reshape(shape[1], shape[2], shape[0]), image.permute(1, 2, 0).numpy())


def test_a_strided_view_encodes_as_its_pixels_and_the_same_image_as_the_same_bytes():
    batch = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8)
    view = batch.permute(1, 0, 2, 3)[:, 2]  # not contiguous
    assert png_bytes(view) == png_bytes(batch[2].clone())
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png_bytes(view)))), batch[2].permute(1, 2, 0).numpy())


def test_smooth_images_compress():
    ramp = torch.arange(64, dtype=torch.uint8).repeat(3, 64, 1)  # each row the same left-to-right ramp
    assert len(png_bytes(ramp)) < 64 * 64 * 3 / 20


@pytest.mark.parametrize("image", [torch.zeros(3, 8, 8), torch.zeros(2, 8, 8, dtype=torch.uint8)])
def test_refuses_what_is_not_a_uint8_grey_or_rgb_image(image):
    with pytest.raises(ValueError, match="uint8 image with 1 or 3 channels"):
        png_bytes(image)
