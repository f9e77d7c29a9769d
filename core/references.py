"""Whether a job's data set still needs its reference classifier trained (worker.references trains and caches it),
so that the API can queue that work ahead of the job."""

from __future__ import annotations

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
