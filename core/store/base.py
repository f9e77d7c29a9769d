"""The artifact store's interface: objects by key, every write atomic, and sets of files published whole.

Two backends implement it: core.store.local (a directory, the embedded default) and core.store.s3 (any
S3-compatible service). What is built on the primitives (publishing, manifests, lines) is written once, here.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from pathlib import Path

from core.store.keys import MANIFEST, check_key

CHUNK_BYTES = 1 << 20


class ArtifactNotFound(FileNotFoundError):
    """No object under that key (or a published set without its manifest)."""


class StoreError(OSError):
    """The store failed: unreachable, refusing the credentials, or holding a file that does not match its
    manifest. The environment's fault, not the request's: worth retrying (an OSError, so a worker retries it)."""


class StoreUnavailable(StoreError):
    """The store cannot be reached or refuses us."""


class ArtifactStream:
    """An object being read: its size, then its bytes; close it (or use `with`, or run `chunks` to its end)."""

    def __init__(self, size: int, read: Callable[[int], bytes], close: Callable[[], None]):
        self.size, self._read, self._close = size, read, close

    def read(self, n: int = -1) -> bytes:
        return self._read(n)

    def chunks(self, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
        """The bytes in chunks, closing the stream after the last (or when the consumer stops early)."""
        try:
            while chunk := self._read(chunk_bytes):
                yield chunk
        finally:
            self.close()

    def close(self) -> None:
        self._close()

    def __enter__(self) -> ArtifactStream:
        return self

    def __exit__(self, *_) -> None:
        self.close()


def describe_bytes(data: bytes) -> dict:
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def describe_file(path: Path) -> dict:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
    return {"size": path.stat().st_size, "sha256": digest.hexdigest()}


def manifest_of(entries: dict[str, dict], extra: Mapping | None) -> dict:
    return {**(extra or {}), "files": entries}


def manifest_bytes(manifest: dict) -> bytes:
    return json.dumps(manifest, indent=2).encode()


class ArtifactStore(ABC):
    """Artifacts by key (core.store.keys names them all). Every write is atomic: a reader sees the whole
    object or none. Methods raise ArtifactNotFound for a missing object and StoreError when the store fails;
    all of them block, so the API calls them off its event loop (a sync route, or run_in_threadpool)."""

    location: str  # where the artifacts are, for messages: a directory or an s3:// URL
    incoming_dir: Path  # a local directory where uploads are received before they are published

    # -- primitives: each backend's own -----------------------------------------------------------------

    @abstractmethod
    def put_bytes(self, key: str, data: bytes) -> None:
        """Stores `data` under `key`, replacing what was there, atomically."""

    @abstractmethod
    def put_file(self, key: str, path: Path) -> None:
        """Stores the local file's content under `key`, atomically, without reading it all into memory."""

    @abstractmethod
    def get_bytes(self, key: str) -> bytes: ...

    @abstractmethod
    def open_stream(self, key: str) -> ArtifactStream:
        """The object, to read in chunks; raises ArtifactNotFound at once (before any byte) when it is missing."""

    @abstractmethod
    def local_file(self, key: str) -> AbstractContextManager[Path]:
        """A local file holding the object, for as long as the context lasts: the file itself for the local
        backend; a download into local scratch space, removed afterwards, for a remote one."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def list_keys(self, prefix: str) -> list[str]:
        """Every key under `prefix/`, sorted."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Removes the object; nothing happens when it is missing."""

    @abstractmethod
    def delete_prefix(self, prefix: str) -> None:
        """Removes every object under `prefix/`."""

    @abstractmethod
    def append_line(self, key: str, line: str) -> None:
        """Adds one line to a text object (a JSON Lines log), so that a reader never sees half a row. One writer
        per key at a time (a job's lease holder): a remote backend may rewrite the whole object to append."""

    @abstractmethod
    def ping(self) -> None:
        """Raises StoreUnavailable unless the store answers now."""

    # -- built on them ----------------------------------------------------------------------------------

    def try_get_bytes(self, key: str) -> bytes | None:
        try:
            return self.get_bytes(key)
        except ArtifactNotFound:
            return None

    def read_lines(self, key: str) -> list[str]:
        """The object's lines; none when it does not exist yet."""
        data = self.try_get_bytes(key)
        return [line for line in data.decode().splitlines() if line] if data else []

    def publish(self, prefix: str, files: Mapping[str, bytes | Path], extra: Mapping | None = None) -> dict:
        """Stores a set of files (bytes, or local files to copy) under `prefix/`, then `prefix/manifest.json`:
        `extra` plus `files`, each file's size and sha256. The manifest comes last, and readers take a prefix
        without one for absent, so a reader sees all of the set or none of it. Returns the manifest."""
        check_key(prefix)
        entries = {}
        for name, content in files.items():
            if isinstance(content, Path):
                entries[name] = describe_file(content)
                self.put_file(f"{prefix}/{name}", content)
            else:
                entries[name] = describe_bytes(content)
                self.put_bytes(f"{prefix}/{name}", content)
        manifest = manifest_of(entries, extra)
        self.put_bytes(f"{prefix}/{MANIFEST}", manifest_bytes(manifest))
        return manifest

    def read_manifest(self, prefix: str) -> dict | None:
        """The published set's manifest; None when it is not (or no longer, or not yet wholly) published."""
        data = self.try_get_bytes(f"{check_key(prefix)}/{MANIFEST}")
        return None if data is None else json.loads(data)

    def read_published(self, prefix: str, name: str) -> bytes:
        """One file of a published set, checked against its manifest. Raises ArtifactNotFound when the set is
        not published, and StoreError when the file is not the one the manifest describes."""
        manifest = self.read_manifest(prefix)
        if manifest is None:
            raise ArtifactNotFound(f"{prefix} is not in the store at {self.location} (never published, or deleted)")
        entry = manifest.get("files", {}).get(name)
        if entry is None and "files" in manifest:  # a manifest of an earlier version lists no files
            raise ArtifactNotFound(f"{prefix} has no file {name!r} (it has {', '.join(manifest['files'])})")
        data = self.get_bytes(f"{prefix}/{name}")
        if entry is not None and describe_bytes(data) != {"size": entry["size"], "sha256": entry["sha256"]}:
            raise StoreError(f"{prefix}/{name} in {self.location} is not the file its manifest describes (size or "
                             "sha256 differ): it was changed or damaged after it was published")
        return data

    def replace_published(self, prefix: str, name: str, data: bytes) -> bool:
        """Replaces (or adds) one file of a published set, then its manifest; False, writing nothing, when the
        set is not published. Between the two writes a reader of that file finds it unlike its manifest."""
        manifest = self.read_manifest(prefix)
        if manifest is None:
            return False
        self.put_bytes(f"{prefix}/{name}", data)
        manifest.setdefault("files", {})[name] = describe_bytes(data)
        self.put_bytes(f"{prefix}/{MANIFEST}", manifest_bytes(manifest))
        return True

    def unpublish(self, prefix: str) -> None:
        """Deletes a published set: its manifest first, so readers see it gone at once, then its files."""
        self.delete(f"{check_key(prefix)}/{MANIFEST}")
        self.delete_prefix(prefix)

    def list_published(self, parent: str) -> list[str]:
        """The names of the published sets directly under `parent/` (those with a manifest), sorted."""
        start = f"{check_key(parent)}/"
        names = (key[len(start):].split("/") for key in self.list_keys(parent))
        return sorted(parts[0] for parts in names if len(parts) == 2 and parts[1] == MANIFEST)
