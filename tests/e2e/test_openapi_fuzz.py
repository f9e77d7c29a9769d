"""Property-based fuzzing of the whole API from its own OpenAPI document (schemathesis): every check, the
stateful phase that follows the document's links, API keys configured, a real worker and Redis behind.

It fails on any 500, any status or media type the document does not list, any schema-invalid request
accepted, any schema-valid one refused (beyond what tests/e2e/schemathesis.toml explains), and any
response that breaks its schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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


@pytest.fixture(scope="module")
def fuzzed_stack(redis_url, data_dir, tmp_path_factory, cgan):
    url = redis_url.rsplit("/", 1)[0] + "/3"
    store = LocalStore(data_dir)
    card = ModelCard.model_validate({**cgan, "id": new_id("model")})
    copy_model(store, cgan["id"], card.id)
    Registry(Redis.from_url(url)).register_model(card)
    keys = [{"name": "fuzzer", "sha256": hash_key(KEY), "scope": "admin"}]
    # Limits off, so that the fuzzer reaches the routes' logic; the job size cap small, so that the jobs it
    # submits stay small on a shared machine.
    env = env_for(url, data_dir, GANFORGE_API_KEYS=json.dumps(keys), GANFORGE_RATE_LIMIT_JOBS_PER_MIN="0",
                  GANFORGE_RATE_LIMIT_GENERATE_PER_MIN="0", GANFORGE_MAX_UNFINISHED_JOBS_PER_KEY="0",
                  GANFORGE_MAX_JOB_MEMORY_BYTES=str(64 * 2**20), GANFORGE_MAX_IMAGES_PER_REQUEST="64",
                  GANFORGE_MAX_AUGMENT_IMAGES="256")
    logs = tmp_path_factory.mktemp("fuzz-logs")
    worker = start_worker(env, "fuzz@%h", logs / "worker.log")
    api, api_url = start_api(env, logs / "api.log")
    yield api_url, card.id, logs
    stop(api)
    stop(worker)


def test_the_whole_api_survives_fuzzing_from_its_own_openapi_document(fuzzed_stack, tmp_path):
    api_url, model_id, logs = fuzzed_stack
    st = Path(sys.executable).with_name("st")
    command = [str(st), "--config-file", str(CONFIG), "run", f"{api_url}/openapi.json", "--checks", "all",
               "--phases", "examples,coverage,fuzzing,stateful", "--workers", "1", "--no-color"]
    env = {**os.environ, "GANFORGE_FUZZ_KEY": KEY, "GANFORGE_FUZZ_MODEL": model_id}
    # cwd: schemathesis keeps a cache in its working directory, which is not the repository's business.
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    report = result.stdout + result.stderr
    assert result.returncode == 0, report[-20000:] + "\n--- API log ---\n" + (logs / "api.log").read_text()[-5000:]
