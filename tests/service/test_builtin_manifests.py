"""The built-ins' manifests (a load and a hash each, seconds in all) are kept in the store, so an API that
restarts lists them at once instead of describing them again."""

from __future__ import annotations

import pytest

from core.datasets import catalog
from core.store import LocalStore


@pytest.fixture
def fresh_process(monkeypatch):
    """As after a restart: nothing described in this process yet."""
    monkeypatch.setattr(catalog, "_builtin_manifests", {})


def test_a_restart_reads_the_built_ins_manifests_kept_by_the_last_start(tmp_path, fresh_process, monkeypatch):
    store = LocalStore(tmp_path)
    catalog.warm_builtins(store).join(120)
    described = dict(catalog._builtin_manifests)
    assert set(described) == set(catalog.BUILTIN_DATASETS)
    assert store.exists(catalog._builtin_manifests_key())

    monkeypatch.setattr(catalog, "_builtin_manifests", {})
    loads = []
    monkeypatch.setattr(catalog, "load_builtin", lambda name, *args: loads.append(name))
    catalog.warm_builtins(store).join(30)
    assert loads == [], "nothing loaded again"
    assert catalog._builtin_manifests == described


def test_the_kept_manifests_are_keyed_by_the_code_that_builds_them(monkeypatch):
    before = catalog._builtin_manifests_key()
    versions = catalog.metadata.version
    monkeypatch.setattr(catalog.metadata, "version", lambda name: "0.0-other" if name == "scikit-learn" else
                        versions(name))
    assert catalog._builtin_manifests_key() != before
