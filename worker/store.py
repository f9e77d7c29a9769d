"""The artifact store: a directory tree shared by API and workers. Every write is atomic."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from worker.ids import is_valid


class ArtifactStore:
    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def job_dir(self, job_id: str) -> Path:
        return self._child("jobs", job_id)

    def model_dir(self, model_id: str) -> Path:
        return self._child("models", model_id)

    def dataset_dir(self, dataset_id: str) -> Path:
        return self._child("datasets", dataset_id)

    @property
    def datasets_root(self) -> Path:
        return self.root / "datasets"

    def checkpoint_path(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "checkpoint.safetensors"

    def metrics_path(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "metrics.jsonl"

    def append_line(self, path: Path, line: str) -> None:
        """Appends one line in a single write, so a reader never sees half a row."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)

    def sample_path(self, job_id: str, epoch: int) -> Path:
        return self.job_dir(job_id) / "samples" / f"epoch-{epoch:04d}.png"

    def write_bytes(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def remove_model(self, model_id: str) -> None:
        shutil.rmtree(self.model_dir(model_id), ignore_errors=True)

    def _child(self, kind: str, item_id: str) -> Path:
        if not is_valid(item_id):
            raise ValueError(f"invalid id {item_id!r}")
        return self.root / kind / item_id
