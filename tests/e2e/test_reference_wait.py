"""A job on a fresh labelled upload waits for its data set's reference classifier, and says so while it waits."""

from __future__ import annotations

import time
from itertools import pairwise

import pytest
from ganforge_client import Client

from tests.datasets_builders import class_zip
from tests.helpers import TINY_JOB, wait_for_job

pytestmark = pytest.mark.e2e


def fresh_labelled_set(client, counts: dict[str, int]) -> str:
    """A labelled upload whose reference classifier is not stored yet, so a job on it waits for one. Give counts no
    other test uses: a set with the same images and labels (class_zip's gray levels follow the counts, and names are
    not part of a data set's checksum) would have its reference classifier stored already."""
    upload = client.post("/v1/datasets", files={"file": ("waits.zip", class_zip(counts, size=28))})
    assert upload.status_code == 201, upload.text
    return upload.json()["id"]


def test_a_job_queued_behind_the_reference_classifier_reports_its_epochs_and_eta(client, worker_process):
    dataset_id = fresh_labelled_set(client, {"left": 23, "right": 17})

    response = client.post("/v1/jobs", json={**TINY_JOB, "dataset": dataset_id})
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    seen = []  # the job's `waiting` field while it stays queued (the worker takes the reference task first)
    while (job := client.get(f"/v1/jobs/{job_id}").json())["status"] == "queued":
        seen.append(job["waiting"])
        time.sleep(0.05)
    assert seen and seen[0]["for"] == "reference classifier" and seen[0]["dataset"] == dataset_id, seen
    assert all(w is not None for w in seen), seen

    job = wait_for_job(client, job_id)
    assert job["status"] == "succeeded", job
    assert job["waiting"] is None  # moot once it ran

    events = client.get(f"/v1/jobs/{job_id}/events").json()["events"]
    running = next(i for i, e in enumerate(events) if e["event"] == "status" and e["data"]["status"] == "running")
    waits = [e["data"] for e in events if e["event"] == "waiting"]
    assert all(e["event"] != "waiting" for e in events[running:]), "every note came before the job ran"
    epochs = [w for w in waits if w["for"] == "reference classifier" and w["epoch"] >= 1]
    assert [w["epoch"] for w in epochs] == list(range(1, epochs[0]["epochs"] + 1)), waits
    assert all(w["dataset"] == dataset_id and w["eta_s"] >= 0 for w in epochs)
    assert epochs[-1]["eta_s"] == 0
    assert waits[-1]["for"] == "a worker" and waits[-1]["reference"]["held_out_images"] == 8  # a fifth of each class

    # Its default scores rest on that classifier's readings: the card says how far to trust them.
    card = client.get(f"/v1/models/{job['model_id']}").json()
    assert card["metrics"]["reference"] == waits[-1]["reference"], card["metrics"]


def test_client_wait_tells_what_a_queued_job_waits_for_before_its_progress(client, api_url, worker_process):
    dataset_id = fresh_labelled_set(client, {"left": 21, "right": 19})
    timeline = []  # (callback, the job's status, its waiting) in the order wait called them
    with Client(api_url, timeout=60) as gf:
        job = gf.submit_job(dataset_id, TINY_JOB["model"], TINY_JOB["train"])
        done = gf.wait(job["id"], poll_s=0.05, timeout_s=300,
                       on_waiting=lambda j: timeline.append(("waiting", j["status"], j["waiting"])),
                       on_progress=lambda j: timeline.append(("progress", j["status"], j["waiting"])))
    assert done["status"] == "succeeded", done

    notes = [waiting for callback, _, waiting in timeline if callback == "waiting"]
    assert notes and notes[0]["for"] == "reference classifier" and notes[0]["dataset"] == dataset_id, notes
    assert {note["for"] for note in notes} <= {"reference classifier", "a worker"}, notes
    epochs = [note["epoch"] for note in notes if note["for"] == "reference classifier"]
    assert all(earlier < later for earlier, later in pairwise(epochs)), f"each note told once: {notes}"
    told = [callback for callback, _, _ in timeline]
    assert "progress" in told and told.index("progress") > max(i for i, c in enumerate(told) if c == "waiting")
    assert all(status == "queued" for callback, status, _ in timeline if callback == "waiting")
