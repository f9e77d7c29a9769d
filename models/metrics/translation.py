"""Figures for translators, each beside the trivial baseline it must beat: pixel L1 and PSNR against the
ground truth of a paired set, and for unpaired translation, what a domain classifier and a label
classifier read in the outputs and how close the round trip comes back."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.data import TwoDomainDataset
from models.metrics.classifier import TrainOptions, accuracy, train_classifier
from models.sampling import translate


def held_out(n: int, every: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, held-out) indices: every `every`-th example held out, so a set sorted by class keeps every
    class on both sides."""
    index = torch.arange(n)
    kept = index % every == every - 1
    return index[~kept], index[kept]


def subset(data: TwoDomainDataset, a_index: torch.Tensor, b_index: torch.Tensor | None = None) -> TwoDomainDataset:
    b_index = a_index if b_index is None else b_index
    return TwoDomainDataset(data.name, data.a[a_index], data.b[b_index], data.paired, data.labels_a[a_index],
                            data.labels_b[b_index], data.classes)


def mean_l1(images: torch.Tensor, targets: torch.Tensor) -> float:
    """Mean absolute pixel difference, on the 0-255 scale."""
    return (images.float() - targets.float()).abs().mean().item()


def psnr(images: torch.Tensor, targets: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB (peak 255), of the mean squared error over all images."""
    mse = (images.float() - targets.float()).pow(2).mean().item()
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def bicubic(images: torch.Tensor, size: int) -> torch.Tensor:
    """The classic super-resolution baseline: bicubic upscaling, rounded back to uint8."""
    up = F.interpolate(images.float(), size=(size, size), mode="bicubic", align_corners=False)
    return up.round().clamp(0, 255).to(torch.uint8)


@dataclass
class Judges:
    """Two classifiers trained on real images of both domains: one tells A from B, one reads the label."""

    domain: nn.Module
    label: nn.Module
    domain_accuracy: float  # on held-out real images
    label_accuracy: float


def train_judges(data: TwoDomainDataset, seed: int = 0) -> Judges:
    images = torch.cat([data.a, data.b])
    domains = torch.cat([torch.zeros(data.a.shape[0]), torch.ones(data.b.shape[0])]).long()
    labels = torch.cat([data.labels_a, data.labels_b])
    options = TrainOptions(epochs=3, seed=seed)
    domain = train_classifier(images, domains, 2, options)
    label = train_classifier(images, labels, len(data.classes), options)
    return Judges(domain.net, label.net, domain.held_out_accuracy, label.held_out_accuracy)


def unpaired_scores(net: nn.Module, judges: Judges, images: torch.Tensor, labels: torch.Tensor,
                    direction: str = "a2b") -> dict[str, float]:
    """How translated images read: as the target domain (share), with the input's label (share), and how far
    the round trip lands from the input (L1, 0-255), beside the L1 of the input to itself shifted by a pixel
    (what a barely noticeable change costs)."""
    back = "b2a" if direction == "a2b" else "a2b"
    target_domain = 1 if direction == "a2b" else 0
    out = translate(net, images, direction)
    again = translate(net, out, back)
    shifted = torch.roll(images, 1, dims=-1)
    return {"target_domain": accuracy(judges.domain, out, torch.full_like(labels, target_domain)),
            "label_kept": accuracy(judges.label, out, labels),
            "cycle_l1": mean_l1(again, images), "one_pixel_shift_l1": mean_l1(shifted, images)}


def translator_scores(net: nn.Module, data: TwoDomainDataset, count: int = 500) -> dict[str, float]:
    """The cheap figures every finished translator job stores, on `count` examples spread over its training
    set. Paired: L1 (0-255) and PSNR of the outputs to the targets, beside the input taken as the output
    (scaled by bicubic when sizes differ) and the mean target image. Unpaired: how much each direction
    changes its input and how close each round trip comes back (L1)."""
    n = min(count, data.a.shape[0], data.b.shape[0])
    a_index = torch.linspace(0, data.a.shape[0] - 1, n).round().long()
    if data.paired:
        sources, targets = data.a[a_index], data.b[a_index]
        out = translate(net, sources)
        baseline = bicubic(sources, targets.shape[-1]) if sources.shape[-1] != targets.shape[-1] else sources
        if baseline.shape[1] != targets.shape[1]:
            baseline = baseline.float().mean(dim=1, keepdim=True).expand_as(targets).round().to(torch.uint8)
        mean_image = data.b.float().mean(dim=0, keepdim=True).round().expand_as(targets)
        return {"l1": mean_l1(out, targets), "psnr": psnr(out, targets), "l1_input": mean_l1(baseline, targets),
                "psnr_input": psnr(baseline, targets), "l1_mean_image": mean_l1(mean_image, targets)}
    b_index = torch.linspace(0, data.b.shape[0] - 1, n).round().long()
    scores = {}
    for direction, images in (("a2b", data.a[a_index]), ("b2a", data.b[b_index])):
        out = translate(net, images, direction)
        back = translate(net, out, "b2a" if direction == "a2b" else "a2b")
        if out.shape == images.shape:
            scores[f"changed_l1_{direction}"] = mean_l1(out, images)
        scores[f"cycle_l1_{direction}"] = mean_l1(back, images)
    return scores
