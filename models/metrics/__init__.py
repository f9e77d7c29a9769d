"""Evaluation of generated images: pure PyTorch, knows nothing of training; takes samples and real data.

Modules: distances (Fréchet distance, KID, cached FeatureStats), prdc (precision/recall/density/coverage),
classifier (the per-data-set reference CNN), domain (class histogram, confidence, conditional accuracy, CAS),
inception (Inception-v3 features from a checksummed local file), features (extractors named by checksum) and
evaluate (evaluate_images, which the worker calls).
"""

from models.metrics.classifier import (
    ClassifierConfig,
    ReferenceCNN,
    TrainedClassifier,
    TrainOptions,
    classifier_state,
    load_classifier,
    train_classifier,
)
from models.metrics.distances import FeatureStats, frechet_distance, kernel_inception_distance
from models.metrics.evaluate import DEFAULT_METRICS, METRICS, EvalOptions, evaluate_images, summary
from models.metrics.features import FeatureExtractor, feature_extractor
from models.metrics.prdc import prdc

__all__ = [
    "DEFAULT_METRICS", "METRICS", "ClassifierConfig", "EvalOptions", "FeatureExtractor", "FeatureStats",
    "ReferenceCNN", "TrainOptions", "TrainedClassifier", "classifier_state", "evaluate_images", "feature_extractor",
    "frechet_distance", "kernel_inception_distance", "load_classifier", "prdc", "summary", "train_classifier",
]
