"""A soak on this machine: 2 API processes and 3 workers on one Redis, 30 tiny jobs, 64 concurrent generation
clients through both APIs, one worker killed with SIGKILL mid-job and started again (bench/soak_scenario.py). Every job
finishes exactly once and no request meets a 5xx. bench/soak.py runs the same with bigger numbers."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from redis import Redis

from bench.soak_scenario import SoakPlan, soak

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def record(redis_url, data_dir, tmp_path_factory):
    url = redis_url.rsplit("/", 1)[0] + "/7"
    with Redis.from_url(url) as redis:
        redis.flushdb()
    result = soak(SoakPlan(jobs=30, clients=64, apis=2, workers=3, generate_s=10), url, data_dir,
                  tmp_path_factory.mktemp("soak-logs"))
    print("\nsoak:", json.dumps(result.figures()))
    return result


def test_every_job_succeeds_exactly_once_with_one_model_each(record):
    assert len(record.jobs) == 30 and all(job["status"] == "succeeded" for job in record.jobs), \
        [(job["id"], job["status"], job.get("error")) for job in record.jobs if job["status"] != "succeeded"]
    assert all(record.succeeded_events(job["id"]) == 1 for job in record.jobs)
    models_per_job = Counter(card["job_id"] for card in record.models)
    assert len(models_per_job) == 30 and set(models_per_job.values()) == {1}
    assert {job["model_id"] for job in record.jobs} == {card["id"] for card in record.models}


def test_no_job_trained_twice_and_the_killed_workers_job_resumed_once(record):
    for job in record.jobs:
        starts = [e for e in record.events[job["id"]] if e["event"] == "status" and e["data"]["status"] == "running"]
        # Every start beyond the first was the reaper's requeue after a worker died, none a duplicate delivery.
        assert len(starts) == job["attempts"] == 1 + (job.get("requeues") or 0), job
    killed = record.killed
    assert killed is not None and killed["jobs"], f"no worker was caught mid-job: {killed}"
    # Requeued: the job(s) whose lease the killed worker held, and no other.
    assert {job["id"] for job in record.jobs if job.get("requeues")} == set(killed["jobs"])
    for job_id, step in zip(killed["jobs"], killed["steps"], strict=True):
        victim = next(job for job in record.jobs if job["id"] == job_id)
        assert victim["attempts"] == 2 and victim["requeues"] == 1
        resumed = [e["data"]["step"] for e in record.events[job_id] if e["event"] == "resumed"]
        assert len(resumed) == 1 and 20 <= resumed[0] <= step, (resumed, killed)
        assert victim["progress"]["step"] == victim["progress"]["total_steps"]


def test_no_request_met_a_5xx_and_every_generation_answered(record):
    figures = record.figures()
    assert figures["5xx"] == 0, figures["statuses"]
    assert figures["generate_requests"] > 0 and figures["generate_ok"] == figures["generate_requests"], \
        (figures["statuses"], record.errors)
