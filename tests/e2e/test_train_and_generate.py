"""The walking skeleton through real processes: uvicorn API, Celery worker, Redis server."""

import io
import re

import pytest
from PIL import Image

from tests.helpers import TINY_JOB

pytestmark = pytest.mark.e2e


def png(response) -> Image.Image:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    return Image.open(io.BytesIO(response.content))


def assert_problem(response, status: int, *fragments: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    for fragment in fragments:
        assert fragment in body["detail"], body["detail"]


def test_submitting_a_job_answers_202_with_its_location(client, worker_process):
    response = client.post("/v1/jobs", json=TINY_JOB)
    assert response.status_code == 202
    job = response.json()
    assert job["status"] == "queued" and job["spec"]["dataset"] == "digits"
    assert response.headers["location"] == f"/v1/jobs/{job['id']}"
    assert client.get(response.headers["location"]).json()["id"] == job["id"]


def test_a_trained_job_reports_progress_and_its_model(client, trained_model):
    job = client.get(f"/v1/jobs/{trained_model['job_id']}").json()
    assert job["status"] == "succeeded" and job["model_id"] == trained_model["id"]
    progress = job["progress"]
    assert progress["step"] == progress["total_steps"] == 12
    assert {"loss_d", "loss_g", "d_real", "d_fake", "images_per_s", "eta_s", "epoch"} <= set(progress)
    listed = client.get("/v1/jobs", params={"limit": 500}).json()["jobs"]  # the suite makes many jobs after this one
    assert job["id"] in [j["id"] for j in listed]
    assert png(client.get(f"/v1/jobs/{job['id']}/samples/1")).size == (8 * 30 + 2, 8 * 30 + 2)
    metrics = client.get(f"/v1/jobs/{job['id']}/metrics").json()["epochs"]
    assert len(metrics) == 1 and metrics[0]["epoch"] == 1 and metrics[0]["step"] == 12
    assert {"loss_d", "loss_g", "d_real", "d_fake", "gradient_penalty", "images_per_s"} <= set(metrics[0])


def test_the_model_card_describes_the_generator(client, trained_model):
    assert trained_model["arch"] == "dcgan" and trained_model["latent_dim"] == 16
    assert trained_model["image_shape"] == [1, 28, 28] and len(trained_model["classes"]) == 10
    assert trained_model["id"] in [m["id"] for m in client.get("/v1/models").json()["models"]]


def test_images_returns_a_png_grid_of_the_requested_size(client, trained_model):
    image = png(client.get(f"/v1/models/{trained_model['id']}/images", params={"n": 16, "seed": 7}))
    assert image.size == (4 * 30 + 2, 4 * 30 + 2) and image.mode == "L"  # 4x4 tiles of 28 px, 2 px gaps
    wide = png(client.get(f"/v1/models/{trained_model['id']}/images", params={"n": 6, "seed": 7, "nrow": 6}))
    assert wide.size == (6 * 30 + 2, 30 + 2)


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(client, trained_model):
    url = f"/v1/models/{trained_model['id']}/images"
    first = client.get(url, params={"n": 9, "seed": 7})
    again = client.get(url, params={"n": 9, "seed": 7})
    other = client.get(url, params={"n": 9, "seed": 8})
    assert first.content == again.content
    assert first.content != other.content
    assert first.headers["x-seed"] == "7"


def test_generate_from_explicit_latents_gives_one_image(client, trained_model):
    url = f"/v1/models/{trained_model['id']}/generate"
    one = png(client.post(url, json={"latents": [[0.1] * 16]}))
    assert one.size == (28, 28)
    two = png(client.post(url, json={"latents": [[0.1] * 16, [-0.5] * 16]}))
    assert two.size == (2 * 30 + 2, 30 + 2)


def test_generate_accepts_curls_default_content_type(client, trained_model):
    body = '{"latents": [[' + ",".join(["0.1"] * 16) + "]]}"
    response = client.post(f"/v1/models/{trained_model['id']}/generate", content=body,
                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert png(response).size == (28, 28)


def test_generate_with_n_and_seed_matches_the_get_endpoint(client, trained_model):
    posted = client.post(f"/v1/models/{trained_model['id']}/generate", json={"n": 4, "seed": 11})
    got = client.get(f"/v1/models/{trained_model['id']}/images", params={"n": 4, "seed": 11})
    assert posted.content == got.content


def test_latents_of_the_wrong_length_are_a_422_that_says_so(client, trained_model):
    response = client.post(f"/v1/models/{trained_model['id']}/generate", json={"latents": [[1.0, 2.0, 3.0]]})
    assert_problem(response, 422, "latents[0] must have length 16", "got 3")


def test_non_finite_latents_are_a_422(client, trained_model):
    body = '{"latents": [[NaN' + ", 0" * 15 + "]]}"
    response = client.post(f"/v1/models/{trained_model['id']}/generate", content=body,
                           headers={"content-type": "application/json"})
    assert_problem(response, 422, "latents")


def test_an_unknown_model_is_a_404(client):
    assert_problem(client.get("/v1/models/model_0123456789abcdef/images"), 404, "model_0123456789abcdef")
    assert_problem(client.get("/v1/models/../../etc/passwd"), 404)
    assert_problem(client.post("/v1/models/nope/generate", json={"n": 1}), 404, "nope")


def test_an_unknown_job_is_a_404(client):
    assert_problem(client.get("/v1/jobs/job_0123456789abcdef"), 404, "job_0123456789abcdef")


def test_an_unknown_data_set_is_a_422_listing_the_known_ones(client):
    response = client.post("/v1/jobs", json={**TINY_JOB, "dataset": "imagenet"})
    assert_problem(response, 422, "unknown data set 'imagenet'", "mnist", "digits")


def test_a_malformed_job_spec_is_a_422_naming_the_field(client):
    response = client.post("/v1/jobs", json={**TINY_JOB, "train": {"epochs": 0}})
    assert_problem(response, 422, "train.epochs")
    response = client.post("/v1/jobs", json={**TINY_JOB, "model": {"arch": "dcgan", "colour": "blue"}})
    assert_problem(response, 422, "model.colour")


def test_n_over_the_configured_maximum_is_a_422(client, trained_model):
    response = client.get(f"/v1/models/{trained_model['id']}/images", params={"n": 65, "seed": 1})
    assert_problem(response, 422, "at most 64")
    response = client.post(f"/v1/models/{trained_model['id']}/generate", json={"latents": [[0.0] * 16] * 65})
    assert_problem(response, 422, "at most 64")


def test_latents_and_seed_together_are_refused(client, trained_model):
    response = client.post(f"/v1/models/{trained_model['id']}/generate", json={"latents": [[0.0] * 16], "seed": 1})
    assert_problem(response, 422, "either latents, or n and seed")


def test_idempotency_key_returns_the_same_job(client):
    headers = {"Idempotency-Key": "retry-me-123"}
    first = client.post("/v1/jobs", json=TINY_JOB, headers=headers)
    second = client.post("/v1/jobs", json=TINY_JOB, headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert second.headers["idempotent-replayed"] == "true"


def test_health_and_openapi(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    paths = client.get("/openapi.json").json()["paths"]
    expected = {"/v1/jobs", "/v1/jobs/{job_id}", "/v1/models/{model_id}/images", "/v1/models/{model_id}/generate"}
    assert expected <= set(paths)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_api_docs_pages_load_every_asset_from_the_api_itself(client, page):
    html = client.get(page)
    assert html.status_code == 200 and "/openapi.json" in html.text
    assets = re.findall(r"""(?:src|href)=["']?([^"' >]+)""", html.text) + re.findall(r"url: ?'([^']+)'", html.text)
    scripts = [a for a in assets if a.endswith(".js")]
    assert scripts and not [a for a in assets if "//" in a], assets  # nothing from another host (no CDN)
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200 and len(response.content) > 100, asset
