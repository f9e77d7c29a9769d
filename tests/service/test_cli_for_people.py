"""The `ganforge` command as a person meets it, run as real subprocesses against a real Redis and API: it finds the
running stack from any directory, prints tables with headers (or says there is nothing yet), keeps quiet when its
reader goes away, counts the jobs waiting rather than the broker's messages, and says what a queued job waits for."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from redis import Redis

from core.registry import Registry
from core.states import JobStatus
from service.cli.local_stack import clear_state, write_state
from service.cli.processes import env_for, start_api, stop
from tests.helpers import TINY_JOB

ROW_BOUND = 120


def ganforge(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "service.cli", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=60)


def without_stack_settings(env: dict[str, str], runtime: Path) -> dict[str, str]:
    """As a person's shell: no Redis URL, no data dir, and the tests' own runtime directory."""
    env = {k: v for k, v in env.items() if k not in ("GANFORGE_REDIS_URL", "GANFORGE_DATA_DIR")}
    # Run from another directory, the command must still import this checkout.
    return {**env, "GANFORGE_RUNTIME_DIR": str(runtime), "PYTHONPATH": str(Path.cwd())}


@pytest.fixture(scope="module")
def bare_api(redis_url, tmp_path_factory):
    """An API on a Redis database of its own that no worker takes jobs from: what is queued stays queued."""
    url = redis_url.rsplit("/", 1)[0] + "/11"
    Redis.from_url(url).flushdb()
    env = env_for(url, tmp_path_factory.mktemp("bare-data"), GANFORGE_RATE_LIMIT_JOBS_PER_MIN="0",
                  GANFORGE_MAX_UNFINISHED_JOBS_PER_KEY="0")
    process, api = start_api(env, tmp_path_factory.mktemp("logs") / "bare-api.log")
    yield {"url": api, "redis_url": url, "env": env}
    stop(process)


@pytest.fixture
def bare(bare_api):
    """The bare API with nothing in it: no jobs, no models, empty queues."""
    redis = Redis.from_url(bare_api["redis_url"])
    redis.flushdb()
    yield {**bare_api, "redis": redis}
    redis.close()


# -- finding the stack --

def test_status_and_models_find_the_stack_this_user_started_from_any_directory(settings, worker_process, api_url,
                                                                              trained_model, tmp_path, monkeypatch):
    runtime, elsewhere = tmp_path / "runtime", tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.setenv("GANFORGE_RUNTIME_DIR", str(runtime))
    write_state(tmp_path / "data", settings.redis_url, api_url)  # as `ganforge up` does, this process its pid
    env = without_stack_settings(env_for("", tmp_path), runtime)
    assert runtime.stat().st_mode & 0o777 == 0o700

    status = ganforge("status", "--limit", "1", env=env, cwd=elsewhere)
    assert status.returncode == 0, status.stderr
    assert "workers alive: " in status.stdout and "test@" in status.stdout
    models = ganforge("models", env=env, cwd=elsewhere)  # the API's URL comes from the same record
    assert models.returncode == 0, models.stderr
    assert trained_model["id"] in models.stdout

    named = ganforge("status", env={**env, "GANFORGE_DATA_DIR": str(tmp_path / "other")}, cwd=elsewhere)
    assert named.returncode == 1 and "no `ganforge up` runs on" in named.stderr  # a named data dir: only there

    clear_state(tmp_path / "data")  # as `ganforge up` does when it stops
    assert list(runtime.iterdir()) == []
    gone = ganforge("status", env=env, cwd=elsewhere)
    assert gone.returncode == 1 and f"or is recorded in {runtime}" in gone.stderr


# -- tables --

def test_models_and_jobs_print_a_header_then_rows_within_bounds(api_url, trained_model):
    models = ganforge("models", "--url", api_url)
    assert models.returncode == 0, models.stderr
    header, *rows = models.stdout.splitlines()
    assert header.split() == ["model", "family", "data", "set", "scores"]
    assert any(row.startswith(trained_model["id"]) and " dcgan " in row for row in rows), rows
    jobs = ganforge("jobs", "--url", api_url, "--limit", "50")
    header, *rows = jobs.stdout.splitlines()
    assert header.split() == ["job", "status", "steps", "data", "set", "model"] and rows
    for line in models.stdout.splitlines() + jobs.stdout.splitlines():
        assert len(line) <= ROW_BOUND, line
    # Columns line up: each header starts where its cells start.
    at = header.index("status")
    assert all(row[at - 2:at] == "  " and row[at] != " " for row in rows), rows


def test_with_nothing_yet_models_and_jobs_say_so_and_how_to_begin(bare):
    models = ganforge("models", "--url", bare["url"])
    assert models.returncode == 0 and models.stdout == "no models yet: train one with ganforge train mnist " \
                                                      "--arch cgan --follow\n"
    jobs = ganforge("jobs", "--url", bare["url"])
    assert jobs.returncode == 0 and jobs.stdout.startswith("no jobs yet: ganforge train mnist --arch cgan")


def test_a_long_error_is_cut_so_the_status_row_stays_within_bounds(bare):
    registry = Registry(bare["redis"])
    job, _ = registry.create_job(dict(TINY_JOB))
    registry.set_status(job["id"], JobStatus.FAILED, error="the generator diverged: " + "loss is NaN; " * 40)
    out = ganforge("status", env=env_for(bare["redis_url"], Path("unused"))).stdout
    row = next(line for line in out.splitlines() if line.startswith(job["id"]))
    assert row.endswith("…") and len(row) <= ROW_BOUND and "the generator diverged" in row


# -- a reader that goes away --

@pytest.mark.parametrize("command", ["models", "jobs", "status"])
def test_a_closed_pipe_ends_the_command_quietly(api_url, settings, trained_model, command):
    args = ["status"] if command == "status" else [command, "--url", api_url]
    with subprocess.Popen([sys.executable, "-m", "service.cli", *args], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=env_for(settings.redis_url, settings.data_dir)) as process:
        process.stdout.close()  # `| head -1` that has read its line (here before the command writes any)
        errors = process.stderr.read().decode()
    assert process.wait(60) == 141, errors  # as the shell's own tools, ended by SIGPIPE
    assert errors == ""


def test_head_takes_the_first_line_and_nothing_is_printed_to_stderr(api_url, trained_model):
    shell = subprocess.run(f"{sys.executable} -m service.cli models --url {api_url} | head -1", shell=True,
                           capture_output=True, text=True, timeout=60)
    assert shell.stdout.startswith("model ") and shell.stderr == ""


# -- what waits --

def test_status_workers_and_metrics_count_the_jobs_queued_not_the_brokers_messages(bare):
    api, redis = bare["url"], bare["redis"]
    with httpx.Client(base_url=api, timeout=60) as client:
        kept = client.post("/v1/jobs", json=TINY_JOB).json()
        cancelled = client.post("/v1/jobs", json=TINY_JOB).json()
        assert client.post(f"/v1/jobs/{cancelled['id']}/cancel").status_code == 200
        messages = redis.llen("celery")
        assert messages >= 2  # the cancelled job's task stays until a worker drops it; a reference task may wait too
        listed = client.get("/v1/workers").json()
        assert (listed["queues"]["celery"], listed["broker_messages"]["celery"]) == (1, messages)
        assert listed["queues"]["gpu"] == 0  # every standard queue is shown
        gauges = dict(line.rsplit(" ", 1) for line in client.get("/metrics").text.splitlines()
                      if line.startswith(("ganforge_queue_depth ", 'ganforge_queued_jobs{queue="celery"}',
                                          'ganforge_queued_tasks{queue="celery"}')))
        assert gauges == {"ganforge_queue_depth": "1.0", 'ganforge_queued_jobs{queue="celery"}': "1.0",
                          'ganforge_queued_tasks{queue="celery"}': f"{float(messages)}"}

    status = ganforge("status", env=env_for(bare["redis_url"], Path("unused")))
    assert status.returncode == 0, status.stderr
    assert f"jobs queued: 1 (celery 1 (no live worker takes it)); broker messages: {messages} (celery {messages})" \
        in status.stdout
    assert kept["id"] in status.stdout
    report = json.loads(ganforge("status", "--json", env=env_for(bare["redis_url"], Path("unused"))).stdout)
    assert (report["jobs_queued"], report["jobs_queued_by_queue"]) == (1, {"celery": 1})
    assert report["broker_messages"]["celery"] == messages


def test_train_follow_says_what_a_queued_job_waits_for(bare):
    # ring8 has no labels, so no reference classifier: the only notes are the test's own.
    follow = subprocess.Popen([sys.executable, "-m", "service.cli", "train", "ring8", "--arch", "mlp", "--model",
                               "hidden=8", "--follow", "--url", bare["url"]], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(60, follow.kill)  # a line that never comes fails the test rather than hanging it
    watchdog.start()
    try:
        job_id = follow.stdout.readline().split()[1]  # "job <id> queued (...)"
        registry = Registry(bare["redis"])
        # What the worker notes while it trains the data set's reference classifier (worker.references).
        assert registry.note_waiting(job_id, {"for": "reference classifier", "dataset": "ds_0123", "epoch": 3,
                                              "epochs": 8, "eta_s": 12.6})
        assert follow.stdout.readline() == "waiting for the reference classifier of ds_0123: epoch 3/8, about " \
                                           "13s left\n"
        assert registry.note_waiting(job_id, {"for": "a worker", "dataset": "ds_0123", "reference": {}})
        assert follow.stdout.readline() == "waiting for a worker\n"
        time.sleep(1.5)  # polled thrice more: a note is printed once
        follow.send_signal(signal.SIGINT)
        out, _ = follow.communicate(timeout=30)
    finally:
        watchdog.cancel()
        follow.kill()
    assert follow.returncode == 130
    assert out.strip() == f"stopped waiting; job {job_id} goes on (ganforge jobs, or cancel it with the API)"
