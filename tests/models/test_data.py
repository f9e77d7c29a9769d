import torch

from models.data import BUILTIN_DATASETS, load_builtin, to_model_range
from models.shapes import draw_shapes


def test_mnist_is_the_5000_real_digits_with_labels():
    mnist = load_builtin("mnist")
    assert mnist.images.shape == (5000, 1, 28, 28) and mnist.images.dtype == torch.uint8
    assert torch.bincount(mnist.labels).tolist() == [500] * 10
    assert mnist.images.float().mean() > 20  # real strokes, not blank images


def test_digits_are_upscaled_to_28x28():
    digits = load_builtin("digits")
    assert digits.images.shape == (1797, 1, 28, 28)
    assert digits.images.max() == 255 and len(digits.classes) == 10


def test_resize_on_load():
    assert load_builtin("digits", image_size=32).images.shape[1:] == (1, 32, 32)


def test_checksum_identifies_the_content():
    assert load_builtin("digits").checksum() == load_builtin("digits").checksum()
    assert load_builtin("digits").checksum() != load_builtin("digits", image_size=32).checksum()


def test_model_range_is_minus_one_to_one():
    x = to_model_range(torch.tensor([0, 255], dtype=torch.uint8))
    assert x.tolist() == [-1.0, 1.0]


def test_every_builtin_loads():
    for name in BUILTIN_DATASETS:
        dataset = load_builtin(name)
        assert len(dataset.labels) > 1000 and dataset.checksum().startswith("sha256:")


def test_toy_sets_are_2d_points_labelled_by_mode():
    ring = load_builtin("ring8")
    assert ring.points.shape == (10_000, 2) and len(ring.classes) == 8
    assert torch.bincount(ring.labels).min() > 1000
    assert load_builtin("ring8").checksum() == ring.checksum()


def test_shapes_are_64px_rgb_balanced_and_the_same_on_every_load():
    shapes = load_builtin("shapes")
    assert shapes.images.shape == (4000, 3, 64, 64) and shapes.classes == ("circle", "square", "triangle", "cross")
    assert torch.bincount(shapes.labels).tolist() == [1000] * 4
    assert shapes.checksum() == load_builtin("shapes").checksum()


def test_each_shape_is_drawn_as_its_label_says():
    images, labels = draw_shapes(64, seed=5)
    # The shape is the only strongly coloured region (max - min of RGB above 0.45; the background stays below).
    # At the same radius a circle covers pi r^2, a square 2.9 r^2, a cross 2.2 r^2 and a triangle 1.9 r^2.
    rgb = images.float() / 255
    area = (rgb.amax(dim=1) - rgb.amin(dim=1) > 0.45).flatten(1).sum(dim=1).float()
    assert (area > 200).all(), "every image shows a whole shape (a triangle of radius 11 covers 226 px)"
    circle, square, triangle, cross = (area[labels == k].mean() for k in range(4))
    assert circle > triangle and circle > cross and square > triangle, (circle, square, triangle, cross)


def test_shapes_vary_in_colour_and_background():
    images, _ = draw_shapes(200, seed=1)
    colours = images.float().mean(dim=(2, 3))
    assert colours.std(dim=0).min() > 10  # mean colour per channel varies a lot between images
    assert not torch.equal(images, draw_shapes(200, seed=2)[0])
