"""What a training job builds before its first step, every rank of it alike: the data set it trains on (and the
whole one that was taken from) and its fresh trainer."""

from __future__ import annotations

import torch

from core.datasets import load_dataset
from core.spec import JobSpec, gan_config, train_config
from core.store import ArtifactStore
from models.data import ImageDataset, PointDataset, TwoDomainDataset, only_classes, shrunk_pairs
from models.metrics.classifier import evaluation_split
from models.trainer import Trainer, make_trainer

TrainData = ImageDataset | PointDataset | TwoDomainDataset


def prepare_training(spec: JobSpec, store: ArtifactStore, device: torch.device) -> tuple[TrainData, TrainData, Trainer]:
    full = dataset = load_dataset(spec.dataset, store, spec.model.image_size, checksum=spec.dataset_checksum)
    if spec.hold_out:
        dataset = without_evaluation_split(dataset)
    if spec.classes is not None:
        dataset = only_classes(dataset, spec.classes)
    if spec.model.family.upscales and isinstance(dataset, ImageDataset):  # srgan on plain images
        dataset = shrunk_pairs(dataset, spec.model.scale or 2)
    gan = gan_config(spec, tuple(dataset.shape), dataset.classes, getattr(dataset, "source_shape", ()))
    return dataset, full, make_trainer(gan, train_config(spec), device)


def without_evaluation_split(dataset: TrainData) -> ImageDataset:
    """The labelled image set less its evaluation split (the images the reference classifier and the
    augmentation report test on)."""
    if not isinstance(dataset, ImageDataset) or len(dataset.classes) < 2:
        raise ValueError(f"hold_out keeps a labelled image set's evaluation split out of training; {dataset.name} "
                         "has no labelled images of two or more classes")
    train, _ = evaluation_split(dataset.labels)
    return ImageDataset(dataset.name, dataset.images[train], dataset.labels[train], dataset.classes)
