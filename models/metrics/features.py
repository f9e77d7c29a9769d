"""Feature extractors behind the Fréchet distance, KID and PRDC, each named by what it is and a checksum.

"classifier": the penultimate layer of the data set's reference classifier (cheap, the default; numbers are
comparable only between runs that used the same classifier, i.e. the same sha256).
"inception": Inception-v3 pool features, the space published FID/KID numbers use (slow on CPU: opt-in).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from models.metrics.classifier import ReferenceCNN, fingerprint, penultimate_features
from models.metrics.inception import EXTRACTOR_NAME, WEIGHTS_SHA256, inception_features, load_inception

EXTRACTORS = ("classifier", "inception")


@dataclass(frozen=True)
class FeatureExtractor:
    name: str  # what the features are, shown beside every figure made with them
    sha256: str  # of the weights: two figures compare only if their extractors' checksums agree
    embed: Callable[[torch.Tensor], torch.Tensor]  # uint8 N x C x H x W -> N x D

    @property
    def id(self) -> str:
        return f"{self.name}:{self.sha256}"

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.embed(images)


def classifier_extractor(net: ReferenceCNN) -> FeatureExtractor:
    return FeatureExtractor("classifier", fingerprint(net), lambda images: penultimate_features(net, images))


def inception_extractor() -> FeatureExtractor:
    load_inception()  # fail now, with the install hint, rather than halfway through an evaluation
    return FeatureExtractor(EXTRACTOR_NAME, WEIGHTS_SHA256, inception_features)


def feature_extractor(kind: str, classifier: ReferenceCNN | None = None) -> FeatureExtractor:
    if kind == "inception":
        return inception_extractor()
    if kind == "classifier":
        if classifier is None:
            raise ValueError("features='classifier' needs the data set's reference classifier; pass classifier= "
                             "or choose features='inception'")
        return classifier_extractor(classifier)
    raise ValueError(f"unknown feature extractor {kind!r}; choose one of {', '.join(EXTRACTORS)}")
