import torch

from models.data import BUILTIN_DATASETS, load_builtin, to_model_range


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
