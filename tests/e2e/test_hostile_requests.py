"""Requests a hostile (or careless) client sends: each gets a quick answer, a 4xx problem where it is wrong,
and never stalls the API for anyone else, which a probe of /healthz checks while the request is in flight."""

import io
import threading
import time

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.e2e.test_datasets import MALFORMED_HEADERS
from tests.e2e.test_train_and_generate import assert_problem
from tests.e2e.test_translators import train_translator
from tests.hostile_arrays import npz_of_zeros, npz_with

pytestmark = pytest.mark.e2e

PROBE_LIMIT_S = 0.1  # /healthz answers in milliseconds; a blocked event loop makes it wait for the request


def while_probing(api_url: str, send) -> httpx.Response:
    """Sends one request in a thread while /healthz is asked every 50 ms; fails if any probe is slow."""
    answer: list[httpx.Response] = []
    sender = threading.Thread(target=lambda: answer.append(send()), daemon=True)
    slowest = 0.0
    with httpx.Client(base_url=api_url, timeout=30) as probe:
        sender.start()
        while sender.is_alive():
            started = time.perf_counter()
            assert probe.get("/healthz").status_code == 200
            slowest = max(slowest, time.perf_counter() - started)
            sender.join(0.05)
    assert slowest < PROBE_LIMIT_S, f"/healthz took {slowest:.2f} s while the request was in flight"
    return answer[0]


def test_a_tiny_truncation_answers_at_once_and_keeps_the_bound(client, api_url, trained_model):
    url = f"/v1/models/{trained_model['id']}/images"
    response = while_probing(api_url, lambda: client.get(url, params={"n": 4, "seed": 1, "truncation": 1e-9,
                                                                      "format": "npz"}))
    assert response.status_code == 200, response.text
    with np.load(io.BytesIO(response.content)) as arrays:
        assert np.abs(arrays["latents"]).max() <= 1e-9


def test_a_grid_is_never_wider_than_its_images(client, api_url, trained_model):
    url = f"/v1/models/{trained_model['id']}/images"
    wide = while_probing(api_url, lambda: client.get(url, params={"n": 2, "seed": 1, "nrow": 10_000_000}))
    one_row = client.get(url, params={"n": 2, "seed": 1, "nrow": 2})
    assert wide.status_code == 200 and wide.content == one_row.content
    assert Image.open(io.BytesIO(wide.content)).size == Image.open(io.BytesIO(one_row.content)).size


def test_frames_with_more_columns_than_frames_are_one_row(client, trained_model):
    url = f"/v1/models/{trained_model['id']}/interpolate"
    body = {"start": {"seed": 1}, "end": {"seed": 2}, "steps": 8, "format": "gif", "nrow": 20}
    response = client.post(url, json=body)
    assert response.status_code == 200, response.text
    assert Image.open(io.BytesIO(response.content)).n_frames == 8


@pytest.mark.parametrize("rows", [10_000_000, 1_000_000_000])
def test_a_traversal_too_large_is_refused_before_any_work(client, api_url, trained_model, rows):
    url = f"/v1/models/{trained_model['id']}/traverse"
    response = while_probing(api_url, lambda: client.post(url, json={"seed": 1, "rows": rows, "dimension": 0,
                                                                     "steps": 2}))
    assert_problem(response, 422, "rows x steps")


@pytest.mark.parametrize("body", [{"low": -1e308, "high": 1e308}, {"latent": [1e308] * 8}])
def test_latent_values_beyond_any_meaning_are_refused(client, trained_model, body):
    response = client.post(f"/v1/models/{trained_model['id']}/traverse", json={"dimension": 0, "steps": 2, **body})
    assert_problem(response, 422)


@pytest.mark.parametrize("path", ["/v1/jobs", "/v1/models", "/v1/datasets",
                                  "/v1/models/model_0000000000000000/evaluations"])
@pytest.mark.parametrize("offset", ["341794863310531232631095296", "1e31", "-1"])
def test_list_offsets_out_of_range_are_refused(client, path, offset):
    assert_problem(client.get(path, params={"offset": offset}), 422, "offset")


@pytest.mark.parametrize("after", ["62908451-71204107408498836126", "99999999999999999999-0"])
def test_event_ids_out_of_range_are_refused(client, trained_model, after):
    response = client.get(f"/v1/jobs/{trained_model['job_id']}/events", params={"after": after})
    assert_problem(response, 422, "after")


def test_an_idempotency_key_reused_for_another_body_is_refused(client):
    headers = {"Idempotency-Key": "reused-for-another-body"}
    job = {"dataset": "ring8", "model": {"arch": "mlp", "hidden": 8}, "train": {"max_steps": 2}}
    first = client.post("/v1/jobs", json=job, headers=headers)
    assert first.status_code == 202, first.text
    other = client.post("/v1/jobs", json={**job, "train": {"max_steps": 3}}, headers=headers)
    assert_problem(other, 422, "Idempotency-Key", first.json()["id"], "new key")
    assert client.post("/v1/jobs", json=job, headers=headers).json()["id"] == first.json()["id"]


JOB_FORM = '{"dataset": "ring8", "model": {"arch": "mlp", "hidden": 8}, "train": {"max_steps": 2}}'
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize("browser", [{"origin": "https://evil.example"}, {"origin": "http://localhost:3000"},
                                     {"sec-fetch-site": "cross-site"}, {"origin": "null"}])
def test_a_page_on_another_site_cannot_change_state_through_a_browser(client, browser):
    # The newest job's id: the job itself (another test's) may move on from queued meanwhile.
    jobs_before = [job["id"] for job in client.get("/v1/jobs", params={"limit": 1}).json()["jobs"]]
    assert_problem(client.post("/v1/jobs", content=JOB_FORM, headers={**FORM, **browser}), 403, "cross-site")
    assert_problem(client.post("/v1/jobs", json={"dataset": "ring8"}, headers=browser), 403, "cross-site")
    assert_problem(client.delete("/v1/datasets/ds_0000000000000000", headers=browser), 403, "cross-site")
    assert [job["id"] for job in client.get("/v1/jobs", params={"limit": 1}).json()["jobs"]] == jobs_before
    assert client.get("/v1/datasets", headers=browser).status_code == 200  # reading is not changing


def test_the_apis_own_origin_and_tools_are_served(client, api_url):
    own = {"origin": api_url, "sec-fetch-site": "same-origin"}
    assert client.post("/v1/jobs", content=JOB_FORM, headers=FORM).status_code == 202  # curl -d, as in the README
    assert client.post("/v1/jobs", content=JOB_FORM, headers={"content-type": "application/json", **own}
                       ).status_code == 202
    # A browser's form post is never read as JSON, even from the API's own origin.
    assert_problem(client.post("/v1/jobs", content=JOB_FORM, headers={**FORM, **own}), 422)


def test_a_job_too_large_for_the_server_is_refused_with_its_estimate(client):
    huge = {"dataset": "mnist", "model": {"arch": "dcgan", "image_size": 64, "g_width": 1024, "d_width": 1024}}
    response = client.post("/v1/jobs", json=huge)
    assert_problem(response, 422, "too large", "1,42", "M parameters", "GiB", "max_job_memory_bytes")
    assert response.json()["parameters"] > 1.4e9


@pytest.mark.parametrize("body", [{"dataset": "ring8", "train": {"epochs": True}},
                                  {"dataset": "ring8", "train": {"epochs": "3"}},
                                  {"dataset": "ring8", "train": {"keep_best": 1}}])
def test_values_of_the_wrong_json_type_are_refused_not_coerced(client, body):
    assert_problem(client.post("/v1/jobs", json=body), 422)


def test_generation_requests_take_strict_types_too(client, trained_model):
    url = f"/v1/models/{trained_model['id']}/generate"
    assert_problem(client.post(url, json={"n": True, "seed": 1}), 422, "n")
    assert client.post(url, json={"n": 2, "seed": 1}).status_code == 200


def test_a_huge_value_is_quoted_short_in_its_problem(client):
    # Issue 31: a 5,000,000-character data set id came back whole, in a 5 MB 422.
    response = client.post("/v1/jobs", json={"dataset": "x" * 5_000_000, "model": {"arch": "mlp"}})
    assert_problem(response, 422, "dataset: unknown data set 'xxx", "…' (5000000 characters)", "GET /v1/datasets")
    assert len(response.content) < 2048


def test_a_huge_unknown_field_name_is_quoted_short_too(client):
    response = client.post("/v1/jobs", json={"dataset": "ring8", "y" * 1_000_000: 1})
    assert_problem(response, 422, "(1000000 characters)")
    assert len(response.content) < 2048
    assert response.json()["errors"][0]["loc"].endswith("… (1000000 characters)")


def test_many_validation_errors_are_not_all_listed(client):
    response = client.post("/v1/jobs", json={"dataset": "ring8", "classes": [None] * 100_000})
    assert_problem(response, 422, "classes.0", "and 99980 more errors")
    assert len(response.json()["errors"]) == 20 and len(response.content) < 8192


@pytest.fixture(scope="module")
def translator(client, worker_process) -> dict:
    return train_translator(client, "edges-digits", {"arch": "pix2pix"})


def test_an_npz_bomb_sent_to_translate_is_refused_from_its_header_at_once(client, api_url, translator, tmp_path):
    # Issue 31 at the test server's caps: every cap met exactly but max_entry_bytes (4,000,000).
    bomb = npz_of_zeros(tmp_path / "x.npz", (8, 1000, 1000)).read_bytes()
    url = f"/v1/models/{translator['id']}/translate"
    started = time.perf_counter()
    response = while_probing(api_url, lambda: client.post(url, files={"file": ("x.npz", bomb)},
                                                          data={"format": "npz"}))
    assert time.perf_counter() - started < 1
    assert_problem(response, 413, "[8, 1000, 1000]", "max_entry_bytes")


@pytest.mark.parametrize("form", ["npz", "npy"])
def test_malformed_npy_headers_sent_to_translate_are_a_problem_never_a_500(client, translator, form):
    url = f"/v1/models/{translator['id']}/translate"
    for header, status, fragment in MALFORMED_HEADERS:
        content = npz_with(images=header) if form == "npz" else header
        response = client.post(url, files={"file": (f"x.{form}", content)}, data={"format": "npz"})
        assert_problem(response, status, fragment)
