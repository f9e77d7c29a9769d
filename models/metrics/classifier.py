"""The reference classifier: a small CNN trained once per labelled image data set to judge generated images.

It scores samples (class histogram, confidence, conditional accuracy), its penultimate layer is the offline
feature space for the "classifier" Fréchet distance, KID and PRDC (the "LeNet FID" practice for MNIST), and the
same architecture trained on synthetic images alone gives CAS (see domain.py).

Images everywhere are uint8 N x C x H x W (C = 1 or 3, H = W >= 8), the format models.sampling.to_uint8 gives.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

MIN_SIZE = 8


@dataclass(frozen=True)
class ClassifierConfig:
    """Everything needed to rebuild the network from its state dict; JSON-able through asdict."""

    channels: int
    image_size: int
    num_classes: int
    width: int = 32  # channels of the first block; each further block doubles it, up to 4 x width
    features: int = 128  # size of the penultimate layer, the feature space of the classifier distances
    # The fewest conv blocks; 1 in configs stored before the field existed, so those classifiers load as trained.
    min_blocks: int = 1
    # Weight of the outlier-exposure term in training (0 in configs stored before the field existed): see
    # COLOUR_OUTLIER_WEIGHT.
    outlier_weight: float = 0.0

    @property
    def blocks(self) -> int:
        # Halve the image until about 7 x 7 (28 -> 7, 32 -> 8, 64 -> 8, 8 -> 4): the depth a LeNet-style net
        # has on MNIST, reached for any size; adaptive pooling then fixes the flattened size.
        return max(self.min_blocks, round(math.log2(self.image_size / 7)))

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> ClassifierConfig:
        return cls(**data)


@dataclass(frozen=True)
class TrainOptions:
    """The training recipe: 8 epochs of Adam with a one-cycle schedule and small random shifts. Measured on 5,000
    MNIST digits (4,000 train, 1,000 held out): 98.1 % held-out accuracy in 24 CPU-seconds on 1 thread. On the
    shared 2-core machine with other jobs running, 2 threads took longer in wall time than 1, so train with 1."""

    epochs: int = 8
    batch_size: int = 64
    lr: float = 2e-3
    # Random translation by up to max_shift pixels, the one augmentation safe for any image data set.
    # None: image_size // 14, i.e. 2 pixels at 28 (the draft's MNIST recipe), 4 at 64, none at 8 x 8, where one
    # pixel is an eighth of the tightly cropped digit.
    max_shift: int | None = None
    held_out: float = 0.2  # share of each class kept out of training to measure accuracy
    seed: int = 0
    # A fixed number of optimiser steps instead of `epochs`: what the augmentation report gives every training
    # set, so that a bigger set is not also a longer training.
    steps: int | None = None
    class_weights: tuple[float, ...] | None = None  # the loss's weight of each class (None: all 1)


class ReferenceCNN(nn.Module):
    def __init__(self, config: ClassifierConfig):
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        channels = config.channels
        for i in range(config.blocks):
            width = config.width * min(2 ** i, 4)
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(True), nn.MaxPool2d(2)]
            channels = width
        layers += [nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(channels * 16, config.features), nn.ReLU(True)]
        self.body = nn.Sequential(*layers)
        self.drop = nn.Dropout(0.3)
        self.head = nn.Linear(config.features, config.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(self.body(x)))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


@dataclass
class TrainedClassifier:
    net: ReferenceCNN
    held_out_accuracy: float
    train_indices: torch.Tensor  # into the images given to train_classifier
    held_out_indices: torch.Tensor  # the real split that metrics compare samples with
    seconds: float


# Colour images get at least 3 blocks. On `shapes` (a shape anywhere on a striped gradient) the MNIST depth
# read 52.9 % of held-out images at 16 px (1 block) and 85.3 % at 32 px (2 blocks); 3 blocks read 99.6 % and
# 100 % (99.3 % at 64 px, where the MNIST rule already gives 3), in 12 s and 39 s on 1 thread. A 3x3 conv stack
# that halves twice sees about 10 px, less than a shape at 32 px; centred gray digits are read well by the
# linear head over the 7 x 7 map, and keep the depth that every published MNIST figure was read with.
COLOUR_MIN_BLOCKS = 3
# Colour images also train with outlier exposure (Hendrycks et al. 2019, arXiv:1812.04606): beside each batch, half
# as many images that are no image of the set (off_manifold) with a loss that pulls their reading towards uniform.
# A classifier trained on real images alone is sure of anything it is shown, and its confidence and class shares are
# read as quality figures: the 32 px `shapes` one read uniform noise as a cross with confidence 1.00, and the
# colour blobs of an 11-step StyleGAN2 at 0.89, more than a trained model's shapes (0.80). With the term (weight
# 0.5, the paper's): noise 0.26, the blobs 0.43, held-out real shapes 99.9 % right at 0.99. CAS's classifier, built
# from this config, trains the same way. Gray sets keep the recipe every published MNIST figure was read with; their
# reliability says how sure they are of noise.
COLOUR_OUTLIER_WEIGHT = 0.5


def config_for(images: torch.Tensor, num_classes: int) -> ClassifierConfig:
    check_images(images)
    channels = images.shape[1]
    colour = channels == 3
    return ClassifierConfig(channels=channels, image_size=images.shape[-1], num_classes=num_classes,
                            min_blocks=COLOUR_MIN_BLOCKS if colour else 1,
                            outlier_weight=COLOUR_OUTLIER_WEIGHT if colour else 0.0)


def check_images(images: torch.Tensor, config: ClassifierConfig | None = None) -> None:
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4:
        got = f"{images.dtype} {tuple(images.shape)}" if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a uint8 N x C x H x W tensor; got {got}")
    n, c, h, w = images.shape
    if n == 0:
        raise ValueError("images is empty: give at least one image")
    if c not in (1, 3) or h != w or h < MIN_SIZE:
        raise ValueError(f"images must be square, at least {MIN_SIZE} pixels, with 1 or 3 channels; got {c}x{h}x{w}")
    if config is not None and (c, h) != (config.channels, config.image_size):
        raise ValueError(f"the classifier takes {config.channels}x{config.image_size}x{config.image_size} images; "
                         f"got {c}x{h}x{w}")


def to_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] to float [-1, 1], the range the generators produce before to_uint8."""
    return images.float().div(127.5).sub(1.0)


def stratified_split(labels: torch.Tensor, held_out: float = 0.2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, held-out) indices keeping `held_out` of every class (at least one), drawn with `seed`."""
    if not 0 < held_out < 1:
        raise ValueError(f"held_out must be a share between 0 and 1; got {held_out}")
    generator = torch.Generator().manual_seed(seed)
    train, test = [], []
    for label in labels.unique().tolist():
        members = (labels == label).nonzero().view(-1)
        members = members[torch.randperm(len(members), generator=generator)]
        n_test = max(1, round(held_out * len(members)))
        test.append(members[:n_test])
        train.append(members[n_test:])
    return torch.cat(train).sort().values, torch.cat(test).sort().values


def evaluation_split(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The data set's (train, held-out) split that its reference classifier is measured on: a job with
    `hold_out` trains its GAN without the held-out part, and the augmentation report tests on it."""
    return stratified_split(labels, TrainOptions.held_out, TrainOptions.seed)


def _random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image by up to max_shift pixels, filling with the replicated border (background)."""
    if max_shift == 0:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4, mode="replicate")
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(h))[:, None, :, None]  # n x 1 x h x 1
    cols = (dx[:, None] + torch.arange(w))[:, None, None, :]  # n x 1 x 1 x w
    return padded[torch.arange(n)[:, None, None, None], torch.arange(x.shape[1])[None, :, None, None], rows, cols]


def off_manifold(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """As many images as `x` (float, [-1, 1]) that belong to no class, four kinds in turn: uniform noise, `x` cut
    into a 4 x 4 grid of tiles and shuffled (its colours and local texture, no object), smooth colour noise (the
    blobs an untrained generator draws) and `x` blurred to 4 x 4 (its layout, no edges)."""
    n, c, h, w = x.shape
    th, tw = h // 4, w // 4
    tiles = x[:, :, : 4 * th, : 4 * tw].reshape(n, c, 4, th, 4, tw).permute(0, 2, 4, 1, 3, 5).reshape(n, 16, c, th, tw)
    shuffled = x.clone()
    shuffled[:, :, : 4 * th, : 4 * tw] = tiles[:, torch.randperm(16, generator=generator)].reshape(
        n, 4, 4, c, th, tw).permute(0, 3, 1, 4, 2, 5).reshape(n, c, 4 * th, 4 * tw)
    kinds = (torch.rand(x.shape, generator=generator) * 2 - 1,
             shuffled,
             F.interpolate(torch.rand(n, c, 4, 4, generator=generator) * 2 - 1, size=(h, w), mode="bilinear"),
             F.interpolate(F.adaptive_avg_pool2d(x, 4), size=(h, w), mode="bilinear"))
    kind = (torch.arange(n) % len(kinds)).view(-1, 1, 1, 1)
    out = kinds[0]
    for i, images in enumerate(kinds[1:], start=1):
        out = torch.where(kind == i, images, out)
    return out


@torch.inference_mode()
def noise_confidence(net: ReferenceCNN, count: int = 256) -> float:
    """The classifier's mean confidence on uniform noise (seeded): near 1 / classes when its confidence means the
    image looks like the set, near 1 when it only says which class an image is nearest to."""
    config = net.config
    noise = torch.randint(0, 256, (count, config.channels, config.image_size, config.image_size), dtype=torch.uint8,
                          generator=torch.Generator().manual_seed(0))
    return probabilities(net, noise).amax(1).mean().item()


def fit(config: ClassifierConfig, images: torch.Tensor, labels: torch.Tensor,
        options: TrainOptions | None = None,
        on_epoch: Callable[[int, int], None] = lambda done, epochs: None) -> ReferenceCNN:
    """A fresh ReferenceCNN trained on all of `images`; deterministic on CPU for a given seed and thread count.
    `on_epoch(done, epochs)` hears of each finished pass."""
    options = options or TrainOptions()
    check_images(images, config)
    if len(images) != len(labels) or len(images) < 2:
        raise ValueError(f"need one label per image and at least two images; got {len(images)} and {len(labels)}")
    if int(labels.min()) < 0 or int(labels.max()) >= config.num_classes:
        raise ValueError(f"labels must lie in 0..{config.num_classes - 1}")
    torch.manual_seed(options.seed)  # weight init and dropout
    net = ReferenceCNN(config)
    x, y = images, labels.long()  # converted a batch at a time: a big set stays in uint8
    optimizer = torch.optim.Adam(net.parameters(), lr=options.lr)
    steps_per_epoch = math.ceil(len(x) / options.batch_size)
    total_steps = options.steps or options.epochs * steps_per_epoch
    epochs = math.ceil(total_steps / steps_per_epoch)
    weights = torch.tensor(options.class_weights, dtype=torch.float32) if options.class_weights else None
    if weights is not None and len(weights) != config.num_classes:
        raise ValueError(f"class_weights needs one weight per class ({config.num_classes}); got {len(weights)}")
    # One-cycle (Smith & Topin 2018, arXiv:1708.07120): a high peak rate and annealing reach ~99 % on MNIST in a
    # handful of epochs, which is what keeps "train once per data set" cheap on CPU.
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=options.lr,
                                                   total_steps=total_steps)
    generator = torch.Generator().manual_seed(options.seed)
    max_shift = config.image_size // 14 if options.max_shift is None else options.max_shift
    net.train()
    taken = 0
    for epoch in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for batch in order.split(options.batch_size)[: total_steps - taken]:
            taken += 1
            if len(batch) < 2:
                continue  # BatchNorm cannot train on a single image
            inputs = _random_shift(to_input(x[batch]), max_shift, generator)
            if config.outlier_weight:
                # One batch through BatchNorm, so that its statistics in training and in eval are those of the same mix.
                out = net(torch.cat([inputs, off_manifold(inputs[: len(batch) // 2], generator)]))
                loss = F.cross_entropy(out[: len(batch)], y[batch], weight=weights) \
                    - config.outlier_weight * F.log_softmax(out[len(batch):], dim=1).mean()
            else:
                loss = F.cross_entropy(net(inputs), y[batch], weight=weights)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        on_epoch(epoch + 1, epochs)
    return net.eval()


def train_classifier(images: torch.Tensor, labels: torch.Tensor, num_classes: int | None = None,
                     options: TrainOptions | None = None,
                     on_epoch: Callable[[int, int], None] = lambda done, epochs: None,
                     config: ClassifierConfig | None = None) -> TrainedClassifier:
    """Train the reference classifier (`config`, or the one config_for gives) on a stratified split of a labelled
    data set; measure it on the rest."""
    options = options or TrainOptions()
    check_images(images)
    num_classes = num_classes or int(labels.max()) + 1
    train_idx, held_out_idx = stratified_split(labels, options.held_out, options.seed)
    started = time.perf_counter()
    net = fit(config or config_for(images, num_classes), images[train_idx], labels[train_idx], options, on_epoch)
    seconds = time.perf_counter() - started
    held_out_accuracy = accuracy(net, images[held_out_idx], labels[held_out_idx])
    return TrainedClassifier(net, held_out_accuracy, train_idx, held_out_idx, seconds)


@torch.inference_mode()
def logits(net: ReferenceCNN, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    check_images(images, net.config)
    net.eval()
    return torch.cat([net(to_input(b)) for b in images.split(batch_size)])


def probabilities(net: ReferenceCNN, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    return logits(net, images, batch_size).softmax(1)


@torch.inference_mode()
def penultimate_features(net: ReferenceCNN, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """N x config.features activations before the classification head (after ReLU)."""
    check_images(images, net.config)
    net.eval()
    return torch.cat([net.features(to_input(b)) for b in images.split(batch_size)])


def accuracy(net: ReferenceCNN, images: torch.Tensor, labels: torch.Tensor) -> float:
    return (logits(net, images).argmax(1) == labels).double().mean().item()


def classifier_state(net: ReferenceCNN) -> tuple[dict[str, torch.Tensor], dict]:
    """Plain tensors (for safetensors) and a JSON-able config: all load_classifier needs, no pickle."""
    return {k: v.detach().clone().contiguous() for k, v in net.state_dict().items()}, net.config.to_json()


def load_classifier(tensors: dict[str, torch.Tensor], config: dict) -> ReferenceCNN:
    net = ReferenceCNN(ClassifierConfig.from_json(config))
    net.load_state_dict(tensors)
    return net.eval()


def fingerprint(net: ReferenceCNN) -> str:
    """sha256 of the config and weights: names the feature extractor in every figure made with this net."""
    digest = hashlib.sha256(repr(sorted(net.config.to_json().items())).encode())
    for name, tensor in sorted(net.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()
