"""The local backend: a directory (GANFORGE_DATA_DIR), a key being the file of that relative name. Writes go to
a temp file beside their target, then a rename; a published set is written in a staging folder that is renamed
into place, so its folder appears whole; deletion renames a folder aside before removing it."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from core.store.base import (
    ArtifactNotFound,
    ArtifactStore,
    ArtifactStream,
    StoreUnavailable,
    describe_bytes,
    describe_file,
    manifest_bytes,
    manifest_of,
)
from core.store.keys import CARD_FILE, GENERATOR_FILE, MANIFEST, check_key


class LocalStore(ArtifactStore):
    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.location = str(self.root)
        self.incoming_dir = self.root / "datasets" / ".incoming"  # on the store's disk: publishing it is a link
        self._adopt_models_without_manifest()

    def path(self, key: str) -> Path:
        """The file that holds `key` (for tests and tools that look at the directory itself)."""
        return self.root / check_key(key)

    # -- primitives -------------------------------------------------------------------------------------

    def put_bytes(self, key: str, data: bytes) -> None:
        with self._replacing(self.path(key)) as tmp:
            tmp.write_bytes(data)

    def put_file(self, key: str, path: Path) -> None:
        with self._replacing(self.path(key)) as tmp:
            _link_or_copy(path, tmp)

    def get_bytes(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ArtifactNotFound(f"{key}: not in the store at {self.location}") from None

    def open_stream(self, key: str) -> ArtifactStream:
        try:
            f = open(self.path(key), "rb")  # noqa: SIM115  (closed by the stream)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ArtifactNotFound(f"{key}: not in the store at {self.location}") from None
        return ArtifactStream(os.fstat(f.fileno()).st_size, f.read, f.close)

    @contextmanager
    def local_file(self, key: str) -> Iterator[Path]:
        path = self.path(key)
        if not path.is_file():
            raise ArtifactNotFound(f"{key}: not in the store at {self.location}")
        yield path

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def list_keys(self, prefix: str) -> list[str]:
        folder = self.path(prefix)
        if not folder.is_dir():
            return []
        keys = []
        for directory, subdirectories, files in os.walk(folder):
            subdirectories[:] = [d for d in subdirectories if not d.startswith(".")]  # staging, trash, incoming
            relative = Path(directory).relative_to(self.root).as_posix()
            keys += [f"{relative}/{name}" for name in files if not name.startswith(".")]  # temp files
        return sorted(keys)

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> None:
        folder = self.path(prefix)
        trash = folder.with_name(f".trash-{folder.name}-{secrets.token_hex(4)}")
        try:
            os.rename(folder, trash)  # gone for readers at once; removed at leisure
        except FileNotFoundError:
            return
        shutil.rmtree(trash, ignore_errors=True)

    def append_line(self, key: str, line: str) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode())  # one write: a reader never sees half a row
        finally:
            os.close(fd)

    def ping(self) -> None:
        if not self.root.is_dir() or not os.access(self.root, os.W_OK):
            raise StoreUnavailable(f"the artifact store {self.location} is missing or not writable (an unmounted "
                                   "volume?)")

    # -- publishing: a folder renamed into place ---------------------------------------------------------

    def publish(self, prefix: str, files: Mapping[str, bytes | Path], extra: Mapping | None = None) -> dict:
        final = self.path(prefix)
        if final.exists():  # a set published again: file by file, the manifest last
            return super().publish(prefix, files, extra)
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=final.parent, prefix=".staging-"))
        try:
            entries = {}
            for name, content in files.items():
                target = staging / check_key(name)
                target.parent.mkdir(parents=True, exist_ok=True)
                if isinstance(content, Path):
                    entries[name] = describe_file(content)
                    _link_or_copy(content, target)
                else:
                    entries[name] = describe_bytes(content)
                    target.write_bytes(content)
                os.chmod(target, 0o644)
            manifest = manifest_of(entries, extra)
            (staging / MANIFEST).write_bytes(manifest_bytes(manifest))
            os.chmod(staging, 0o755)  # mkdtemp's 0o700 would hide it from other users of a shared volume
            os.rename(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return manifest

    def _adopt_models_without_manifest(self) -> None:
        """Models published by versions before manifests: their card.json was written last, so a folder with
        both files is whole; it gets its manifest now (once). A folder this version publishes appears whole,
        manifest included, so it never looks like one of these."""
        models = self.root / "models"
        if not models.is_dir():
            return
        for folder in models.iterdir():
            if folder.name.startswith(".") or (folder / MANIFEST).exists():
                continue
            files = {name: folder / name for name in (GENERATOR_FILE, CARD_FILE)}
            if all(path.is_file() for path in files.values()):
                entries = {name: describe_file(path) for name, path in files.items()}
                with self._replacing(folder / MANIFEST) as tmp:
                    tmp.write_bytes(manifest_bytes(manifest_of(entries, {"adopted": True})))

    @staticmethod
    @contextmanager
    def _replacing(path: Path) -> Iterator[Path]:
        """A temp file beside `path` to write; renamed over `path` when the block ends without an error."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        tmp = Path(name)
        try:
            yield tmp
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def _link_or_copy(source: Path, target: Path) -> None:
    """A hard link when both are on one disk (an upload received beside the store), else a copy."""
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
