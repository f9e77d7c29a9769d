"""A projection job: a real image into a style-based model's ws, on a worker (hundreds of generator passes)."""

from __future__ import annotations

import torch

from core.artifacts import load_published_generator
from core.datasets import load_dataset
from core.ids import utcnow
from core.pngs import decode_png, encode_png
from core.registry import JobLease
from core.settings import Settings
from core.spec import ProjectionSpec
from core.states import JobStatus
from core.store import ArtifactStore
from models.data import ImageDataset
from models.device import resolve_device
from models.projection import project
from worker.lease_heartbeat import LeaseHeartbeat
from worker.references import reference_classifier


def run_projection(job: dict, lease: JobLease, store: ArtifactStore, settings: Settings,
                   heartbeat: LeaseHeartbeat | None = None) -> str:
    device = resolve_device(settings.device)
    spec = ProjectionSpec.model_validate(job["spec"])
    card = lease.registry.get_model(spec.model_id)
    if card is None:
        lease.set_status(JobStatus.FAILED, error=f"model {spec.model_id} no longer exists", finished_at=utcnow())
        return JobStatus.FAILED
    dataset = load_dataset(card.dataset.id, store, card.image_shape[-1], checksum=card.dataset.checksum) \
        if card.dataset is not None else None
    if spec.target_png is not None:
        target = decode_png(spec.target_png)
    elif dataset is None or spec.dataset_index >= len(dataset.labels):
        count = 0 if dataset is None else len(dataset.labels)
        lease.set_status(JobStatus.FAILED, error=f"dataset_index {spec.dataset_index}: model {card.id}'s data set "
                                                 f"holds {count} images", finished_at=utcnow())
        return JobStatus.FAILED
    else:
        target = dataset.images[spec.dataset_index]
    generator, _ = load_published_generator(store, card.id, device)
    features, feature_note = _features(dataset, store, device, lambda phase: lease.add_event("projection",
                                                                                             {"phase": phase}))
    lease.add_event("projection", {"phase": "searching", "steps": spec.steps})
    found = project(generator, target, spec.steps, spec.space, spec.seed, features)
    result = {
        "ws": found.ws.tolist(), "space": spec.space,
        "reconstruction_png": encode_png(found.image), "target_png": encode_png(target),
        "distance": {"pixel_mse": found.pixel_mse, "objective": round(found.distance, 6),
                     "mean_w_pixel_mse": found.start_pixel_mse, "mean_w_objective": round(found.start_distance, 6),
                     "defined_as": "pixel_mse: mean squared error in 0-255 units against the target (its image "
                                   "at the model's shape); objective: pixel MSE in [-1, 1] at full, 1/2 and 1/4 "
                                   "size, summed" + feature_note + "; mean_w_*: the same for the mean w's image, "
                                   "where the search starts"},
        "history": found.history,
    }
    lease.set_status(JobStatus.SUCCEEDED, result=result, finished_at=utcnow())
    return JobStatus.SUCCEEDED


def _features(dataset: ImageDataset | None, store: ArtifactStore, device: torch.device, on_phase):
    """The data set's reference classifier's penultimate features (trained now if it is not cached), or none for
    an unlabelled set."""
    if dataset is None or len(dataset.classes) < 2:
        return None, ""
    net = reference_classifier(dataset, store, on_phase).net.to(device).eval().requires_grad_(False)
    return net.features, (", plus the mean squared distance of the data set's reference classifier's "
                          "penultimate features")

