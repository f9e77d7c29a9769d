"""Scores a generator against its data set: what an evaluation job runs, and what every training job runs
once at its end (a cheap default). The figures land in the job's `result` and in the model card."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch import nn

from core.artifacts import load_published_generator, replace_card
from core.card import ModelCard
from core.datasets import load_dataset
from core.ids import utcnow
from core.registry import JobLease
from core.settings import Settings
from core.spec import EvaluationSpec
from core.states import JobStatus
from core.store import ArtifactStore
from models.data import ImageDataset, PointDataset
from models.device import resolve_device
from models.gan import GANConfig
from models.inputs import draw_codes
from models.metrics import EvalOptions, evaluate_images
from models.sampling import generate, latents_for_seed
from models.toy2d import MIXTURES
from worker.lease_heartbeat import LeaseHeartbeat
from worker.references import cached_real_features, reference_classifier

MIXTURE_SAMPLES = 2500  # PacGAN's protocol
FEATURE_SPACE_METRICS = ("fid", "kid", "precision", "recall", "density", "coverage")
# What a finished training job scores itself with: the metrics that cost a few seconds on a CPU.
POST_TRAINING = EvaluationSpec(metrics=None, samples=1000, seed=0)
POST_TRAINING_IMAGE_METRICS = ["domain", "fid", "kid", "prdc"]


def default_metrics(data_kind: str, dataset_id: str, labelled: bool, post_training: bool = False) -> list[str]:
    if data_kind == "points":
        return ["mixture"] if dataset_id in MIXTURES else []
    if not labelled:  # no reference classifier: only InceptionV3 features, too slow to run unasked on a CPU
        return [] if post_training else ["prdc", "kid"]
    return POST_TRAINING_IMAGE_METRICS if post_training else [*POST_TRAINING_IMAGE_METRICS, "cas"]


def evaluate(generator: nn.Module, gan: GANConfig, classes: list[str], dataset: ImageDataset | PointDataset,
             store: ArtifactStore, spec: EvaluationSpec, on_phase: Callable[[str], None] = lambda _: None,
             post_training: bool = False) -> dict:
    """The figures for `generator`, each row saying what defines it, plus the summary scores."""
    started = time.perf_counter()
    labelled = len(dataset.classes) >= 2
    wanted = spec.metrics or default_metrics(gan.data_kind, dataset.name, labelled, post_training)
    rows: list[dict] = []
    reference: dict | None = None  # the reference classifier's reliability, when figures rest on its readings
    if "mixture" in wanted:
        rows += mixture_rows(generator, gan, dataset.name, spec.seed)
    image_metrics = [m for m in wanted if m != "mixture"]
    if image_metrics:
        if not isinstance(dataset, ImageDataset):
            raise ValueError(f"metrics {', '.join(image_metrics)} score images; this model makes 2-D points "
                             "(use mixture)")
        classifier = reference_classifier(dataset, store, on_phase) if labelled else None
        needs_classifier = {"domain", "cas"} & set(image_metrics) or spec.features == "classifier"
        if classifier is None and needs_classifier:
            raise ValueError(f"{dataset.name} has no labels, so it has no reference classifier: domain and cas "
                             "need one; use features 'inception' for kid, fid and prdc")
        on_phase("sampling")
        fake, fake_labels = _samples(generator, gan, spec.samples, spec.seed)
        on_phase("scoring")
        real, real_labels = classifier.real_split(dataset) if classifier else (dataset.images, None)
        split = f"{dataset.name}@{dataset.checksum()}: " + (f"the reference classifier's held-out {len(real)}"
                                                             if classifier else f"all {len(real)}")
        options = EvalOptions(metrics=tuple(image_metrics), seed=spec.seed, features=spec.features, real_split=split)
        rows += evaluate_images(fake, fake_labels, real, real_labels, classifier.net if classifier else None,
                                options, embed_real=cached_real_features(store, dataset))
        if classifier is not None and needs_classifier:  # figures rest on its readings: say how far to trust it
            reference = classifier.reliability()
    return {"rows": rows, "scores": scores(rows), **({"reference": reference} if reference else {}),
            "seconds": round(time.perf_counter() - started, 3), "spec": spec.model_dump(exclude={"kind"})}


def scores(rows: list[dict]) -> dict[str, float]:
    """One number per figure for sorting and filtering models: a feature-space metric is named with its
    features (`kid_classifier`, `fid_inception`), as figures in different feature spaces do not compare."""
    named = {}
    for row in rows:
        if "class" in row or row["metric"] == "kid_std":
            continue
        feature_space = row["metric"] in FEATURE_SPACE_METRICS
        named[f"{row['metric']}_{row['features']}" if feature_space else row["metric"]] = row["value"]
    return named


def card_with(card: ModelCard, result: dict, evaluation_id: str | None) -> ModelCard:
    """The card with these figures as its latest scores (earlier figures of other metrics stay), and the reference
    classifier's reliability when they rest on its readings."""
    scores = {**card.metrics.get("scores", {}), **result["scores"]}
    latest = {"evaluation_id": evaluation_id, **{k: result[k] for k in ("rows", "spec", "seconds")}}
    reference = {"reference": result["reference"]} if "reference" in result else {}
    return card.model_copy(update={"metrics": {**card.metrics, "scores": scores, "evaluation": latest, **reference}})


def mixture_rows(generator: nn.Module, gan: GANConfig, name: str, seed: int) -> list[dict]:
    mixture = MIXTURES[name]()
    points, _ = _samples(generator, gan, MIXTURE_SAMPLES, seed)
    score = mixture.evaluate(points)
    where = {"features": "raw 2-D points", "n_fake": MIXTURE_SAMPLES, "seed": seed,
             "protocol": f"PacGAN: high quality within 3 std ({mixture.std}) of the nearest of {len(mixture.means)} "
                         "modes; a mode is captured by at least one high-quality sample"}
    held = {**where, "protocol": f"modes with at least {score['held_at']:g} high-quality samples (a tenth of a fair "
                                 "share): a capture that another draw keeps"}
    return [{"metric": "modes", "value": score["modes"], "of": score["of_modes"], **where},
            {"metric": "modes_held", "value": score["modes_held"], "of": score["of_modes"], **held},
            {"metric": "high_quality", "value": round(score["high_quality"], 4), **where}]


def _samples(generator: nn.Module, gan: GANConfig, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """n seeded samples; labels and categories go through the classes in turn, so each gets n/classes."""
    latents = latents_for_seed(n, gan.latent_dim, seed)
    labels = torch.arange(n) % gan.num_classes if gan.conditions_generator else None
    codes = draw_codes(n, gan.cat_codes, gan.cont_codes, torch.Generator().manual_seed(seed), cycle=True)
    return generate(generator, latents, labels=labels, **codes), labels


def run_evaluation(job: dict, lease: JobLease, store: ArtifactStore, settings: Settings,
                   heartbeat: LeaseHeartbeat | None = None) -> str:
    """An evaluation job: load the model and its data set, score it, record the figures on the job and the
    card (the card only while the model still exists)."""
    device = resolve_device(settings.device)
    spec = EvaluationSpec.model_validate(job["spec"])
    card = lease.registry.get_model(spec.model_id)
    if card is None:
        lease.set_status(JobStatus.FAILED, error=f"model {spec.model_id} no longer exists", finished_at=utcnow())
        return JobStatus.FAILED
    if card.dataset is None:
        lease.set_status(JobStatus.FAILED, error=f"model {card.id}'s card names no data set to score it against",
                         finished_at=utcnow())
        return JobStatus.FAILED
    image_size = card.image_shape[-1] if card.data_kind == "images" else None
    dataset = load_dataset(card.dataset.id, store, image_size, checksum=card.dataset.checksum)
    generator, _ = load_published_generator(store, card.id, device)
    result = evaluate(generator, card.gan, card.classes, dataset, store, spec,
                      lambda phase: lease.add_event("evaluation", {"phase": phase}))
    updated = card_with(card, result, job["id"])
    lease.set_status(JobStatus.SUCCEEDED, result=result, model=updated, model_exists=True, model_id=card.id,
                     finished_at=utcnow())
    if lease.registry.get_model(card.id) is not None:  # not deleted meanwhile: keep the file beside the weights
        replace_card(store, card.id, updated.to_json())
    return JobStatus.SUCCEEDED
