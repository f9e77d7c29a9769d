"""Which way imports go (docs/design.md): the API loads no training code; the HTTP client needs no server."""

from __future__ import annotations

import ast
import re
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
    assert not loaded_by("service.api.app") & {"worker", "models.trainer"}


def test_the_client_imports_no_celery_redis_or_torch():
    # Its own distribution (client/): nothing of the server's packages, nor torch (SyntheticDataset's, loaded lazily)
    tops = {name.split(".")[0] for name in loaded_by("ganforge_client")}
    assert "ganforge_client" in tops
    assert not tops & {"celery", "kombu", "redis", "torch", "fastapi", "core", "service", "worker", "models"}


def _sources(*packages: str) -> list[Path]:
    return [path for package in packages for path in sorted((ROOT / package).rglob("*.py"))]


def _imports(path: Path) -> set[str]:
    """The modules of ours that a file names in its imports (a `from package import name` names both)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return names


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_the_service_never_imports_the_worker():
    # Celery tasks are sent by name (core.queues): the API and the command line need none of the job runner.
    offenders = {_module(path): sorted(n for n in _imports(path) if n.split(".")[0] == "worker")
                 for path in _sources("service")}
    assert not {module: names for module, names in offenders.items() if names}


def test_core_imports_neither_the_worker_nor_the_service():
    offenders = {_module(path): sorted(n for n in _imports(path) if n.split(".")[0] in ("worker", "service"))
                 for path in _sources("core")}
    assert not {module: names for module, names in offenders.items() if names}


def test_no_architecture_is_named_outside_the_family_rows():
    # Kinds and families are data (core/kinds.py, models/families/): code reads a row, never compares arch names.
    compared = re.compile(r"\barch\b['\"\]]*\s*(==|!=|\bin\b|\bnot in\b)\s*[(\['\"]")
    found = [f"{path.relative_to(ROOT)}:{number}" for path in _sources("core", "service", "worker", "models")
             for number, line in enumerate(path.read_text().splitlines(), 1) if compared.search(line)]
    assert not found
