"""`augment` with `mix: recommended`: the data set's own images and what the augmentation report's recommended
row adds to them (stored by the report's job), streamed as a ZIP (a folder per class, each image named by where
it comes from: real_, repeated_, deformed_ or synthetic_) or an NPZ (images, labels, classes, source, sources),
with the report, its row and its measured gain in the manifest."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from core.card import ModelCard
from core.datasets import load_dataset
from core.datasets.errors import DatasetChanged, DatasetNotFound
from core.ids import utcnow
from core.store import ArtifactStore
from core.store.keys import augmentation_mix_key
from models.checkpoint import tensors_from_bytes
from models.metrics.augmentation_gain import SOURCES
from models.sampling import png_bytes
from service.api.problems import Problem
from service.serving.archives import as_array, streamed, write_array, write_bytes, write_chunked
from service.serving.augment import safe_folder

CHUNK = 256
HOW_TO = 'POST /v1/models/{id}/evaluations {{"metrics": ["augmentation_gain"]}} and wait for it to succeed'


@dataclass(frozen=True)
class MixPlan:
    card: ModelCard
    report: dict  # the card's metrics.augmentation
    parts: tuple[torch.Tensor, ...]  # uint8 NCHW: the data set's images, then the added ones (not copied together)
    labels: torch.Tensor  # class index, in `classes`
    source: torch.Tensor  # uint8 index into SOURCES
    classes: list[str]

    @property
    def total(self) -> int:
        return len(self.labels)

    def chunks(self) -> Iterator[tuple[int, torch.Tensor]]:
        """(index of the first image, up to CHUNK images) in the mix's order."""
        start = 0
        for part in self.parts:
            for offset in range(0, len(part), CHUNK):
                yield start + offset, part[offset : offset + CHUNK]
            start += len(part)

    def headers(self) -> dict[str, str]:
        recommended = self.report["recommended"]
        return {"X-Augmentation-Report": self.report["evaluation_id"], "X-Mix-Row": recommended["row"],
                "X-Measured-Gain": f"{recommended['gain']:+.4f} balanced accuracy (spread {recommended['spread']:.4f})"}

    def manifest(self, fmt: str) -> dict:
        counts = torch.bincount(self.source.long(), minlength=len(SOURCES)).tolist()
        return {"model_id": self.card.id, "mix": "recommended", "report_id": self.report["evaluation_id"],
                "row": self.report["recommended"]["row"], "measured_gain": self.report["recommended"],
                "dataset": self.report["dataset"], "held_out_from_gan": self.report["held_out_from_gan"],
                "reliable": self.report["reliable"], "by_source": dict(zip(SOURCES, counts, strict=True)),
                "classes": self.classes, "total": self.total, "format": fmt, "created_at": utcnow()}


def plan_mix(card: ModelCard, store: ArtifactStore, cap: int) -> MixPlan:
    """The recommended mix of the card's latest report (blocking I/O: run it off the event loop)."""
    report = card.metrics.get("augmentation")
    if not report:
        raise Problem(409, f"mix recommended: model {card.id} has no augmentation report yet; "
                           + HOW_TO.format(id=card.id))
    stored = store.try_get_bytes(augmentation_mix_key(report["evaluation_id"]))
    if stored is None:
        raise Problem(409, f"mix recommended: the mix of report {report['evaluation_id']} is no longer stored; "
                           "make a new report: " + HOW_TO.format(id=card.id))
    added, meta = tensors_from_bytes(stored)
    dataset_ref = meta["dataset"]
    if len(added["labels"]) + report["mix"]["real"] > cap:
        raise Problem(422, f"mix recommended: the mix holds {len(added['labels']) + report['mix']['real']} images, "
                           f"more than one augment request may send (the server's max_augment_images, {cap})")
    try:
        dataset = load_dataset(dataset_ref["id"], store, card.image_shape[-1], checksum=dataset_ref["checksum"])
    except (DatasetNotFound, DatasetChanged) as exc:
        raise Problem(409, f"mix recommended: report {report['evaluation_id']}'s data set cannot be read as it was "
                           f"measured ({exc}); make a new report: " + HOW_TO.format(id=card.id)) from exc
    real_source = torch.full((len(dataset.labels),), SOURCES.index("real"), dtype=torch.uint8)
    return MixPlan(card, report, (dataset.images, added["images"]),
                   torch.cat([dataset.labels, added["labels"]]), torch.cat([real_source, added["source"]]),
                   list(dataset.classes))


def stream(plan: MixPlan, fmt: str, on_images: Callable[[int], None]) -> Iterator[bytes]:
    writer = _write_pngs if fmt == "zip" else _write_arrays
    for made, data in streamed(writer, plan, plan.manifest(fmt)):
        if made:
            on_images(made)
        yield data


def _write_pngs(archive: zipfile.ZipFile, plan: MixPlan, manifest: dict | None) -> Iterator[int]:
    folders = [safe_folder(name, i) for i, name in enumerate(plan.classes)]
    numbers = [0] * (len(plan.classes) * len(SOURCES))
    for start, images in plan.chunks():
        for i, image in enumerate(images, start):
            label, source = int(plan.labels[i]), int(plan.source[i])
            number = numbers[label * len(SOURCES) + source]
            numbers[label * len(SOURCES) + source] += 1
            write_bytes(archive, f"{folders[label]}/{SOURCES[source]}_{number:06d}.png", png_bytes(image))
        yield len(images)
    write_bytes(archive, "manifest.json", json.dumps(manifest, indent=2))


def _write_arrays(archive: zipfile.ZipFile, plan: MixPlan, manifest: dict | None) -> Iterator[int]:
    chunks = (as_array(images) for _, images in plan.chunks())
    yield from write_chunked(archive, "images", plan.total, chunks)
    write_array(archive, "labels", plan.labels.numpy().astype(np.int64))
    write_array(archive, "classes", np.array(plan.classes))
    write_array(archive, "source", plan.source.numpy())
    write_array(archive, "sources", np.array(SOURCES))
    if manifest is not None:
        write_array(archive, "manifest", np.array(json.dumps(manifest, indent=2)))
