"""Whether a job's data set still needs its reference classifier trained (worker.references trains and caches it),
so that the API can queue that work ahead of the job."""

from __future__ import annotations

from core.registry import Registry
from core.states import JobStatus
from core.store import ArtifactStore
from core.store.keys import reference_key


def needs_reference(store: ArtifactStore, manifest: dict, image_size: int | None) -> bool:
    """Whether a job on this data set (its manifest) at this image size should queue the reference task:
    labelled images whose classifier is not stored yet (a resized set is checked by the task itself)."""
    if manifest["kind"] != "images" or len(manifest["classes"]) < 2:
        return False
    shape = manifest["shape"]
    if image_size not in (None, shape[-1]):
        return True
    return not store.exists(reference_key(manifest["checksum"], shape))


def reference_wanted(registry: Registry, dataset_id: str, image_size: int | None, job_id: str) -> bool:
    """Whether a job still waits for this reference classifier: the one that queued the task, or any other
    queued job on the same data set and image size (whose own task would otherwise train it all again). A job
    cancelled while its classifier trains frees the worker at the next pass when no one else waits."""
    if (job := registry.get_job(job_id)) is not None and job["status"] == JobStatus.QUEUED:
        return True
    return any(spec.get("dataset") == dataset_id and (spec.get("model") or {}).get("image_size") == image_size
               for spec in registry.queued_specs())
