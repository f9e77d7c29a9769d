"""The API and a worker as on two machines: both keep their artifacts in S3 (a real S3-protocol server), each
with a data directory of its own, so nothing they exchange can pass through a shared filesystem."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pytest
from PIL import Image

from core.store.keys import MANIFEST
from core.store.s3 import S3Store
from service.cli.processes import env_for, spawn, start_api, stop, wait_for
from tests.datasets_builders import npz_of
from tests.helpers import TINY_JOB, wait_for_job

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(s3_bucket, redis_url, tmp_path_factory):
    endpoint, bucket = s3_bucket
    root = tmp_path_factory.mktemp("s3-stack")
    redis = redis_url.rsplit("/", 1)[0] + "/7"  # a database of its own: the session's worker never sees these jobs
    store_url = f"s3://{bucket}/e2e"
    env = {"GANFORGE_STORE_URL": store_url, "GANFORGE_S3_ENDPOINT_URL": endpoint,
           "GANFORGE_RATE_LIMIT_JOBS_PER_MIN": "0", "GANFORGE_MAX_UNFINISHED_JOBS_PER_KEY": "0"}
    dirs = {"api": root / "api-data", "worker": root / "worker-data"}
    worker = spawn(["worker", "--name", "s3@%h"], env_for(redis, dirs["worker"], **env), root / "worker.log")
    try:  # both start at once; the API is waited for first
        api, url = start_api(env_for(redis, dirs["api"], **env), root / "api.log")
        wait_for(lambda: b" ready." in (root / "worker.log").read_bytes(), 60, "celery worker", worker,
                 root / "worker.log")
    except BaseException:
        stop(worker)
        raise
    with httpx.Client(base_url=url, timeout=30) as client:
        yield {"client": client, "dirs": dirs, "bucket": S3Store(store_url, endpoint, root / "reader")}
    stop(api)
    stop(worker)


@pytest.fixture(scope="module")
def trained(stack) -> dict:
    """An uploaded data set (unlabelled 28 px images) and a tiny model trained on it."""
    client = stack["client"]
    images = np.random.default_rng(0).integers(0, 256, (32, 28, 28), dtype=np.uint8)
    response = client.post("/v1/datasets", files={"file": ("noise.npz", npz_of(images=images))})
    assert response.status_code == 201, response.text
    dataset = response.json()
    response = client.post("/v1/jobs", json={**TINY_JOB, "dataset": dataset["id"], "train": {
        "epochs": 2, "batch_size": 16, "checkpoint_every_steps": 2}})
    assert response.status_code == 202, response.text
    job = wait_for_job(client, response.json()["id"], timeout_s=90)
    assert job["status"] == "succeeded", job
    return {"dataset": dataset, "job": job, "model_id": job["model_id"]}


def test_the_data_set_model_and_job_files_are_in_the_bucket_and_on_neither_disk(stack, trained):
    keys = stack["bucket"].list_keys
    assert keys(f"datasets/{trained['dataset']['id']}") == [
        f"datasets/{trained['dataset']['id']}/{name}" for name in ("data.safetensors", MANIFEST, "preview.png")]
    assert keys(f"models/{trained['model_id']}") == [
        f"models/{trained['model_id']}/{name}" for name in ("card.json", "generator.safetensors", MANIFEST)]
    job_files = keys(f"jobs/{trained['job']['id']}")
    assert {f"jobs/{trained['job']['id']}/{name}" for name in ("checkpoint.safetensors", "metrics.jsonl",
                                                               "samples/epoch-0002.png")} <= set(job_files)
    for side, directory in stack["dirs"].items():
        assert [p for p in directory.rglob("*") if p.is_file()] == [], side  # scratch space only, left empty


def test_the_same_seed_gives_identical_png_bytes(stack, trained):
    url = f"/v1/models/{trained['model_id']}/images"
    first = stack["client"].get(url, params={"n": 4, "seed": 7})
    again = stack["client"].get(url, params={"n": 4, "seed": 7})
    other = stack["client"].get(url, params={"n": 4, "seed": 8})
    assert first.status_code == 200 and first.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(first.content)).size == (2 * 30 + 2, 2 * 30 + 2)
    assert first.content == again.content != other.content


def test_samples_metrics_and_previews_are_read_from_the_bucket(stack, trained):
    client, job_id = stack["client"], trained["job"]["id"]
    sample = client.get(f"/v1/jobs/{job_id}/samples/2")
    assert sample.status_code == 200 and sample.content.startswith(b"\x89PNG")
    assert int(sample.headers["content-length"]) == len(sample.content)
    assert [row["epoch"] for row in client.get(f"/v1/jobs/{job_id}/metrics").json()["epochs"]] == [1, 2]
    preview = client.get(f"/v1/datasets/{trained['dataset']['id']}/preview.png")
    assert preview.status_code == 200 and Image.open(io.BytesIO(preview.content)).format == "PNG"
    assert client.get(f"/v1/jobs/{job_id}/samples/9").status_code == 404


def test_deleting_the_model_and_the_data_set_empties_their_prefixes(stack, trained):
    client, keys = stack["client"], stack["bucket"].list_keys
    assert client.delete(f"/v1/models/{trained['model_id']}").status_code == 204
    assert keys(f"models/{trained['model_id']}") == []
    assert client.get(f"/v1/models/{trained['model_id']}/images", params={"n": 1}).status_code == 404
    assert client.delete(f"/v1/datasets/{trained['dataset']['id']}").status_code == 204
    assert keys(f"datasets/{trained['dataset']['id']}") == []
