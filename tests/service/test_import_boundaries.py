"""Which way imports go (docs/design.md): the API loads no training code; the HTTP client needs no server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def loaded_by(module: str) -> set[str]:
    """The top two levels of every module that importing `module` loads, in a fresh interpreter."""
    code = f"import sys, {module}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return {".".join(name.split(".")[:2]) for name in out.split()}


def test_the_api_imports_no_training_code():
    assert not loaded_by("service.api.app") & {"worker.training", "worker.tasks", "models.trainer"}


def test_the_client_imports_no_celery_redis_or_torch():
    tops = {name.split(".")[0] for name in loaded_by("service.client")}
    assert not tops & {"celery", "kombu", "redis", "torch", "fastapi"}
