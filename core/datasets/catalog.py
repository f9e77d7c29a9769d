"""The data set catalog: the built-ins (from models.data) and uploads (files in the store, listed in Redis).

An upload is published in the artifact store under `datasets/<id>/`: `data.safetensors` (`images` uint8
N x C x H x W, `labels` int64 N, -1 when unlabelled) and `preview.png`, then `manifest.json` (its description,
plus each file's size and sha256) last, so a reader sees a whole data set or none; a delete removes the manifest
first. A job reads the data whole (it trains on every image): from a remote store it is downloaded into local
scratch space for the load and removed after.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import threading
from importlib import metadata
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from core.datasets.decode import Decoded, decode_upload
from core.datasets.errors import BuiltinDataset, DatasetChanged, DatasetInUse, DatasetNotFound
from core.datasets.options import UploadLimits, UploadOptions
from core.datasets.preview import image_grid_png, scatter_png
from core.ids import is_valid, new_id, utcnow
from core.registry import Registry
from core.store import ArtifactNotFound, ArtifactStore, ArtifactStream, StoreError
from core.store.keys import dataset_key, dataset_prefix
from models.data import BUILTIN_DATASETS, ImageDataset, PointDataset, TwoDomainDataset, load_builtin, resized
from models.sampling import as_shown

log = logging.getLogger("ganforge.datasets")

DATA_FILE, PREVIEW_FILE = "data.safetensors", "preview.png"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# Built-in manifests and previews cost a load (and a hash) each, 1-2 s: computed once per process, on first use.
# One lock per built-in, so that a job on mnist submitted while the start-up warm-up describes the two-domain
# sets waits for mnist alone (one lock for all made the first POST after `ganforge up` take 8.6 s).
_builtin_locks: dict[str, threading.Lock] = {name: threading.Lock() for name in BUILTIN_DATASETS}
_builtin_manifests: dict[str, dict] = {}
_previews_lock = threading.Lock()
_builtin_previews: dict[str, bytes] = {}


def builtin_manifest(name: str) -> dict:
    with _builtin_locks[name]:
        if name not in _builtin_manifests:
            _builtin_manifests[name] = _describe_builtin(name, load_builtin(name))
        return _builtin_manifests[name]


def builtin_preview(name: str) -> bytes:
    with _previews_lock:
        if name not in _builtin_previews:
            _builtin_previews[name] = _preview(load_builtin(name))
        return _builtin_previews[name]


def warm_builtins(store: ArtifactStore | None = None) -> threading.Thread:
    """Computes the built-ins' manifests in the background, so the first listing is quick; with a store, reads
    them from there when the code and packages that build them are unchanged (7 s of loading and hashing saved
    on every restart), and keeps what it computed there for the next start."""

    def warm() -> None:
        key = _builtin_manifests_key()
        cached = _read_json(store, key) if store is not None else None
        for name, manifest in (cached or {}).items():
            with _builtin_locks[name]:
                _builtin_manifests.setdefault(name, manifest)
        for name in BUILTIN_DATASETS:
            try:
                builtin_manifest(name)
            except Exception:  # a listing will try again and report it
                log.exception("could not describe built-in data set %s", name)
        if store is not None and cached != _builtin_manifests:
            try:
                store.put_bytes(key, json.dumps(_builtin_manifests).encode())
            except StoreError as exc:
                log.warning("could not keep the built-ins' manifests: %s", exc)

    thread = threading.Thread(target=warm, name="warm-builtin-datasets", daemon=True)
    thread.start()
    return thread


def _builtin_manifests_key() -> str:
    """Where the built-ins' manifests are kept: under a digest of what builds them (their code, and the packages
    whose data and resizing they use), so that a change to any of it describes them afresh."""
    from models import data, shapes, toy2d

    digest = hashlib.sha256()
    for module in (data, shapes, toy2d):
        digest.update(Path(module.__file__).read_bytes())
    for package in ("mlxtend", "numpy", "scikit-learn", "torch"):  # read, not imported: importing takes seconds
        digest.update(metadata.version(package).encode())
    return f"builtins/manifests-{digest.hexdigest()[:16]}.json"


def _read_json(store: ArtifactStore, key: str) -> dict | None:
    try:
        raw = store.try_get_bytes(key)
        return json.loads(raw) if raw is not None else None
    except (StoreError, ValueError) as exc:
        log.warning("could not read the built-ins' manifests: %s", exc)
        return None


def load_dataset(dataset_id: str, store: ArtifactStore, image_size: int | None = None,
                 checksum: str | None = None) -> ImageDataset | PointDataset | TwoDomainDataset:
    """The data set a job trains on; with `checksum`, refuses one whose content changed since submit."""
    if dataset_id in BUILTIN_DATASETS:
        dataset = load_builtin(dataset_id)
    elif is_valid(dataset_id) and (manifest := store.read_manifest(dataset_prefix(dataset_id))) is not None:
        dataset = _read_upload(dataset_id, store, manifest)
    else:
        raise DatasetNotFound(f"unknown data set {dataset_id!r} (deleted?); built-ins: {', '.join(BUILTIN_DATASETS)}")
    if checksum is not None and dataset.checksum() != checksum:
        raise DatasetChanged(f"data set {dataset_id} changed since the job was submitted (checksum {checksum} "
                             f"then, {dataset.checksum()} now); submit the job again to train on it as it is")
    return resized(dataset, image_size) if image_size is not None else dataset


def dataset_checksum(dataset_id: str, store: ArtifactStore) -> str:
    """The checksum in the data set's manifest."""
    if dataset_id in BUILTIN_DATASETS:
        return builtin_manifest(dataset_id)["checksum"]
    manifest = store.read_manifest(dataset_prefix(dataset_id)) if is_valid(dataset_id) else None
    if manifest is None:
        raise DatasetNotFound(f"unknown data set {dataset_id!r}")
    return manifest["checksum"]


class DatasetCatalog:
    def __init__(self, registry: Registry, store: ArtifactStore, limits: UploadLimits):
        self.registry, self.store, self.limits = registry, store, limits

    def incoming_dir(self) -> Path:
        """Where uploads stream to before they are decoded: local scratch space (for the local store, on its
        disk, so that publishing the decoded data is a link rather than a copy)."""
        path = self.store.incoming_dir
        path.mkdir(parents=True, exist_ok=True)
        return path

    def get(self, dataset_id: str) -> dict | None:
        if dataset_id in BUILTIN_DATASETS:
            return builtin_manifest(dataset_id)
        return self.registry.get_dataset(dataset_id) if is_valid(dataset_id) else None

    def list(self, limit: int = 50, offset: int = 0) -> tuple[list[dict], int]:
        """Built-ins first, then uploads newest first; returns (page, total)."""
        builtins = [builtin_manifest(name) for name in BUILTIN_DATASETS]
        page = builtins[offset : offset + limit]
        room, upload_offset = limit - len(page), max(0, offset - len(builtins))
        if room > 0:
            page += self.registry.list_datasets(room, upload_offset)
        return page, len(builtins) + self.registry.count_datasets()

    def available_ids(self, most: int = 20) -> list[str]:
        uploads = [d["id"] for d in self.registry.list_datasets(most)]
        return [*BUILTIN_DATASETS, *uploads]

    def create(self, upload: Path, source: str | None, options: UploadOptions) -> dict:
        """Decodes the upload, stores it atomically and registers it; returns its manifest."""
        decoded = decode_upload(upload, options, self.limits)
        dataset_id = new_id("ds")
        if decoded.domains is not None:
            a, b, paired = (torch.from_numpy(x) if not isinstance(x, bool) else x for x in decoded.domains)
            unknown = (torch.full((len(x),), -1, dtype=torch.long) for x in (a, b))
            dataset = TwoDomainDataset(dataset_id, a, b, paired, *unknown)
            tensors = {"a": a, "b": b, "labels_a": dataset.labels_a, "labels_b": dataset.labels_b}
            preview = image_grid_png(side_by_side(dataset), pick=False)
        else:
            images, labels = torch.from_numpy(decoded.images), torch.from_numpy(decoded.labels)
            dataset = ImageDataset(dataset_id, images, labels, tuple(decoded.classes))
            tensors, preview = {"images": images, "labels": labels}, image_grid_png(images)
        manifest = _describe_upload(dataset, decoded, source, options)
        prefix = dataset_prefix(dataset_id)
        fd, spooled = tempfile.mkstemp(dir=self.incoming_dir(), prefix="data-", suffix=".safetensors")
        os.close(fd)
        data = Path(spooled)
        try:
            save_file({name: t.contiguous() for name, t in tensors.items()}, str(data))
            self.store.publish(prefix, {DATA_FILE: data, PREVIEW_FILE: preview}, manifest)
        except BaseException:
            self._remove_files(prefix)  # what a failed publish left, never visible without its manifest
            raise
        finally:
            data.unlink(missing_ok=True)
        try:
            self.registry.register_dataset(manifest)
        except BaseException:
            self._remove_files(prefix)
            raise
        return manifest

    def delete(self, dataset_id: str) -> None:
        if dataset_id in BUILTIN_DATASETS:
            raise BuiltinDataset(f"{dataset_id} is a built-in data set; built-ins cannot be deleted")
        if not is_valid(dataset_id):
            raise DatasetNotFound(f"no data set with id {dataset_id!r}")
        outcome, jobs = self.registry.unregister_dataset_if_unused(dataset_id)
        if outcome == "missing":
            raise DatasetNotFound(f"no data set with id {dataset_id!r}")
        if outcome == "busy":
            raise DatasetInUse(dataset_id, jobs)
        # Unregistered, so no job can start using it; its manifest goes first, so nobody reads a half-deleted set.
        self._remove_files(dataset_prefix(dataset_id))

    def preview(self, dataset_id: str) -> bytes | ArtifactStream | None:
        """PNG bytes for a built-in, the stored file (to stream) for an upload, None for an unknown id."""
        if dataset_id in BUILTIN_DATASETS:
            return builtin_preview(dataset_id)
        if self.get(dataset_id) is None:
            return None
        try:
            return self.store.open_stream(dataset_key(dataset_id, PREVIEW_FILE))
        except ArtifactNotFound:
            return None

    def _remove_files(self, prefix: str) -> None:
        """The data set's files out of the store, manifest first. When the store fails, the set is already gone
        for users (unregistered, or never registered): its files are logged as left behind rather than failing
        the request, which no retry could complete."""
        try:
            self.store.unpublish(prefix)
        except StoreError:
            log.warning("could not remove %s from the artifact store; its files are left there", prefix,
                        exc_info=True)


def _read_upload(dataset_id: str, store: ArtifactStore, manifest: dict) -> ImageDataset | TwoDomainDataset:
    try:
        with store.local_file(dataset_key(dataset_id, DATA_FILE)) as path:
            tensors = load_file(str(path))
    except ArtifactNotFound:  # deleted since its manifest was read
        raise DatasetNotFound(f"data set {dataset_id!r} was deleted") from None
    if "a" in tensors:
        return TwoDomainDataset(dataset_id, tensors["a"], tensors["b"], manifest["kind"] == "paired",
                                tensors["labels_a"], tensors["labels_b"], tuple(manifest["classes"]))
    return ImageDataset(dataset_id, tensors["images"], tensors["labels"], tuple(manifest["classes"]))


def _preview(dataset: ImageDataset | PointDataset | TwoDomainDataset) -> bytes:
    if isinstance(dataset, PointDataset):
        return scatter_png(dataset.points, dataset.labels)
    if isinstance(dataset, TwoDomainDataset):
        return image_grid_png(side_by_side(dataset), pick=False)
    return image_grid_png(dataset.images)


def side_by_side(dataset: TwoDomainDataset, count: int = 32) -> torch.Tensor:
    """Alternating A and B images (pairs for a paired set), A scaled to B's size and channels: a preview."""
    n = min(count, dataset.a.shape[0], dataset.b.shape[0])
    index_a = torch.linspace(0, dataset.a.shape[0] - 1, n).round().long()
    index_b = index_a if dataset.paired else torch.linspace(0, dataset.b.shape[0] - 1, n).round().long()
    a = as_shown(dataset.a[index_a].float(), dataset.b.shape).round().to(torch.uint8)
    return torch.stack([a, dataset.b[index_b]], dim=1).flatten(0, 1)


def _class_counts(labels: torch.Tensor, classes: tuple[str, ...]) -> dict[str, int]:
    if not classes:
        return {}
    counts = torch.bincount(labels[labels >= 0], minlength=len(classes)).tolist()
    return dict(zip(classes, counts, strict=True))


def _describe_builtin(name: str, dataset: ImageDataset | PointDataset | TwoDomainDataset) -> dict:
    return {
        "id": name, "name": name, "builtin": True, "description": BUILTIN_DATASETS[name],
        "kind": data_kind(dataset), "count": len(dataset.labels), "shape": list(dataset.shape),
        **_domains(dataset),
        "classes": list(dataset.classes), "class_counts": _class_counts(dataset.labels, dataset.classes),
        "skipped": 0, "warnings": [], "checksum": dataset.checksum(), "created_at": None,
    }


def _tensors_of(dataset: ImageDataset | TwoDomainDataset) -> list[torch.Tensor]:
    if isinstance(dataset, TwoDomainDataset):
        return [dataset.a, dataset.b, dataset.labels_a, dataset.labels_b]
    return [dataset.images, dataset.labels]


def data_kind(dataset: ImageDataset | PointDataset | TwoDomainDataset) -> str:
    if isinstance(dataset, TwoDomainDataset):
        return dataset.kind
    return "points" if isinstance(dataset, PointDataset) else "images"


def _domains(dataset) -> dict:
    """For two domains: domain A's shape and how many images each domain holds."""
    if not isinstance(dataset, TwoDomainDataset):
        return {}
    return {"source_shape": list(dataset.source_shape), "counts": {"a": int(dataset.a.shape[0]),
                                                                    "b": int(dataset.b.shape[0])}}


def _describe_upload(dataset: ImageDataset | TwoDomainDataset, decoded: Decoded, source: str | None,
                     options: UploadOptions) -> dict:
    counts = _class_counts(dataset.labels, dataset.classes)
    warnings = list(decoded.warnings)
    warnings += [f"class {name!r} has a single image: a model learns little about it; add more or merge it"
                 for name, count in counts.items() if count == 1]
    source = _CONTROL.sub("", source or "")[-200:] or None
    return {
        "id": dataset.name, "name": options.name or source or dataset.name, "builtin": False,
        "source": source, "format": decoded.format, "kind": data_kind(dataset),
        "count": len(dataset.labels), "shape": list(dataset.shape), **_domains(dataset),
        "classes": list(dataset.classes), "class_counts": counts,
        "skipped": decoded.skipped, "skipped_files": decoded.skipped_files, "warnings": warnings,
        "options": options.model_dump(exclude={"name"}),
        "bytes": sum(t.numel() * t.element_size() for t in _tensors_of(dataset)),
        "checksum": dataset.checksum(), "created_at": utcnow(),
    }
