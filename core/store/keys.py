"""Every name an artifact has in the store, built here and nowhere else.

A key is a relative, `/`-separated name (`models/<id>/generator.safetensors`). The local backend keeps it as the
file of that name under GANFORGE_DATA_DIR (the layout of earlier versions); the S3 backend as the object of that
name under the bucket's prefix. A set of files published together (a model, an uploaded data set) shares a
prefix and ends with its manifest (see ArtifactStore.publish).
"""

from __future__ import annotations

import re

from core.ids import is_valid

MANIFEST = "manifest.json"
GENERATOR_FILE, CARD_FILE = "generator.safetensors", "card.json"
# A segment starts with a letter, digit or underscore: never `.` or `..`, and never a dot-name, which the local
# backend keeps for its temp files and staging folders.
_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.=-]*")


def check_key(key: str) -> str:
    if len(key) > 900 or not all(_SEGMENT.fullmatch(part) for part in key.split("/")):
        raise ValueError(f"not a store key: {key!r} (relative, '/'-separated names of letters, digits, '_', '-', "
                         "'.', '=', none starting with '.' or '-')")
    return key


def _id(item_id: str) -> str:
    if not is_valid(item_id):
        raise ValueError(f"invalid id {item_id!r}")
    return item_id


def model_prefix(model_id: str) -> str:
    return f"models/{_id(model_id)}"


def dataset_prefix(dataset_id: str) -> str:
    return f"datasets/{_id(dataset_id)}"


def dataset_key(dataset_id: str, name: str) -> str:
    return f"{dataset_prefix(dataset_id)}/{name}"


def job_key(job_id: str, name: str) -> str:
    return f"jobs/{_id(job_id)}/{name}"


def augmentation_mix_key(job_id: str) -> str:
    """The images an augmentation report's recommended row adds to its data set (worker/augmentation_report.py)."""
    return job_key(job_id, "augmentation-mix.safetensors")


def checkpoint_key(job_id: str) -> str:
    return job_key(job_id, "checkpoint.safetensors")


def best_generator_key(job_id: str) -> str:
    return job_key(job_id, "best-generator.safetensors")


def metrics_key(job_id: str) -> str:
    return job_key(job_id, "metrics.jsonl")


def sample_key(job_id: str, epoch: int) -> str:
    return job_key(job_id, f"samples/epoch-{epoch:04d}.png")


def _reference_prefix(checksum: str, shape: tuple[int, ...] | list[int]) -> str:
    """Where what is derived from a data set's content is kept: by its checksum and image shape (C, H, W), so
    that any upload of the same images finds it."""
    digest = checksum.removeprefix("sha256:")
    if not digest.isalnum():
        raise ValueError(f"not a checksum: {checksum!r}")
    return f"references/{digest}-{shape[0]}x{shape[-1]}"


def reference_key(checksum: str, shape: tuple[int, ...] | list[int]) -> str:
    """The reference classifier of the data set with this checksum, at this image shape."""
    return f"{_reference_prefix(checksum, shape)}/classifier.safetensors"


def real_features_key(checksum: str, shape: tuple[int, ...] | list[int], digest: str) -> str:
    """That data set's real images embedded by one extractor; `digest` names the extractor and the images."""
    return f"{_reference_prefix(checksum, shape)}/real-features-{digest}.safetensors"
