"""evaluate_images: every metric of generated images against real ones, as self-describing rows.

Each row is a flat dict: {"metric", "value", "features", "features_sha256", "n_fake", "n_real", "real_split",
"seed"} plus the metric's own settings ("class", "k", "subsets", "subset_size", "epochs"). A "fid" row whose
features are "classifier" is the Fréchet distance on the reference classifier's features, NOT comparable with
published FID (field notes, "GAN evaluation protocols"): show the features column beside the number. Same
inputs and seed give the same rows.

Cost, measured on the shared CPU machine with 1 thread, 1,000 28x28 MNIST samples against 1,000 real:
classifier features 0.45 s; domain 0.5 s; fid 0.01 s; kid (100 subsets) 2.7 s; prdc 0.04 s (5k x 5k: 1.2 s);
all four defaults together 4.0 s. cas trains a classifier on the samples: 6.3 s. Inception features run at
3.9 images/s (~4.3 min per 1,000), and on 2048-d features fid takes 4.6 s, kid 28 s, prdc 0.3 s. Hence cas
and Inception are opt-in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch

from models.metrics.classifier import ReferenceCNN, TrainOptions, check_images, fingerprint
from models.metrics.distances import FeatureStats, frechet_distance, kernel_inception_distance
from models.metrics.domain import classification_accuracy_score, domain_scores
from models.metrics.features import FeatureExtractor, feature_extractor
from models.metrics.prdc import DEFAULT_K, prdc

METRICS = ("domain", "fid", "kid", "prdc", "cas")
DEFAULT_METRICS = ("domain", "fid", "kid", "prdc")
FEATURE_METRICS = ("fid", "kid", "prdc")


@dataclass(frozen=True)
class EvalOptions:
    metrics: tuple[str, ...] = DEFAULT_METRICS
    num_samples: int | None = None  # use the first num_samples generated images; None: all of them
    seed: int = 0  # KID's subsets and CAS's training
    features: str = "classifier"  # "classifier" or "inception", for fid, kid and prdc
    real_split: str = "held-out"  # what the real images are (e.g. "mnist@sha256:…/held-out 20% seed 0")
    prdc_k: int = DEFAULT_K
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    min_class_share: float | None = None  # class_coverage threshold; None: half a uniform share
    cas_training: TrainOptions = field(default_factory=TrainOptions)  # its seed is replaced by `seed`

    def __post_init__(self):
        unknown = set(self.metrics) - set(METRICS)
        if unknown:
            raise ValueError(f"unknown metrics {sorted(unknown)}; choose from {', '.join(METRICS)}")


def evaluate_images(fake_images: torch.Tensor, asked_labels: torch.Tensor | None, real_images: torch.Tensor,
                    real_labels: torch.Tensor | None, classifier: ReferenceCNN | None = None,
                    options: EvalOptions | None = None,
                    embed_real: Callable[[FeatureExtractor, torch.Tensor], torch.Tensor] | None = None) -> list[dict]:
    """Rows of figures for uint8 generated images (asked_labels: the class each was generated for, or None for
    an unconditional model) against uint8 real images (the held-out split, never the classifier's training
    images). embed_real(extractor, real_images): the real images' features, e.g. from a cache, as the real
    side costs as much as the fake side (minutes for Inception on a CPU); default: the extractor itself."""
    options = options or EvalOptions()
    fake, asked = _take_samples(fake_images, asked_labels, options.num_samples)
    check_images(real_images)
    needs = set(options.metrics)
    if needs & {"domain", "cas"} and classifier is None:
        raise ValueError("domain and cas metrics need the data set's reference classifier; pass classifier=")
    rows: list[dict] = []

    def add(metric: str, value: float, features: str, sha256: str, n_real: int, n_fake: int = len(fake), **extra):
        rows.append({"metric": metric, "value": float(value), "features": features, "features_sha256": sha256,
                     "n_fake": n_fake, "n_real": n_real, "real_split": options.real_split, "seed": options.seed,
                     **extra})

    if "domain" in needs:
        sha = fingerprint(classifier)
        scores = domain_scores(classifier, fake, asked, options.min_class_share)
        for name in ("confidence", "class_coverage", "class_entropy", "conditional_accuracy"):
            if name in scores:
                add(name, scores[name], "classifier", sha, n_real=0)
        for label, share in enumerate(scores["class_shares"]):
            add("class_share", share, "classifier", sha, n_real=0, **{"class": label})

    if needs & set(FEATURE_METRICS):
        extractor = feature_extractor(options.features, classifier)
        fake_features = extractor(fake)
        real_features = embed_real(extractor, real_images) if embed_real else extractor(real_images)
        if real_features.shape != (len(real_images), fake_features.shape[1]):
            raise ValueError(f"embed_real gave features of shape {tuple(real_features.shape)} for {len(real_images)} "
                             f"real images; {extractor.id} gives {fake_features.shape[1]} per image")
        tag = (extractor.name, extractor.sha256)
        if "fid" in needs:
            stats = FeatureStats.of(real_features, extractor.id)
            add("fid", frechet_distance(stats, fake_features), *tag, n_real=stats.n)
        if "kid" in needs:
            mean, std = kernel_inception_distance(real_features, fake_features, options.kid_subsets,
                                                  options.kid_subset_size, options.seed)
            subset = min(options.kid_subset_size, len(real_features), len(fake_features))
            add("kid", mean, *tag, n_real=len(real_features), subsets=options.kid_subsets, subset_size=subset)
            add("kid_std", std, *tag, n_real=len(real_features), subsets=options.kid_subsets, subset_size=subset)
        if "prdc" in needs:
            for name, value in prdc(real_features, fake_features, options.prdc_k).items():
                add(name, value, *tag, n_real=len(real_features), k=options.prdc_k)

    if "cas" in needs:
        if asked is None or real_labels is None:
            raise ValueError("cas trains on labelled samples and tests on labelled real images: it needs "
                             "asked_labels (a conditional model) and real_labels")
        training = replace(options.cas_training, seed=options.seed)
        scores = classification_accuracy_score(classifier, fake, asked, real_images, real_labels, training)
        sha = fingerprint(classifier)
        add("cas", scores["cas"], "classifier", sha, n_real=len(real_images), epochs=training.epochs)
        add("cas_real_accuracy", scores["real_accuracy"], "classifier", sha, n_real=len(real_images), n_fake=0)
    return rows


def _take_samples(images: torch.Tensor, labels: torch.Tensor | None,
                  num_samples: int | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    check_images(images)
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"need one asked label per generated image; got {len(labels)} for {len(images)} images")
    if num_samples is None:
        return images, labels
    if num_samples > len(images):
        raise ValueError(f"num_samples is {num_samples} but only {len(images)} generated images were given")
    return images[:num_samples], None if labels is None else labels[:num_samples]


def summary(rows: list[dict]) -> dict[str, float]:
    """{"fid[classifier]": 12.3, "class_share[3]": 0.1, …}: one flat dict of the rows' values for a model card."""
    out = {}
    for row in rows:
        key = f"{row['metric']}[{row['class']}]" if "class" in row else f"{row['metric']}[{row['features']}]"
        out[key] = row["value"]
    return out
