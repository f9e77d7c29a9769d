"""The measures bench/infogan_codes.py reads InfoGAN's codes with: on images and counts whose answer is known."""

import math

import torch

from bench.infogan_codes import hungarian, moments, spearman


def _bar(width: int, slant_per_row: float = 0.0, size: int = 28) -> torch.Tensor:
    """A white bar `width` pixels wide down the middle rows, each row moved right by `slant_per_row` pixels."""
    image = torch.zeros(1, size, size, dtype=torch.uint8)
    for row in range(4, size - 4):
        left = size // 2 - width // 2 + round((row - size / 2) * slant_per_row)
        image[0, row, left:left + width] = 255
    return image


def test_width_is_the_spread_of_the_columns():
    _, width, _ = moments(torch.stack([_bar(4), _bar(10)]))
    # A uniform spread over w columns has a standard deviation of sqrt((w^2 - 1) / 12).
    assert torch.allclose(width, torch.tensor([math.sqrt(15 / 12), math.sqrt(99 / 12)]), atol=1e-4)


def test_slant_follows_the_shear_and_its_sign():
    slant, _, _ = moments(torch.stack([_bar(3), _bar(3, 0.5), _bar(3, -0.5)]))
    assert abs(slant[0]) < 1e-3
    # Half a column per row is atan(0.5), 26.6 degrees, less what rounding the rows' offsets takes off.
    assert 22 < slant[1] < 28 and torch.isclose(slant[2], -slant[1], atol=1e-3)


def test_spearman_reads_the_direction_not_the_scale():
    t = torch.linspace(-2, 2, 9)
    curves = torch.stack([t ** 3, -torch.exp(t), torch.tensor([0.0, 2, 1, 4, 3, 6, 5, 8, 7])])
    rho = spearman(curves, t)
    assert torch.allclose(rho[:2], torch.tensor([1.0, -1.0])) and 0.8 < rho[2] < 0.99


def test_hungarian_gives_each_digit_to_one_value_only():
    # Values 0 and 1 both draw mostly 4s: only one of them may keep the 4s, the other gets its second digit.
    counts = torch.tensor([[0, 0, 90, 10], [0, 0, 60, 40], [100, 0, 0, 0], [0, 100, 0, 0]])
    reading = hungarian(counts)
    assert reading["mapping"] == {0: 2, 1: 3, 2: 0, 3: 1}
    assert reading["hungarian"] == (90 + 40 + 100 + 100) / 400


def test_ink_counts_full_pixels_whatever_the_shape():
    *_, ink = moments(torch.stack([_bar(2), _bar(6), _bar(2, 0.5)]))
    assert torch.allclose(ink, torch.tensor([2.0 * 20, 6.0 * 20, 2.0 * 20]))
