"""The reference classifier of a labelled data set: trained once (by the `reference` task, or by the first
evaluation that needs it), stored in the artifact store under the data set's checksum, loaded by every
evaluation after. Its held-out split is the real data that samples are compared with."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from core.store import ArtifactStore
from core.store.keys import real_features_key, reference_key
from models.checkpoint import tensors_from_bytes, tensors_to_bytes
from models.data import ImageDataset
from models.metrics import classifier as reference
from models.metrics.features import FeatureExtractor

log = logging.getLogger("ganforge.worker")
# Below this held-out accuracy the classifier's readings are weak evidence: measured, the `shapes` classifier at
# 16 px reached 52.5 %, yet its domain scores backed published figures. MNIST-like sets reach about 98 %.
RELIABLE_ACCURACY = 0.95
# A classifier whose mean confidence on uniform noise lies more than this share of the way from an even reading
# (1 / classes) to certainty is sure of noise: its confidence is no sign that an image looks like the set. MNIST's
# reads noise at 1.00; a colour set's, trained with outlier exposure, at about 1 / classes (shapes: 0.26 of 4).
SURE_OF_NOISE = 0.5


@dataclass(frozen=True)
class Reference:
    net: reference.ReferenceCNN
    held_out: torch.Tensor  # indices of the data set's images the classifier never trained on
    accuracy: float  # on those
    fingerprint: str
    noise_confidence: float | None = None  # its mean confidence on uniform noise (classifier.noise_confidence)

    def real_split(self, dataset: ImageDataset) -> tuple[torch.Tensor, torch.Tensor]:
        return dataset.images[self.held_out], dataset.labels[self.held_out]

    def reliability(self) -> dict:
        """What every figure the classifier reads carries beside it: its held-out accuracy and whether that
        reaches RELIABLE_ACCURACY (with why not, when not), and how sure it is of noise (with what that means for
        its confidence, when it is sure)."""
        out = {"accuracy": round(self.accuracy, 4), "held_out_images": len(self.held_out),
               "reliable": self.accuracy >= RELIABLE_ACCURACY}
        if not out["reliable"]:
            out["why"] = (f"the data set's reference classifier reaches {100 * self.accuracy:.1f} % on its held-out "
                          f"images (below {100 * RELIABLE_ACCURACY:g} %): figures it reads (domain scores, "
                          "classifier-feature FD/KID/PRDC, CAS) are weak evidence")
        if self.noise_confidence is not None:
            out["noise_confidence"] = round(self.noise_confidence, 3)
            even = 1 / self.net.config.num_classes
            if self.noise_confidence > even + SURE_OF_NOISE * (1 - even):
                out["confidence_caveat"] = (f"it reads uniform noise with a mean confidence of "
                                            f"{self.noise_confidence:.2f}: its confidence and class shares say which "
                                            "class a sample is nearest to, not that it looks like the data set; "
                                            "read them beside the FD")
        return out


def reference_classifier(dataset: ImageDataset, store: ArtifactStore,
                         on_phase: Callable[[str], None] = lambda _: None,
                         on_epoch: Callable[[int, int], None] = lambda done, epochs: None) -> Reference:
    """The cached classifier of this data set (at its image size), trained now if there is none yet (`on_epoch`
    hears of each finished pass of that training)."""
    key = reference_key(dataset.checksum(), dataset.shape)
    if (stored := store.try_get_bytes(key)) is not None:
        tensors, meta = tensors_from_bytes(stored)
        held_out = tensors.pop("held_out")
        net = reference.load_classifier(tensors, meta["config"])
        wanted = reference.config_for(dataset.images, len(dataset.classes))
        if _recipe(net.config) == _recipe(wanted):
            # Stored with it since the reading existed; measured again (about 1 s at 64 px) for a store from before.
            noise = meta.get("noise_confidence")
            noise = reference.noise_confidence(net) if noise is None else noise
            return Reference(net, held_out, meta["accuracy"], meta["fingerprint"], noise)
        # Built by an older rule (colour sets once got MNIST's depth, and read small shapes at 53-85 %; then no
        # outlier exposure, and read noise as a cross): trained again, under a new fingerprint, so figures read
        # with the old one do not mix with the new.
        log.info("reference classifier for %s: conv blocks and outlier weight %s, now %s: training it again",
                 dataset.name, _recipe(net.config), _recipe(wanted))
    on_phase("training the reference classifier")
    trained = reference.train_classifier(dataset.images, dataset.labels, len(dataset.classes), on_epoch=on_epoch)
    tensors, config = reference.classifier_state(trained.net)
    fingerprint = reference.fingerprint(trained.net)
    noise = reference.noise_confidence(trained.net)
    meta = {"config": config, "accuracy": trained.held_out_accuracy, "fingerprint": fingerprint,
            "noise_confidence": noise, "dataset": dataset.name, "checksum": dataset.checksum(),
            "seconds": round(trained.seconds, 2)}
    store.put_bytes(key, tensors_to_bytes({**tensors, "held_out": trained.held_out_indices}, meta))
    log.info("reference classifier for %s: %.1f%% held-out accuracy in %.1f s", dataset.name,
             100 * trained.held_out_accuracy, trained.seconds)
    return Reference(trained.net, trained.held_out_indices, trained.held_out_accuracy, fingerprint, noise)


def _recipe(config: reference.ClassifierConfig) -> tuple[int, float]:
    return config.blocks, config.outlier_weight


class NoLongerWanted(Exception):
    """The jobs that waited for a reference classifier were all cancelled: its training stops."""


def until_unwanted(on_epoch: Callable[[int, int], None], wanted: Callable[[], bool]) -> Callable[[int, int], None]:
    """An on_epoch that raises NoLongerWanted after a pass once `wanted()` says no one waits any more."""

    def checked(done: int, epochs: int) -> None:
        on_epoch(done, epochs)
        if done < epochs and not wanted():
            raise NoLongerWanted(f"no job waits for it after pass {done} of {epochs}")

    return checked


def waiting_reporter(report: Callable[[dict], None], dataset_id: str) -> Callable[[int, int], None]:
    """An on_epoch for reference_classifier that tells a job waiting on this training how far it is: `report`
    gets {"for", "dataset", "epoch", "epochs", "eta_s"} after each pass (the ETA from the passes so far)."""
    started = time.monotonic()

    def on_epoch(done: int, epochs: int) -> None:
        eta = (time.monotonic() - started) / done * (epochs - done)
        report({"for": "reference classifier", "dataset": dataset_id, "epoch": done, "epochs": epochs,
                "eta_s": round(eta, 1)})

    return on_epoch


def cached_real_features(store: ArtifactStore, dataset: ImageDataset) -> Callable[[FeatureExtractor, torch.Tensor],
                                                                                   torch.Tensor]:
    """evaluate_images' embed_real: the real images' features, computed once per extractor and set of images and
    kept beside the data set's classifier (Inception takes minutes per 1,000 images on a CPU). The key is a digest
    of the extractor's id and the images' bytes, so a changed split or extractor never reuses stale features."""
    checksum = dataset.checksum()

    def embed(extractor: FeatureExtractor, images: torch.Tensor) -> torch.Tensor:
        digest = hashlib.sha256(extractor.id.encode())
        digest.update(images.contiguous().numpy().tobytes())
        key = real_features_key(checksum, dataset.shape, digest.hexdigest()[:24])
        if (stored := store.try_get_bytes(key)) is not None:
            return tensors_from_bytes(stored)[0]["features"]
        features = extractor(images).float().contiguous()
        store.put_bytes(key, tensors_to_bytes({"features": features}, {"extractor": extractor.id,
                                                                        "images": len(images),
                                                                        "dataset": dataset.name}))
        return features

    return embed
