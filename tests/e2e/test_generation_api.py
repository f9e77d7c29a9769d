"""Every way to ask a generator for images, through real HTTP: formats, truncation, exploration,
augmentation, batching and bad input."""

import base64
import io
import json
import re
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from tests.e2e.test_train_and_generate import assert_problem, png
from tests.helpers import train_model

pytestmark = pytest.mark.e2e


def npz(response) -> dict[str, np.ndarray]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-npz"
    with np.load(io.BytesIO(response.content), allow_pickle=False) as arrays:
        return dict(arrays)


def zip_members(response) -> dict[str, bytes]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def pixels(png_bytes: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png_bytes)))


def within_one(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and int(np.abs(a.astype(int) - b.astype(int)).max()) <= 1


# -- formats --

def test_every_format_carries_the_same_images(client, trained_model):
    url = f"/v1/models/{trained_model['id']}/generate"
    request = {"n": 5, "seed": 11}
    arrays = npz(client.post(url, json={**request, "format": "npz"}))
    assert arrays["images"].shape == (5, 28, 28, 1) and arrays["images"].dtype == np.uint8
    assert arrays["latents"].shape == (5, 16) and arrays["latents"].dtype == np.float32

    members = zip_members(client.post(url, json={**request, "format": "zip"}))
    assert sorted(members) == [f"{i:06d}.png" for i in range(5)] + ["manifest.json"]
    manifest = json.loads(members["manifest.json"])
    assert manifest["seed"] == 11 and manifest["model_id"] == trained_model["id"] and manifest["count"] == 5

    body = client.post(url, json={**request, "format": "json"}).json()
    assert body["seed"] == 11 and body["labels"] is None and len(body["images"]) == 5
    for i in range(5):
        from_zip = pixels(members[f"{i:06d}.png"])
        assert np.array_equal(from_zip, arrays["images"][i, :, :, 0])
        assert np.array_equal(from_zip, pixels(base64.b64decode(body["images"][i])))
    grid = png(client.post(url, json={**request, "format": "grid", "nrow": 5}))
    assert grid.size == (5 * 30 + 2, 30 + 2)


def test_the_latents_json_returns_reproduce_its_images(client, trained_model):
    url = f"/v1/models/{trained_model['id']}/generate"
    seeded = client.post(url, json={"n": 3, "seed": 4, "format": "json"}).json()
    again = client.post(url, json={"latents": seeded["latents"], "format": "json"}).json()
    assert again["images"] == seeded["images"] and again["seed"] is None
    one = client.post(url, json={"latents": seeded["latents"][1:2]})
    assert one.content == base64.b64decode(seeded["images"][1])


def test_same_request_gives_identical_archive_bytes(client, trained_model):
    url = f"/v1/models/{trained_model['id']}/generate"
    for fmt in ("zip", "npz", "json"):
        first = client.post(url, json={"n": 4, "seed": 2, "format": fmt})
        assert first.content == client.post(url, json={"n": 4, "seed": 2, "format": fmt}).content, fmt


def test_get_images_matches_post_generate(client, trained_model):
    model = trained_model["id"]
    for fmt in ("npz", "zip", "grid"):
        got = client.get(f"/v1/models/{model}/images", params={"n": 6, "seed": 9, "format": fmt, "truncation": 0.8})
        posted = client.post(f"/v1/models/{model}/generate",
                             json={"n": 6, "seed": 9, "format": fmt, "truncation": 0.8})
        assert got.status_code == 200 and got.content == posted.content, fmt
        assert got.headers["x-truncation"] == "0.8"


def test_truncation_redraws_large_latent_components(client, trained_model):
    url = f"/v1/models/{trained_model['id']}/generate"
    plain = npz(client.post(url, json={"n": 64, "seed": 5, "format": "npz"}))["latents"]
    truncated = npz(client.post(url, json={"n": 64, "seed": 5, "format": "npz", "truncation": 0.5}))["latents"]
    assert np.abs(plain).max() > 2 and np.abs(truncated).max() <= 0.5
    small = np.abs(plain) <= 0.5  # the components already inside the bound are kept where they were drawn
    assert small.sum() > 100 and np.array_equal(truncated[small], plain[small])


def test_conditional_npz_and_zip_carry_labels(client, cgan):
    url = f"/v1/models/{cgan['id']}/generate"
    arrays = npz(client.post(url, json={"n": 4, "seed": 1, "labels": ["3", 5, "3", 9], "format": "npz"}))
    assert arrays["labels"].tolist() == [3, 5, 3, 9] and arrays["classes"].tolist() == [str(i) for i in range(10)]
    manifest = json.loads(zip_members(client.post(url, json={"n": 2, "seed": 1, "labels": 7, "format": "zip"}))
                          ["manifest.json"])
    assert manifest["labels"] == ["7", "7"]


def test_infogan_npz_carries_its_codes(client, infogan):
    url = f"/v1/models/{infogan['id']}/generate"
    arrays = npz(client.post(url, json={"n": 3, "seed": 1, "format": "npz",
                                        "codes": {"categorical": [0, 3, 1], "continuous": [0.5, -0.5]}}))
    assert arrays["categorical"].tolist() == [0, 3, 1]
    assert arrays["continuous"].tolist() == [[0.5, -0.5]] * 3


def test_a_2d_model_serves_points(client, worker_process):
    ring = train_model(client, "ring8", {"arch": "mlp"}, {"max_steps": 2})
    url = f"/v1/models/{ring['id']}/generate"
    assert npz(client.post(url, json={"n": 10, "seed": 1, "format": "npz"}))["points"].shape == (10, 2)
    assert len(client.post(url, json={"n": 10, "seed": 1, "format": "json"}).json()["points"]) == 10
    assert_problem(client.post(url, json={"n": 10, "format": "zip"}), 422, "2-D points")


# -- exploring the latent space --

def test_interpolation_ends_at_the_two_seeds_images(client, trained_model):
    model = trained_model["id"]
    ends = [npz(client.post(f"/v1/models/{model}/generate", json={"n": 1, "seed": s, "format": "npz"}))
            for s in (21, 22)]
    for method in ("slerp", "lerp"):
        path = npz(client.post(f"/v1/models/{model}/interpolate", json={
            "start": {"seed": 21}, "end": {"seed": 22}, "steps": 7, "method": method, "format": "npz"}))
        assert path["images"].shape == (7, 28, 28, 1)
        assert np.array_equal(path["latents"][0], ends[0]["latents"][0])
        assert np.array_equal(path["latents"][-1], ends[1]["latents"][0])
        assert within_one(path["images"][0], ends[0]["images"][0])
        assert within_one(path["images"][-1], ends[1]["images"][0])
        assert not np.array_equal(path["images"][3], path["images"][0])
    strip = png(client.post(f"/v1/models/{model}/interpolate",
                            json={"start": {"seed": 21}, "end": {"latent": [0.0] * 16}, "steps": 5}))
    assert strip.size == (5 * 30 + 2, 30 + 2)


def test_lerp_is_a_straight_line_and_slerp_keeps_the_norm(client, trained_model):
    url = f"/v1/models/{trained_model['id']}/interpolate"
    a, b = [1.0] + [0.0] * 15, [0.0, 1.0] + [0.0] * 14
    lerp = client.post(url, json={"start": {"latent": a}, "end": {"latent": b}, "steps": 3, "method": "lerp",
                                  "format": "json"}).json()["latents"]
    slerp = client.post(url, json={"start": {"latent": a}, "end": {"latent": b}, "steps": 3,
                                   "format": "json"}).json()["latents"]
    assert lerp[1][:2] == [0.5, 0.5]
    assert np.linalg.norm(slerp[1]) == pytest.approx(1.0, abs=1e-6)


def test_interpolation_as_gif_and_zip_frames(client, cgan):
    body = {"start": {"seed": 1}, "end": {"seed": 2}, "steps": 6, "labels": "4"}
    gif = client.post(f"/v1/models/{cgan['id']}/interpolate", json={**body, "format": "gif"})
    assert gif.headers["content-type"] == "image/gif"
    assert Image.open(io.BytesIO(gif.content)).n_frames == 6
    frames = zip_members(client.post(f"/v1/models/{cgan['id']}/interpolate", json={**body, "format": "zip"}))
    assert json.loads(frames["manifest.json"])["labels"] == ["4"] * 6


@pytest.mark.parametrize("path,body", [
    ("interpolate", {"start": {"seed": 1}, "end": {"seed": 2}}),
    ("traverse", {"dimension": 1}),
])
def test_a_conditional_model_refuses_to_explore_without_labels_and_says_which_it_takes(client, cgan, path, body):
    url = f"/v1/models/{cgan['id']}/{path}"
    assert_problem(client.post(url, json={**body, "steps": 3}), 422, f"model {cgan['id']} is conditional",
                   "give the class of the frames", "'9'", "index 0..9")
    frames = npz(client.post(url, json={**body, "steps": 3, "labels": "7", "format": "npz"}))
    assert frames["labels"].tolist() == [7, 7, 7]


def test_the_label_given_is_the_class_every_frame_draws(client, cgan):
    model = cgan["id"]
    path = npz(client.post(f"/v1/models/{model}/interpolate", json={
        "start": {"seed": 21}, "end": {"seed": 22}, "steps": 3, "labels": 5, "format": "npz"}))
    ends = npz(client.post(f"/v1/models/{model}/generate", json={"latents": [path["latents"][0].tolist(),
                                                                             path["latents"][-1].tolist()],
                                                                 "labels": 5, "format": "npz"}))
    assert within_one(path["images"][0], ends["images"][0]) and within_one(path["images"][-1], ends["images"][1])
    other = npz(client.post(f"/v1/models/{model}/interpolate", json={
        "start": {"seed": 21}, "end": {"seed": 22}, "steps": 3, "labels": 0, "format": "npz"}))
    assert not np.array_equal(other["images"], path["images"])  # the class is not silently the first


def test_one_label_per_end_needs_a_style_model_in_w(client, cgan):
    assert_problem(client.post(f"/v1/models/{cgan['id']}/interpolate", json={
        "start": {"seed": 1}, "end": {"seed": 2}, "labels": [3, 8]}), 422, "one per end needs space w")
    assert client.post(f"/v1/models/{cgan['id']}/interpolate", json={
        "start": {"seed": 1}, "end": {"seed": 2}, "labels": [3, 8, 1]}).status_code == 422


def test_traversal_sweeps_one_latent_dimension(client, trained_model):
    url = f"/v1/models/{trained_model['id']}/traverse"
    body = client.post(url, json={"seed": 3, "rows": 2, "dimension": 5, "steps": 4, "low": -1, "high": 2,
                                  "format": "json"}).json()
    latents = np.array(body["latents"])
    assert latents.shape == (8, 16)
    assert latents[:, 5].tolist() == [-1, 0, 1, 2] * 2
    others = np.delete(latents, 5, axis=1)
    assert (others[:4] == others[0]).all() and (others[4:] == others[4]).all() and not (others[0] == others[4]).all()
    assert png(client.post(url, json={"seed": 3, "rows": 2, "dimension": 5, "steps": 4})).size == (4 * 30 + 2,
                                                                                                 2 * 30 + 2)


def test_traversal_of_infogan_codes(client, infogan):
    url = f"/v1/models/{infogan['id']}/traverse"
    categories = npz(client.post(url, json={"seed": 1, "rows": 2, "code": "categorical", "format": "npz"}))
    assert categories["categorical"].tolist() == [0, 1, 2, 3] * 2
    continuous = npz(client.post(url, json={"seed": 1, "code": "continuous:1", "steps": 3, "low": -1, "high": 1,
                                            "format": "npz"}))
    assert continuous["continuous"].tolist() == [[0, -1], [0, 0], [0, 1]]
    assert not np.array_equal(continuous["images"][0], continuous["images"][2])


# -- augmentation --

def test_augment_zip_has_exactly_the_counts_asked_per_class(client, cgan):
    response = client.post(f"/v1/models/{cgan['id']}/augment", json={"counts": {"3": 300, "7": 5, "0": 1},
                                                                      "seed": 8})
    assert "content-length" not in response.headers  # streamed, not built whole
    members = zip_members(response)
    per_class = {}
    for name in members:
        if name != "manifest.json":
            folder, file = name.split("/")
            assert re.fullmatch(r"\d{6}\.png", file)
            per_class[folder] = per_class.get(folder, 0) + 1
    assert per_class == {"0": 1, "3": 300, "7": 5}
    manifest = json.loads(members["manifest.json"])
    assert manifest["seed"] == 8 and manifest["counts"]["3"] == 300 and manifest["counts"]["1"] == 0
    assert response.headers["x-seed"] == "8" and response.headers["x-image-count"] == "306"
    assert pixels(members["7/000004.png"]).shape == (28, 28)


def test_augment_npz_is_balanced_labelled_and_reproducible(client, cgan):
    url = f"/v1/models/{cgan['id']}/augment"
    first = npz(client.post(url, json={"total": 523, "seed": 4, "format": "npz", "truncation": 0.9}))
    assert first["images"].shape == (523, 28, 28, 1) and first["latents"].shape == (523, 8)
    assert np.bincount(first["labels"]).tolist() == [53, 53, 53] + [52] * 7
    assert np.abs(first["latents"]).max() <= 0.9
    assert json.loads(str(first["manifest"]))["truncation"] == 0.9
    again = npz(client.post(url, json={"total": 523, "seed": 4, "format": "npz", "truncation": 0.9}))
    assert all(np.array_equal(first[k], again[k]) for k in ("images", "labels", "latents"))
    other = npz(client.post(url, json={"total": 523, "seed": 5, "format": "npz", "truncation": 0.9}))
    assert not np.array_equal(first["images"], other["images"])


def test_an_augment_zip_uploads_as_a_labelled_data_set(client, cgan):
    synthetic = client.post(f"/v1/models/{cgan['id']}/augment", json={"counts": {"3": 4, "7": 2}, "seed": 1})
    assert synthetic.status_code == 200
    response = client.post("/v1/datasets", files={"file": ("synthetic.zip", synthetic.content)})
    assert response.status_code == 201, response.text
    dataset = response.json()
    assert dataset["count"] == 6 and dataset["class_counts"] == {"3": 4, "7": 2}
    assert client.delete(f"/v1/datasets/{dataset['id']}").status_code == 204


def test_augment_an_unconditional_model_by_total(client, trained_model):
    members = zip_members(client.post(f"/v1/models/{trained_model['id']}/augment", json={"total": 3}))
    assert sorted(members) == ["images/000000.png", "images/000001.png", "images/000002.png", "manifest.json"]
    assert_problem(client.post(f"/v1/models/{trained_model['id']}/augment", json={"counts": {"1": 3}}),
                   422, "unconditional", "total")


@pytest.mark.parametrize("body,fragments", [
    ({"total": 3001}, ["at most 3000", "max_augment_images"]),
    ({"counts": {"cats": 2}}, ["unknown label 'cats'"]),
    ({"counts": {"3": 0}}, ["at least one image"]),
    ({"counts": {"3": 1}, "total": 5}, ["exactly one of counts"]),
    ({"total": 5, "format": "tar"}, ["format"]),
])
def test_bad_augment_requests_are_422(client, cgan, body, fragments):
    assert_problem(client.post(f"/v1/models/{cgan['id']}/augment", json=body), 422, *fragments)


# -- bad input --

@pytest.mark.parametrize("body,fragments", [
    ({"n": 2, "format": "png"}, ["format png holds one image"]),
    ({"n": 2, "format": "webp"}, ["format"]),
    ({"latents": [[0.0] * 16], "truncation": 0.5}, ["explicit latents"]),
    ({"n": 2, "truncation": 0}, ["truncation"]),
    ({"n": 65}, ["at most 64"]),
    ({"latents": [[0.0] * 15]}, ["latents[0] must have length 16"]),
])
def test_bad_generate_requests_are_422_with_the_reason(client, trained_model, body, fragments):
    assert_problem(client.post(f"/v1/models/{trained_model['id']}/generate", json=body), 422, *fragments)


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_latents_are_422(client, trained_model, token):
    content = '{"latents": [[' + ", ".join(["0.5"] * 15 + [token]) + "]]}"
    response = client.post(f"/v1/models/{trained_model['id']}/generate", content=content,
                           headers={"content-type": "application/json"})
    assert_problem(response, 422, "latents")


@pytest.mark.parametrize("path,body,fragments", [
    ("interpolate", {"start": {"seed": 1}, "end": {"seed": 2}, "steps": 65}, ["steps: at most 64"]),
    ("interpolate", {"start": {"seed": 1, "latent": [0.0] * 16}, "end": {"seed": 2}}, ["exactly one of seed"]),
    ("interpolate", {"start": {"latent": [0.0] * 3}, "end": {"seed": 2}}, ["start.latent must have length 16"]),
    ("interpolate", {"start": {"seed": 1}, "end": {"seed": 2}, "format": "png"}, ["format"]),
    ("traverse", {"dimension": 16}, ["0..15"]),
    ("traverse", {"code": "continuous:0"}, ["0 continuous codes"]),
    ("traverse", {"code": "categorical"}, ["no categorical code"]),
    ("traverse", {"dimension": 1, "code": "categorical"}, ["exactly one of dimension"]),
    ("traverse", {"dimension": 1, "rows": 9, "steps": 8}, ["rows x steps: at most 64"]),
    ("traverse", {"dimension": 1, "labels": 3}, ["unconditional"]),
    ("interpolate", {"start": {"seed": 1}, "end": {"seed": 2}, "labels": 3}, ["unconditional", "no labels"]),
    ("interpolate", {"start": {"seed": 1}, "end": {"seed": 2}, "labels": [3, 4]}, ["unconditional"]),
])
def test_bad_exploration_requests_are_422(client, trained_model, path, body, fragments):
    assert_problem(client.post(f"/v1/models/{trained_model['id']}/{path}", json=body), 422, *fragments)


def test_labels_and_codes_where_they_do_not_belong_are_422(client, cgan, infogan, trained_model):
    assert_problem(client.post(f"/v1/models/{cgan['id']}/generate", json={"n": 1, "labels": "ten"}),
                   422, "unknown label 'ten'")
    assert_problem(client.post(f"/v1/models/{cgan['id']}/traverse", json={"dimension": 1, "labels": 1, "codes": {
        "categorical": 1}}), 422, "not an InfoGAN")
    assert_problem(client.post(f"/v1/models/{infogan['id']}/generate", json={"n": 1, "codes": {
        "categorical": 4}}), 422, "codes.categorical")
    assert_problem(client.get(f"/v1/models/{trained_model['id']}/images", params={"format": "bmp"}), 422, "format")


def test_the_model_list_says_how_to_call_each(client, cgan, infogan):
    listed = {m["id"]: m["inputs"] for m in client.get("/v1/models", params={"limit": 500}).json()["models"]}
    assert listed[cgan["id"]] == {"latent_dim": 8, "labels": [str(i) for i in range(10)], "codes": None,
                                  "images": None, "styles": None}
    assert listed[infogan["id"]] == {"latent_dim": 8, "labels": None, "codes": {"categorical": 4, "continuous": 2},
                                     "images": None, "styles": None}


# -- the serving engine --

def _metric(client, name: str) -> float:
    text = client.get("/metrics").text
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " ")
               or line.startswith(name + "{"))


def test_concurrent_requests_are_batched_and_each_gets_its_own_images(client, cgan):
    url = f"/v1/models/{cgan['id']}/generate"
    bodies = [{"n": 1 + s % 3, "seed": 100 + s, "labels": s % 10, "format": "npz"} for s in range(24)]
    alone = [npz(client.post(url, json=body))["images"] for body in bodies]
    batches_before = _metric(client, "ganforge_generation_batch_images_count")
    singles_before = _metric(client, 'ganforge_generation_batch_images_bucket{le="3.0"}')
    route_before = _metric(client, 'ganforge_batch_images_count{route="generate"}')
    start = threading.Barrier(len(bodies))

    def concurrently(body):
        start.wait()
        return npz(client.post(url, json=body))["images"]

    with ThreadPoolExecutor(len(bodies)) as pool:
        together = list(pool.map(concurrently, bodies))
    for mine, sequential in zip(together, alone, strict=True):
        assert within_one(mine, sequential)
    batches = _metric(client, "ganforge_generation_batch_images_count") - batches_before
    small = _metric(client, 'ganforge_generation_batch_images_bucket{le="3.0"}') - singles_before
    assert batches < len(bodies) and small < batches, "no two requests shared a forward pass"
    assert _metric(client, 'ganforge_batch_images_count{route="generate"}') - route_before == batches
    assert 'ganforge_batch_queue_depth{route="generate"} 0.0' in client.get("/metrics").text  # all answered


def test_deleting_a_model_under_load_gives_200s_then_404s_never_500(client, worker_process):
    card = train_model(client, "digits", {"arch": "dcgan"}, {"max_steps": 2})
    url = f"/v1/models/{card['id']}/generate"
    assert client.post(url, json={"n": 4}).status_code == 200

    def hammer(i):
        return client.post(url, json={"n": 8, "seed": i, "format": "zip"}).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(hammer, range(8)))
        assert client.delete(f"/v1/models/{card['id']}").status_code == 204
        statuses += list(pool.map(hammer, range(24)))
    assert set(statuses) <= {200, 404} and statuses[-1] == 404
    assert_problem(client.post(url, json={"n": 1}), 404, card["id"])
