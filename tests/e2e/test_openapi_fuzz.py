"""Property-based fuzzing of the whole API from its own OpenAPI document (schemathesis), a real Redis (and for the
full run a real worker) behind: with API keys, without them, and with the rate limits on.

It fails on any 500, any status or media type the document does not list, any schema-invalid request
accepted, any schema-valid one refused (beyond what tests/e2e/schemathesis.toml explains), and any
response that breaks its schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from redis import Redis

from core.card import ModelCard
from core.ids import new_id
from core.registry import Registry
from core.store import LocalStore
from service.api.auth import hash_key
from service.cli.processes import env_for, start_api, start_worker, stop
from tests.helpers import copy_model

pytestmark = pytest.mark.e2e
CONFIG = Path(__file__).with_name("schemathesis.toml")
KEY = "gfk_fuzz_admin_secret"
LIMITS_OFF = {"GANFORGE_RATE_LIMIT_JOBS_PER_MIN": "0", "GANFORGE_RATE_LIMIT_GENERATE_PER_MIN": "0",
              "GANFORGE_MAX_UNFINISHED_JOBS_PER_KEY": "0"}
RATE_LIMITS_LOW = {"GANFORGE_RATE_LIMIT_JOBS_PER_MIN": "3", "GANFORGE_RATE_LIMIT_GENERATE_PER_MIN": "20",
                   "GANFORGE_MAX_UNFINISHED_JOBS_PER_KEY": "2"}
RATE_LIMITED = (r"^/v1/(jobs|models/\{model_id\}/(images|generate|interpolate|traverse|augment|evaluations|translate|"
                r"variations|style-mix|projections|export))$")


@dataclass(frozen=True)
class Variant:
    keys: bool
    limits: dict[str, str]
    worker: bool
    arguments: list[str] = field(default_factory=list)  # schemathesis' scope for this variant
    met: tuple[int, ...] = ()  # statuses the API must have answered, or the variant did not test what it is for


VARIANTS = {
    # Everything, every phase (the stateful one follows the document's links through jobs a worker trains).
    "keys": Variant(True, LIMITS_OFF, True, ["--phases", "examples,coverage,fuzzing,stateful"]),
    # No keys: no security in the document, no credentials sent, the Host guard on. Every operation changes, so
    # all are fuzzed, but with fewer examples and no stateful phase; no worker, so jobs stay queued.
    "no-keys": Variant(False, LIMITS_OFF, False, ["--phases", "examples,coverage,fuzzing", "--max-examples", "8"]),
    # Rate limits low enough to be met: the limited operations only, each 429 declared where it comes.
    "rate-limits": Variant(True, RATE_LIMITS_LOW, False, ["--phases", "fuzzing", "--max-examples", "10",
                                                          "--include-path-regex", RATE_LIMITED], met=(429,)),
}


@pytest.fixture(scope="module", params=list(VARIANTS), ids=list(VARIANTS))
def fuzzed_stack(request, redis_url, data_dir, tmp_path_factory, cgan):
    name, variant = request.param, VARIANTS[request.param]
    url = redis_url.rsplit("/", 1)[0] + f"/{3 + list(VARIANTS).index(name)}"  # a database of its own
    store, registry = LocalStore(data_dir), Registry(Redis.from_url(url))
    fuzzed, deleted = (ModelCard.model_validate({**cgan, "id": new_id("model")}) for _ in range(2))
    for card in (fuzzed, deleted):
        copy_model(store, cgan["id"], card.id)
        registry.register_model(card)
    keys = [{"name": "fuzzer", "sha256": hash_key(KEY), "scope": "admin"}] if variant.keys else []
    # The job size cap small, so that the jobs it submits stay small on a shared machine.
    env = env_for(url, data_dir, GANFORGE_API_KEYS=json.dumps(keys), GANFORGE_MAX_JOB_MEMORY_BYTES=str(64 * 2**20),
                  GANFORGE_MAX_IMAGES_PER_REQUEST="64", GANFORGE_MAX_AUGMENT_IMAGES="256", **variant.limits)
    logs = tmp_path_factory.mktemp(f"fuzz-logs-{name}")
    worker = start_worker(env, f"fuzz-{name}@%h", logs / "worker.log") if variant.worker else None
    api, api_url = start_api(env, logs / "api.log")
    yield api_url, {"GANFORGE_FUZZ_MODEL": fuzzed.id, "GANFORGE_FUZZ_DELETED_MODEL": deleted.id}, logs, variant
    stop(api)
    if worker is not None:
        stop(worker)


def test_the_whole_api_survives_fuzzing_from_its_own_openapi_document(fuzzed_stack, tmp_path):
    api_url, models, logs, variant = fuzzed_stack
    st = Path(sys.executable).with_name("st")
    credentials = ["--header", f"Authorization: Bearer {KEY}"] if variant.keys else []
    command = [str(st), "--config-file", str(CONFIG), "run", f"{api_url}/openapi.json", "--checks", "all",
               *variant.arguments, *credentials, "--workers", "1", "--no-color"]
    env = {**os.environ, **models}
    # cwd: schemathesis keeps a cache in its working directory, which is not the repository's business.
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    report = result.stdout + result.stderr
    log = (logs / "api.log").read_text()
    assert result.returncode == 0, report[-20000:] + "\n--- API log ---\n" + log[-5000:]
    assert all(f'"status": {status}' in log for status in variant.met), report[-5000:]
