"""The client is its own distribution: installed alone into a fresh virtual environment, without torch or any of
the server, it talks to a running service."""

import os
import shutil
import subprocess
import sys
import time
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]

# Run in the new environment, isolated (-I): nothing of this checkout or of the test's environment on its path.
SCRIPT = """
import importlib.util, sys
import ganforge_client
from ganforge_client import Client

assert ganforge_client.__file__.startswith(sys.prefix), f"not the installed copy: {ganforge_client.__file__}"
assert importlib.util.find_spec("torch") is None, "torch is importable"
try:
    ganforge_client.SyntheticDataset
except ImportError as missing:
    assert "ganforge-client[torch]" in str(missing), missing
else:
    raise AssertionError("SyntheticDataset loaded without torch")
with Client(sys.argv[1]) as gf:
    images = gf.generate(sys.argv[2], n=3, seed=1)
    print(gf.model(sys.argv[2])["id"], len(images), *images[0].size)
"""


def test_the_client_installed_alone_without_torch_talks_to_the_service(api_url, trained_model, tmp_path):
    started = time.monotonic()
    source = shutil.copytree(ROOT / "client", tmp_path / "client",  # built out of the checkout: it stays clean
                             ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    python = fresh_venv(tmp_path / "venv")
    # What `pip install ./client` fetches from an index, taken from this environment instead, and only that: the
    # dependencies the client declares and theirs. A test that needs no network, and proves the list complete.
    declared = tomllib.loads((source / "pyproject.toml").read_text())["project"]["dependencies"]
    deps = tmp_path / "deps"
    link_installed(needed_by(declared), deps)
    Path(site_packages(python), "deps.pth").write_text(f"{deps}\n")
    pip("wheel", "--no-deps", "--no-build-isolation", "--no-index", "--wheel-dir", tmp_path / "wheels", source)
    [wheel] = (tmp_path / "wheels").glob("ganforge_client-*.whl")
    pip("--python", python, "install", "--no-index", wheel)  # resolves the declared dependencies: all met
    out = run(python, "-I", "-c", SCRIPT, api_url, trained_model["id"], cwd=tmp_path)
    assert out.split() == [trained_model["id"], "3", "28", "28"]
    assert time.monotonic() - started < 60


def fresh_venv(folder: Path) -> Path:
    """A virtual environment of the base interpreter, with nothing installed (pip comes from outside)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", folder], check=True)
    return folder / "bin" / "python"


def site_packages(python: Path) -> str:
    return run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()


def needed_by(requirements: list[str]) -> set[str]:
    """The installed distributions that `requirements` need, with what those need in turn (extras left out)."""
    found: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        requirement = todo.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        distribution = metadata.distribution(requirement.name)
        if distribution.metadata["Name"] not in found:
            found.add(distribution.metadata["Name"])
            todo += [Requirement(r) for r in distribution.requires or []]
    return found


def link_installed(names: set[str], folder: Path) -> None:
    """Links each distribution's top-level files and folders (its modules and its .dist-info) into `folder`."""
    folder.mkdir()
    for name in names:
        distribution = metadata.distribution(name)
        for top in {file.parts[0] for file in distribution.files or []} - {"..", "__pycache__"}:
            if not (folder / top).exists():
                (folder / top).symlink_to(distribution.locate_file(top))


def pip(*args) -> str:
    # pip's configuration here (extra indexes, find-links) is left out: --no-index must mean nothing is fetched
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")} | {"PIP_CONFIG_FILE": os.devnull}
    return run(sys.executable, "-m", "pip", "--disable-pip-version-check", *args, env=env)


def run(*command, cwd: Path | None = None, env: dict | None = None) -> str:
    done = subprocess.run([str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done.stdout
