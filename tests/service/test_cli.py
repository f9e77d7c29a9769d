"""The `ganforge` command's operational helpers, run as real subprocesses."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
from PIL import Image

from core.settings import ApiKeyConfig
from service.api.auth import Principal, hash_key, identify
from service.cli.processes import env_for
from tests.helpers import wait_for_job


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
    assert "jobs queued: " in result.stdout and "broker messages: " in result.stdout
    assert registry.list_jobs(1)[0]["id"] in result.stdout  # newest first
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


def test_train_follow_shows_progress_then_the_model_which_generate_and_augment_use(api_url, worker_process, tmp_path):
    url = ["--url", api_url]
    trained = ganforge("train", "digits", "--arch", "dcgan", "--model", "latent_dim=16", "--model", "g_width=8",
                       "--model", "d_width=8", "--train", "max_steps=12", "--train", "batch_size=32", "--follow", *url)
    assert trained.returncode == 0, trained.stderr
    lines = trained.stdout.replace("\r", "\n").splitlines()
    assert any(line.startswith("epoch 1/") and "[" in line and "D(G(z))" in line for line in lines), lines
    model_id = lines[-1].split("model ")[-1]
    job_id = lines[0].split()[1]
    assert job_id in ganforge("jobs", *url).stdout and model_id in ganforge("models", *url).stdout
    grid = tmp_path / "grid.png"
    made = ganforge("generate", model_id, "-n", "6", "--seed", "7", "--nrow", "3", "-o", str(grid), *url)
    assert made.returncode == 0, made.stderr
    with Image.open(grid) as image:
        width, height = image.size
    assert (width - 4 * 2) / 3 == (height - 3 * 2) / 2 > 0  # 3 x 2 square digits, 2 px padding
    again = tmp_path / "again.png"
    ganforge("generate", model_id, "-n", "6", "--seed", "7", "--nrow", "3", "-o", str(again), *url)
    assert grid.read_bytes() == again.read_bytes()  # the same seed, the same pixels
    augmented = ganforge("augment", model_id, "--total", "20", "-o", str(tmp_path / "aug"), *url)
    assert augmented.returncode == 0 and "20 images" in augmented.stdout and "downloading: " in augmented.stdout
    assert sum(1 for _ in (tmp_path / "aug").rglob("*.png")) == 20


def test_ctrl_c_while_following_detaches_and_the_job_goes_on(api_url, worker_process, client):
    follow = subprocess.Popen([sys.executable, "-m", "service.cli", "train", "ring8", "--arch", "mlp", "--model",
                               "hidden=8", "--train", "epochs=1000", "--follow", "--url", api_url],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = follow.stdout.readline()  # "job <id> queued (...)"
    job_id = first.split()[1]
    deadline = time.monotonic() + 60
    while client.get(f"/v1/jobs/{job_id}").json()["status"] != "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    follow.send_signal(signal.SIGINT)
    out, _ = follow.communicate(timeout=30)
    assert follow.returncode == 130 and f"job {job_id} goes on" in out
    time.sleep(1)
    assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "running"  # never cancelled by the CLI
    client.post(f"/v1/jobs/{job_id}/cancel")  # the test's own clean-up
    assert wait_for_job(client, job_id)["status"] == "cancelled"


def test_train_help_names_every_built_in_data_set():
    from models.data import BUILTIN_DATASETS
    from service.cli.user_commands import BUILTINS

    assert BUILTINS == tuple(BUILTIN_DATASETS)


@pytest.mark.parametrize("workers", [1, 2])
def test_the_api_hides_what_startup_made_from_the_collector_before_it_serves(workers, settings):
    # uvicorn.run stands in for serving: it reports what the process froze and whether its app was made by then.
    script = """
import gc, sys, uvicorn
import service.cli.main as main
def run(app, **options):
    if options.get("factory"):
        app = main.api_process_app()
    print(gc.get_freeze_count(), type(app).__name__)
uvicorn.run = run
main.run_api()
"""
    env = env_for(settings.redis_url, settings.data_dir, GANFORGE_API_WORKERS=str(workers))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    frozen, app = result.stdout.split()
    assert int(frozen) > 100_000 and app == "FastAPI"  # the imports and the app, not a handful
