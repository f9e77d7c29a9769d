"""The reference classifier of a labelled data set: trained once (by the `reference` task, or by the first
evaluation that needs it), stored in the artifact store under the data set's checksum, loaded by every
evaluation after. Its held-out split is the real data that samples are compared with."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from models.checkpoint import atomic_save, load
from models.data import ImageDataset
from models.metrics import classifier as reference
from models.metrics.features import FeatureExtractor
from worker.store import ArtifactStore

log = logging.getLogger("ganforge.worker")


@dataclass(frozen=True)
class Reference:
    net: reference.ReferenceCNN
    held_out: torch.Tensor  # indices of the data set's images the classifier never trained on
    accuracy: float  # on those
    fingerprint: str

    def real_split(self, dataset: ImageDataset) -> tuple[torch.Tensor, torch.Tensor]:
        return dataset.images[self.held_out], dataset.labels[self.held_out]


def reference_path(store: ArtifactStore, checksum: str, shape: tuple[int, ...] | list[int]) -> Path:
    """Where the classifier of the data set with this checksum, at this image shape (C, H, W), is kept."""
    digest = checksum.removeprefix("sha256:")
    if not digest.isalnum():
        raise ValueError(f"not a checksum: {checksum!r}")
    return store.root / "references" / f"{digest}-{shape[0]}x{shape[-1]}" / "classifier.safetensors"


def needs_reference(store: ArtifactStore, manifest: dict, image_size: int | None) -> bool:
    """Whether a job on this data set (its manifest) at this image size should queue the reference task:
    labelled images whose classifier is not stored yet (a resized set is checked by the task itself)."""
    if manifest["kind"] != "images" or len(manifest["classes"]) < 2:
        return False
    shape = manifest["shape"]
    if image_size not in (None, shape[-1]):
        return True
    return not reference_path(store, manifest["checksum"], shape).exists()


def reference_classifier(dataset: ImageDataset, store: ArtifactStore,
                         on_phase: Callable[[str], None] = lambda _: None) -> Reference:
    """The cached classifier of this data set (at its image size), trained now if there is none yet."""
    path = reference_path(store, dataset.checksum(), dataset.shape)
    if path.exists():
        tensors, meta = load(path)
        held_out = tensors.pop("held_out")
        net = reference.load_classifier(tensors, meta["config"])
        return Reference(net, held_out, meta["accuracy"], meta["fingerprint"])
    on_phase("training the reference classifier")
    trained = reference.train_classifier(dataset.images, dataset.labels, len(dataset.classes))
    tensors, config = reference.classifier_state(trained.net)
    fingerprint = reference.fingerprint(trained.net)
    meta = {"config": config, "accuracy": trained.held_out_accuracy, "fingerprint": fingerprint,
            "dataset": dataset.name, "checksum": dataset.checksum(), "seconds": round(trained.seconds, 2)}
    atomic_save({**tensors, "held_out": trained.held_out_indices}, meta, path)
    log.info("reference classifier for %s: %.1f%% held-out accuracy in %.1f s", dataset.name,
             100 * trained.held_out_accuracy, trained.seconds)
    return Reference(trained.net, trained.held_out_indices, trained.held_out_accuracy, fingerprint)


def cached_real_features(store: ArtifactStore, dataset: ImageDataset) -> Callable[[FeatureExtractor, torch.Tensor],
                                                                                   torch.Tensor]:
    """evaluate_images' embed_real: the real images' features, computed once per extractor and set of images and
    kept beside the data set's classifier (Inception takes minutes per 1,000 images on a CPU). The key is a digest
    of the extractor's id and the images' bytes, so a changed split or extractor never reuses stale features."""
    directory = reference_path(store, dataset.checksum(), dataset.shape).parent

    def embed(extractor: FeatureExtractor, images: torch.Tensor) -> torch.Tensor:
        digest = hashlib.sha256(extractor.id.encode())
        digest.update(images.contiguous().numpy().tobytes())
        path = directory / f"real-features-{digest.hexdigest()[:24]}.safetensors"
        if path.exists():
            return load(path)[0]["features"]
        features = extractor(images).float().contiguous()
        atomic_save({"features": features}, {"extractor": extractor.id, "images": len(images),
                                             "dataset": dataset.name}, path)
        return features

    return embed
