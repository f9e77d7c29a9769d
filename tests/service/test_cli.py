"""The `ganforge` command's operational helpers, run as real subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from service.auth import Principal, hash_key, identify
from tests.processes import env_for
from worker.settings import ApiKeyConfig


def ganforge(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "service.cli", *args], capture_output=True, text=True, env=env,
                          timeout=60)


def test_keys_new_prints_a_key_and_the_entry_that_configures_it():
    result = ganforge("keys", "new", "--scope", "train", "--name", "ci")
    assert result.returncode == 0, result.stderr
    key = result.stdout.split("shown only now): ")[1].split()[0]
    entry = json.loads(result.stdout.split("GANFORGE_API_KEYS (a JSON list of such entries): ")[1].splitlines()[0])
    assert entry == {"name": "ci", "sha256": hash_key(key), "scope": "train"}
    assert identify(key, [ApiKeyConfig(**entry)]) == Principal("ci", "train")
    assert identify(key + "x", [ApiKeyConfig(**entry)]) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "::"])
def test_the_api_refuses_to_serve_beyond_loopback_without_keys(host, settings):
    env = env_for(settings.redis_url, settings.data_dir, GANFORGE_HOST=host)
    result = ganforge("api", env=env)
    assert result.returncode != 0
    assert f"refusing to serve on {host} without API keys" in result.stderr
    assert "ganforge keys new" in result.stderr


def test_status_lists_workers_queue_and_jobs(settings, worker_process, trained_model, registry):
    env = env_for(settings.redis_url, settings.data_dir)
    result = ganforge("status", env=env)
    assert result.returncode == 0, result.stderr
    assert "workers alive: " in result.stdout and "test@" in result.stdout
    assert "queue depth: " in result.stdout and registry.list_jobs(1)[0]["id"] in result.stdout  # newest first
    # Other tests may have submitted many jobs since: the model's job is among the most recent 10,000.
    assert trained_model["job_id"] in ganforge("status", "--limit", "10000", env=env).stdout
    report = json.loads(ganforge("status", "--json", env=env_for(settings.redis_url, settings.data_dir)).stdout)
    assert report["jobs_by_status"]["succeeded"] >= 1 and report["workers"]


def test_status_this_host_is_a_worker_healthcheck(settings, worker_process):
    here = ganforge("status", "--this-host", "--limit", "0", env=env_for(settings.redis_url, settings.data_dir))
    assert here.returncode == 0 and "test@" in here.stdout and "  job_" not in here.stdout
    no_workers = env_for(settings.redis_url.rsplit("/", 1)[0] + "/5", settings.data_dir)
    assert ganforge("status", "--this-host", env=no_workers).returncode == 1
    assert ganforge("status", env=no_workers).returncode == 0


def test_status_without_a_redis_url_or_a_running_stack_says_where_it_looked(tmp_path):
    env = env_for("", tmp_path)
    env.pop("GANFORGE_REDIS_URL")
    result = ganforge("status", "--data-dir", str(tmp_path / "elsewhere"), env=env)
    assert result.returncode == 1
    assert "no `ganforge up` runs on" in result.stderr and "elsewhere" in result.stderr
