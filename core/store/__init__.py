"""The artifact store: where checkpoints, samples, metrics, generators and uploaded data sets live, by key.

An interface (core.store.base.ArtifactStore) with two backends: a local directory, GANFORGE_DATA_DIR (the
default, for one machine or a shared volume), and S3-compatible object storage, GANFORGE_STORE_URL=s3://...
(for workers and API processes on many machines). Keys come from core.store.keys; nothing above the store
builds a path. GANFORGE_DATA_DIR stays local scratch space in both cases (uploads being received, downloads).
"""

from __future__ import annotations

from core.settings import Settings
from core.store.base import ArtifactNotFound, ArtifactStore, ArtifactStream, StoreError, StoreUnavailable
from core.store.local import LocalStore

__all__ = ["ArtifactNotFound", "ArtifactStore", "ArtifactStream", "LocalStore", "StoreError", "StoreUnavailable",
           "open_store"]


def open_store(settings: Settings) -> ArtifactStore:
    """The store the settings name: S3 when GANFORGE_STORE_URL is set, else the directory GANFORGE_DATA_DIR.
    Opening contacts nothing: a store that is down shows in the first call (StoreUnavailable)."""
    if not settings.store_url:
        return LocalStore(settings.data_dir)
    from core.store.s3 import S3Store  # boto3 loads only where it is used

    return S3Store(settings.store_url, settings.s3_endpoint_url, settings.data_dir / "scratch")
