"""An evaluation job asking for `augmentation_gain`: the augmentation report (models/metrics/augmentation_gain.py)
of a class-conditional generator on a labelled data set, and the recommended mix made ready for augment.

The report tests on the data set's evaluation split (the reference classifier's held-out images). The mix is
made for the whole data set: the images the recommended row adds to it (repeated, deformed or synthetic), stored
beside the job, so that `augment` with `mix: recommended` streams the data set's own images and these, and hands
out exactly what was measured."""

from __future__ import annotations

import hashlib

import torch
from torch import nn

from core.artifacts import load_published_generator, replace_card
from core.card import ModelCard
from core.datasets import dataset_checksum, load_dataset
from core.ids import utcnow
from core.registry import JobLease
from core.settings import Settings
from core.spec import EvaluationSpec
from core.states import JobStatus
from core.store import ArtifactStore
from core.store.keys import augmentation_mix_key
from models.checkpoint import tensors_to_bytes
from models.data import ImageDataset
from models.device import resolve_device
from models.metrics import augmentation_gain as report
from models.sampling import generate, latents_for_seed
from worker.lease_heartbeat import LeaseHeartbeat
from worker.references import RELIABLE_ACCURACY, reference_classifier

MIX_SEED = 1_000  # the mix's own draw: not one of the report's seeds, so no measured image is handed out twice


def synthesizer(generator: nn.Module, card: ModelCard, classes: list[str]) -> report.Synthesize:
    """Draws counts[c] images of the data set's class c (matched to the model's classes by name)."""
    model_label = torch.tensor([card.classes.index(name) for name in classes])

    def synthesize(counts: list[int], seed: int) -> report.Split:
        labels = torch.cat([torch.full((k,), c, dtype=torch.long) for c, k in enumerate(counts)])
        if len(labels) == 0:
            return report.Split(torch.zeros(0, *card.image_shape, dtype=torch.uint8), labels)
        latents = latents_for_seed(len(labels), card.latent_dim, _seed(seed))
        return report.Split(generate(generator, latents, labels=model_label[labels]), labels)

    return synthesize


def _seed(seed: int) -> int:
    return int.from_bytes(hashlib.blake2b(f"augmentation-report:{seed}".encode(), digest_size=8).digest(), "big") >> 1


def run_augmentation_report(job: dict, lease: JobLease, store: ArtifactStore, settings: Settings,
                            heartbeat: LeaseHeartbeat | None = None) -> str:
    spec = EvaluationSpec.model_validate(job["spec"])
    card = lease.registry.get_model(spec.model_id)
    if card is None:
        lease.set_status(JobStatus.FAILED, error=f"model {spec.model_id} no longer exists", finished_at=utcnow())
        return JobStatus.FAILED
    own = spec.dataset in (None, card.dataset.id if card.dataset else None)
    dataset_id = card.dataset.id if own else spec.dataset
    dataset = load_dataset(dataset_id, store, card.image_shape[-1],
                           checksum=card.dataset.checksum if own else None)
    if not isinstance(dataset, ImageDataset) or len(dataset.classes) < 2:
        raise ValueError("the augmentation report needs labelled images of at least two classes")
    phase = lambda name: lease.add_event("evaluation", {"phase": name})  # noqa: E731
    reference = reference_classifier(dataset, store, phase)
    device = resolve_device(settings.device)
    generator, _ = load_published_generator(store, card.id, device)
    held_out = torch.zeros(len(dataset.labels), dtype=torch.bool)
    held_out[reference.held_out] = True
    classes = list(dataset.classes)
    counts = torch.bincount(dataset.labels, minlength=len(classes)).tolist()
    rare = [classes.index(n) for n in spec.rare_classes] if spec.rare_classes else report.rare_by_default(counts)
    inputs = report.ReportInputs(
        train=report.Split(dataset.images[~held_out], dataset.labels[~held_out]),
        test=report.Split(dataset.images[held_out], dataset.labels[held_out]),
        classes=classes, rare=rare, seeds=spec.seeds, synthesize=synthesizer(generator, card, classes))
    phase("augmentation report")
    result = report.measure(inputs, lambda progress: lease.add_event("evaluation", progress))
    gan_saw = not (own and card.dataset.held_out)
    result |= {
        "dataset": {"id": dataset_id, "checksum": dataset_checksum(dataset_id, store), "own": own},
        "held_out_from_gan": not gan_saw,
        "reference": reference.reliability(),
        "notes": _notes(gan_saw, own, reference.accuracy),
        "spec": spec.model_dump(exclude={"kind"}),
    }
    phase("making the recommended mix")
    result["mix"] = _store_mix(job["id"], result, dataset, inputs, store)
    updated = card.model_copy(update={"metrics": {**card.metrics, "augmentation": summary(result, job["id"]),
                                                  "scores": {**card.metrics.get("scores", {}),
                                                             "augmentation_gain": result["recommended"]["gain"]}}})
    lease.set_status(JobStatus.SUCCEEDED, result=result, model=updated, model_exists=True, model_id=card.id,
                     finished_at=utcnow())
    if lease.registry.get_model(card.id) is not None:
        replace_card(store, card.id, updated.to_json())
    return JobStatus.SUCCEEDED


def _notes(gan_saw: bool, own: bool, accuracy: float) -> list[str]:
    notes = []
    if gan_saw:
        notes.append("the GAN saw the test images while it trained (train it with hold_out: true for a report on "
                     "images it never saw): synthetic rows may read better than they are" if own else
                     "another data set than the model's: whether the GAN saw its test images is not known")
    if accuracy < RELIABLE_ACCURACY:
        notes.append(f"the data set's reference classifier reaches {100 * accuracy:.1f} % on the test images "
                     f"(< {100 * RELIABLE_ACCURACY:.0f} %): a hard set or too few images; every row's figures are "
                     "read on those few test images")
    return notes


def _store_mix(job_id: str, result: dict, dataset: ImageDataset, inputs: report.ReportInputs,
               store: ArtifactStore) -> dict:
    """The images the recommended row adds to the whole data set, stored for augment; what it holds."""
    row = report.ROW_BY_NAME[result["recommended"]["row"]]
    whole = report.Split(dataset.images, dataset.labels)
    counts = torch.bincount(dataset.labels, minlength=len(inputs.classes)).tolist()
    pool = None
    if "synthetic" in row.source:
        syn = inputs.synthesize(report.synthetic_need(counts), MIX_SEED)
        judge = report.balanced_judge(whole, MIX_SEED) if row.filtered else None
        pool = report.Pool(syn, report.Filter.for_split(judge, whole).keep(syn))
    parts = report.added_parts(row, whole, counts, pool, MIX_SEED)
    added = report.join(report.Split(whole.images[:0], whole.labels[:0]), *(part for _, part in parts))
    source = torch.cat([torch.full((len(part),), report.SOURCES.index(name), dtype=torch.uint8)
                        for name, part in parts]) if parts else torch.zeros(0, dtype=torch.uint8)
    store.put_bytes(augmentation_mix_key(job_id), tensors_to_bytes(
        {"images": added.images, "labels": added.labels, "source": source},
        {"row": row.name, "dataset": result["dataset"]}))
    per_class = torch.bincount(added.labels, minlength=len(inputs.classes)).tolist()
    return {"row": row.name, "source": row.source, "real": len(whole), "added": len(added),
            "added_counts": dict(zip(inputs.classes, per_class, strict=True)), "seed": MIX_SEED}


def summary(result: dict, job_id: str) -> dict:
    """What the card keeps of a report: the recommendation and each row's balanced accuracy."""
    return {"evaluation_id": job_id, "recommended": result["recommended"], "best_classic": result["best_classic"],
            "dataset": result["dataset"]["id"], "held_out_from_gan": result["held_out_from_gan"],
            "reliable": result["reference"]["reliable"], "synthetic_verdict": report.synthetic_verdict(result),
            "rows": [{"name": r["name"], "balanced_accuracy": r["balanced_accuracy"], "vs_real": r["vs_real"],
                      "rare_recall": r["rare_recall"]} for r in result["rows"]],
            "mix": result["mix"], "finished_at": utcnow()}
