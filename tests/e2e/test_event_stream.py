"""Live events as Server-Sent Events, from the real API, worker and Redis: a job's stream carries what the
JSON history holds, in order, as it happens, resumes after Last-Event-ID without loss or duplicates, and
ends after the final status; the stream of every job's status changes feeds a job list."""

from __future__ import annotations

import io
import json
import signal
import time

import httpx
import pytest
from PIL import Image

from models.curves import PANELS
from service.cli.processes import env_for, start_api, stop
from tests.helpers import TINY_JOB, wait_for_job

pytestmark = pytest.mark.e2e
SSE = {"Accept": "text/event-stream"}


def read_events(response: httpx.Response, stop_after_s: float | None = None) -> tuple[list[dict], int]:
    """Parses an SSE body into events ({id, event, data}); also counts keep-alive comments. Reads until the
    stream ends (failing after 120 s), or for `stop_after_s` seconds."""
    events, keep_alives, current = [], 0, {}
    started = time.monotonic()
    for line in response.iter_lines():
        assert time.monotonic() - started < 120, f"the stream did not end; events so far: {events}"
        if line.startswith(":"):
            keep_alives += 1
        elif line.startswith(("id:", "event:", "data:")):
            name, _, value = line.partition(": ")
            current[name] = json.loads(value) if name == "data" else value
        elif line == "" and current:
            events.append(current)
            current = {}
        if stop_after_s is not None and time.monotonic() - started > stop_after_s:
            break
    return events, keep_alives


def test_a_jobs_stream_carries_its_history_live_and_ends_after_the_final_status(client, worker_process):
    job = client.post("/v1/jobs", json=TINY_JOB).json()
    with client.stream("GET", f"/v1/jobs/{job['id']}/events", headers=SSE, timeout=120) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        streamed, _ = read_events(response)  # returns only because the stream ends
    history = client.get(f"/v1/jobs/{job['id']}/events").json()["events"]
    assert [(e["id"], e["event"], e["data"]) for e in history] == \
           [(e["id"], e["event"], e["data"]) for e in streamed]
    assert streamed[-1]["event"] == "status" and streamed[-1]["data"]["status"] == "succeeded"
    kinds = {e["event"] for e in streamed}
    assert {"status", "progress", "metrics", "samples", "evaluation"} <= kinds, kinds
    progress = [e["data"] for e in streamed if e["event"] == "progress"]
    assert {"step", "loss_d", "loss_g", "d_real", "d_fake", "images_per_s", "eta_s"} <= set(progress[-1])


def test_a_stream_resumes_after_last_event_id_without_loss_or_duplicates(client, trained_model):
    history = client.get(f"/v1/jobs/{trained_model['job_id']}/events").json()["events"]
    assert len(history) > 4
    cut = history[2]["id"]
    with client.stream("GET", f"/v1/jobs/{trained_model['job_id']}/events",
                       headers={**SSE, "Last-Event-ID": cut}) as response:
        rest, _ = read_events(response)
    assert [e["id"] for e in rest] == [e["id"] for e in history[3:]]


def test_the_status_changes_stream_shows_a_new_job_pass_through_its_states_with_keep_alives(client, worker_process):
    latest = client.get("/v1/events").json()["events"]
    after = latest[-1]["id"] if latest else "-"
    with client.stream("GET", "/v1/events", params={"after": after}, headers=SSE, timeout=120) as response:
        job = client.post("/v1/jobs", json=TINY_JOB).json()
        wait_for_job(client, job["id"])
        time.sleep(1.2)  # the test API's heartbeat is 0.5 s
        events, keep_alives = read_events(response, stop_after_s=0.5)
    mine = [e["data"]["status"] for e in events if e["data"]["job"] == job["id"]]
    assert mine[0] == "queued" and mine[-1] == "succeeded" and "running" in mine
    assert keep_alives >= 1


def test_the_training_curves_are_a_png_of_the_losses(client, trained_model):
    response = client.get(f"/v1/jobs/{trained_model['job_id']}/curves.png")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content)).convert("RGB")
    drawn = {colour for _, lines in PANELS for _, _, colour in lines}
    assert drawn <= {colour for _, colour in image.getcolors(1 << 20)}  # every line is there
    assert client.get("/v1/jobs/job_0000000000000000/curves.png").status_code == 404


def test_an_open_stream_does_not_keep_the_api_from_stopping(settings, tmp_path):
    process, url = start_api(env_for(settings.redis_url, settings.data_dir), tmp_path / "api.log")
    try:
        with httpx.stream("GET", f"{url}/v1/events", params={"after": "$"}, headers=SSE, timeout=30) as response:
            assert response.status_code == 200
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            process.wait(20)  # a stream that never ends would hold a graceful shutdown forever
            assert time.monotonic() - started < 15
    finally:
        stop(process)
