"""What the data set's own reference classifier says about generated images.

- class histogram, class coverage and normalised class entropy: mode collapse in the units users think in
  (digits, not feature-space balls); cf. the mode counting of Metz et al. 2017 (arXiv:1611.02163) with a
  pretrained MNIST classifier.
- confidence: mean max-softmax probability, the "is it recognisably some class" half of the Inception Score
  (Salimans et al. 2016, arXiv:1606.03498) without its exp-KL packaging.
- conditional accuracy: for a conditional model, how often the classifier sees the class that was asked for
  (the measure AC-GAN reports, Odena et al. 2017, arXiv:1610.09585).
- CAS, the Classification Accuracy Score (Ravuri & Vinyals 2019, arXiv:1905.10887): train a fresh classifier of
  the same architecture on synthetic labelled images only and test it on held-out real images. It rewards
  samples that carry each class's real variety, which sample-quality metrics miss.
"""

from __future__ import annotations

import math

import torch

from models.metrics.classifier import ReferenceCNN, TrainOptions, accuracy, fit, penultimate_features, probabilities
from models.metrics.distances import FeatureStats, frechet_distance


def class_shares(predictions: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Share of samples predicted as each class (sums to 1)."""
    return torch.bincount(predictions, minlength=num_classes).double() / len(predictions)


def class_coverage(shares: torch.Tensor, min_share: float | None = None) -> int:
    """Number of classes receiving at least `min_share` of the samples (default: half a uniform share, 0.5 / K),
    so a few stray misclassified samples do not count as a covered class."""
    min_share = 0.5 / len(shares) if min_share is None else min_share
    return int((shares >= min_share).sum())


def normalised_entropy(shares: torch.Tensor) -> float:
    """Entropy of the class histogram divided by log K: 1 for uniform classes, 0 for a single class."""
    if len(shares) < 2:
        return 0.0
    nonzero = shares[shares > 0]
    return float(-(nonzero * nonzero.log()).sum() / math.log(len(shares)))


def domain_scores(net: ReferenceCNN, images: torch.Tensor, asked_labels: torch.Tensor | None = None,
                  min_share: float | None = None) -> dict:
    """class_shares (list), class_coverage, class_entropy, confidence and, given the asked labels,
    conditional_accuracy of uint8 generated images."""
    probs = probabilities(net, images)
    confidence, predictions = probs.max(1)
    shares = class_shares(predictions, net.config.num_classes)
    scores = {
        "class_shares": shares.tolist(),
        "class_coverage": class_coverage(shares, min_share),
        "class_entropy": normalised_entropy(shares),
        "confidence": confidence.double().mean().item(),
    }
    if asked_labels is not None:
        if len(asked_labels) != len(images):
            raise ValueError(f"need one asked label per image; got {len(asked_labels)} for {len(images)} images")
        scores["conditional_accuracy"] = (predictions == asked_labels).double().mean().item()
    return scores


def classification_accuracy_score(reference: ReferenceCNN, synthetic_images: torch.Tensor,
                                  synthetic_labels: torch.Tensor, real_images: torch.Tensor,
                                  real_labels: torch.Tensor, options: TrainOptions | None = None) -> dict[str, float]:
    """{"cas": accuracy on real of a net trained on synthetic only, "real_accuracy": the reference's accuracy on
    the same real images}. The two sit side by side: CAS near real_accuracy means the synthetic set could stand
    in for the real one. The reference must not have been trained on `real_images` (pass the held-out split)."""
    synthetic_net = fit(reference.config, synthetic_images, synthetic_labels, options)
    return {"cas": accuracy(synthetic_net, real_images, real_labels),
            "real_accuracy": accuracy(reference, real_images, real_labels)}


def classifier_frechet_distance(net: ReferenceCNN, real: torch.Tensor | FeatureStats,
                                fake_images: torch.Tensor) -> float:
    """The Fréchet distance on the reference classifier's penultimate features ("LeNet FID"): the offline stand-in
    for FID, not comparable with published FID numbers. `real` is uint8 images or their cached FeatureStats."""
    real_stats = real if isinstance(real, FeatureStats) else FeatureStats.of(penultimate_features(net, real))
    return frechet_distance(real_stats, penultimate_features(net, fake_images))
