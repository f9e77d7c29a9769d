"""What a model is scored with when its training ends: a cheap default per kind of model (core.kinds.Kind.scorer
names one of these, or a plugin's function of the same signature). A scorer returns the card with its figures
under metrics.scores; the training runner notes a scorer's failure on the card, never as the job's."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from core.card import ModelCard
from core.store import ArtifactStore
from models.data import only_classes
from models.metrics.translation import translator_scores
from models.metrics.variations import variation_scores
from worker.evaluation import POST_TRAINING, card_with, evaluate
from worker.job_setup import TrainData
from worker.references import reference_classifier


@dataclass(frozen=True)
class Trained:
    """What a scorer may read of the job that trained the model."""

    dataset: TrainData  # what it trained on
    full: TrainData  # the data set that was taken from (all classes)
    trained_on: list[str] | None  # the classes it was limited to, if any
    store: ArtifactStore
    on_phase: Callable[[str], None]  # reports a phase of the scoring as a job event


def score_sample_quality(card: ModelCard, generator: nn.Module, trained: Trained) -> ModelCard:
    """The default evaluation's figures (worker.evaluation: mode counts for mixtures, reference-classifier figures
    for labelled images)."""
    result = evaluate(generator, card.gan, card.classes, trained.dataset, trained.store, POST_TRAINING,
                      trained.on_phase, post_training=True)
    return card_with(card, result, None)


def score_translation(card: ModelCard, generator: nn.Module, trained: Trained) -> ModelCard:
    """Error to the target or the round trip, beside their trivial baselines."""
    scores = translator_scores(generator, trained.dataset)
    return card.model_copy(update={"metrics": {**card.metrics, "scores": scores}})


def score_variations(card: ModelCard, generator: nn.Module, trained: Trained) -> ModelCard:
    """Up to 500 images of the classes it did not train on (all of them when it trained on every class), varied and
    read by the data set's reference classifier."""
    full = trained.full
    unseen = [name for name in full.classes if trained.trained_on is not None and name not in trained.trained_on]
    images = only_classes(full, unseen, relabel=False) if unseen else full
    pick = torch.linspace(0, len(images.images) - 1, min(500, len(images.images))).round().long()
    judge = reference_classifier(full, trained.store) if len(full.classes) >= 2 else None
    scores = variation_scores(generator, images.images[pick], images.labels[pick], card.latent_dim,
                              judge.net if judge else None)
    scored_on = f"classes {', '.join(unseen)} (not trained on)" if unseen else "the training classes"
    reference = {"reference": judge.reliability()} if judge else {}
    return card.model_copy(update={"metrics": {**card.metrics, "scores": scores, "scored_on": scored_on,
                                               **reference}})

