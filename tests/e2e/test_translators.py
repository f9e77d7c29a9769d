"""Image-to-image families over HTTP on the real worker: two-domain data sets (built-in and uploaded), training,
and POST /translate with every input and output form."""

import asyncio
import base64
import io
import json
import zipfile

import httpx
import numpy as np
import pytest
from ganforge_client import AsyncClient, Client
from PIL import Image

from models.data import load_builtin, outlines
from tests.datasets_builders import image_bytes, npz_of, zip_of
from tests.e2e.test_generation_api import within_one
from tests.e2e.test_train_and_generate import assert_problem, png
from tests.helpers import train_model

pytestmark = pytest.mark.e2e

TINY_TRANSLATOR = {"g_width": 8, "d_width": 8}


def train_translator(client, dataset: str, model: dict, train: dict | None = None) -> dict:
    return train_model(client, dataset, model, {"max_steps": 6, "batch_size": 16, **(train or {})}, TINY_TRANSLATOR)


@pytest.fixture(scope="module")
def pix2pix(client, worker_process) -> dict:
    return train_translator(client, "edges-digits", {"arch": "pix2pix"})


@pytest.fixture(scope="module")
def cyclegan(client, worker_process) -> dict:
    return train_translator(client, "digits-stripes", {"arch": "cyclegan", "blocks": 1})


def digit_edges(count: int) -> list[Image.Image]:
    mnist = load_builtin("mnist")
    edges = outlines(mnist.images[::500][:count])
    return [Image.fromarray(e[0].numpy()) for e in edges]


def test_two_domain_builtins_are_listed_with_both_shapes(client):
    manifest = client.get("/v1/datasets/digits-14to28").json()
    assert (manifest["kind"], manifest["shape"], manifest["source_shape"]) == ("paired", [1, 28, 28], [1, 14, 14])
    stripes = client.get("/v1/datasets/digits-stripes").json()
    assert stripes["kind"] == "unpaired" and stripes["counts"] == {"a": 2500, "b": 2500}
    preview = png(client.get("/v1/datasets/edges-digits/preview.png"))
    assert preview.size == (8 * 30 + 2, 8 * 30 + 2)


def test_pix2pix_card_says_it_takes_images_and_translates_one_png(client, pix2pix):
    assert (pix2pix["kind"], pix2pix["arch"]) == ("translator", "pix2pix")
    assert pix2pix["inputs"]["images"] == {"a2b": [1, 28, 28]} and pix2pix["latent_dim"] == 0
    scores = pix2pix["metrics"]["scores"]
    assert {"l1", "psnr", "l1_input", "l1_mean_image"} <= set(scores)
    url = f"/v1/models/{pix2pix['id']}/translate"
    edge = image_bytes(digit_edges(1)[0])
    first = client.post(url, files={"file": ("edge.png", edge, "image/png")})
    again = client.post(url, files={"file": ("edge.png", edge, "image/png")})
    out = png(first)
    assert out.size == (28, 28) and out.mode == "L"
    assert first.content == again.content, "the same input must give the same pixels"
    assert first.headers["x-direction"] == "a2b" and first.headers["x-image-count"] == "1"


def test_translate_takes_json_zip_and_npz_and_answers_in_every_format(client, pix2pix):
    url = f"/v1/models/{pix2pix['id']}/translate"
    edges = digit_edges(3)
    blobs = [image_bytes(e) for e in edges]
    one = client.post(url, files={"file": ("e.png", blobs[0], "image/png")}).content
    as_json = client.post(url, json={"images": [base64.b64encode(b).decode() for b in blobs], "format": "json"})
    assert as_json.status_code == 200, as_json.text
    decoded = [base64.b64decode(i) for i in as_json.json()["images"]]
    assert len(decoded) == 3 and decoded[0] == one
    archive = zip_of({f"{i}.png": b for i, b in enumerate(blobs)})
    zipped = client.post(url, files={"file": ("e.zip", archive, "application/zip")}, data={"format": "zip"})
    assert zipped.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(zipped.content)) as z:
        assert sorted(z.namelist()) == ["00000.png", "00001.png", "00002.png", "manifest.json"]
        assert z.read("00000.png") == one
    arrays = npz_of(images=np.stack([np.asarray(e) for e in edges]))
    as_npz = client.post(url, files={"file": ("e.npz", arrays, "application/octet-stream")}, data={"format": "npz"})
    with np.load(io.BytesIO(as_npz.content)) as npz:
        assert npz["images"].shape == (3, 28, 28, 1) and npz["inputs"].shape == (3, 28, 28, 1)
    grid = png(client.post(url, files={"file": ("e.zip", archive, "application/zip")},
                           data={"pairs": "true", "nrow": "3"}))
    assert grid.size == (6 * 30 + 2, 30 + 2), "three inputs beside their outputs in one row"


def test_inputs_of_another_size_and_colour_are_brought_to_the_models_shape(client, pix2pix):
    big = digit_edges(1)[0].resize((100, 80)).convert("RGB")
    response = client.post(f"/v1/models/{pix2pix['id']}/translate",
                           files={"file": ("big.jpg", image_bytes(big, "JPEG"), "image/jpeg")}, data={"resize": "pad"})
    assert png(response).size == (28, 28)


@pytest.mark.parametrize("send,status,fragment", [
    (lambda url, c: c.post(url, files={"file": ("x.png", b"not an image", "image/png")}), 422, "not a usable image"),
    (lambda url, c: c.post(url, json={"image": "%%%"}), 422, "not valid base64"),
    (lambda url, c: c.post(url, json={"image": "eA==", "images": ["eA=="]}), 422, "exactly one of"),
    (lambda url, c: c.post(url, json={"images": ["aGk="], "direction": "b2a"}), 422, "translates a2b only"),
    (lambda url, c: c.post(url, content=b"raw", headers={"content-type": "text/plain"}), 415, "multipart"),
    (lambda url, c: c.post(url, json={"images": [base64.b64encode(image_bytes(digit_edges(1)[0])).decode()] * 2,
                                      "format": "png"}), 422, "format png holds one image"),
    (lambda url, c: c.post(url, files={"file": ("e.png", b"x", "image/png")}, data={"nrow": "0"}), 422, "nrow"),
])
def test_bad_translate_requests_get_a_clear_problem(client, pix2pix, send, status, fragment):
    assert_problem(send(f"/v1/models/{pix2pix['id']}/translate", client), status, fragment)


def test_too_many_inputs_are_refused_naming_the_per_request_cap(client, pix2pix):
    url = f"/v1/models/{pix2pix['id']}/translate"
    blob = base64.b64encode(image_bytes(digit_edges(1)[0])).decode()
    assert_problem(client.post(url, json={"images": [blob] * 300}), 422, "max_images_per_request")
    # Files are decoded by the data set readers: their refusal names this route's cap, not max_dataset_images.
    many = npz_of(images=np.zeros((300, 28, 28), np.uint8))
    refused = client.post(url, files={"file": ("many.npz", many, "application/octet-stream")})
    assert_problem(refused, 413, "max_images_per_request", "several requests")
    assert "max_dataset_images" not in refused.text
    pngs = io.BytesIO()
    with zipfile.ZipFile(pngs, "w") as archive:
        for number in range(70):  # the test API's cap is 64
            archive.writestr(f"{number}.png", image_bytes(digit_edges(1)[0]))
    refused = client.post(url, files={"file": ("many.zip", pngs.getvalue(), "application/zip")})
    assert_problem(refused, 413, "max_images_per_request", "several requests")


def test_samplers_and_translators_refuse_each_others_routes(client, pix2pix, trained_model):
    assert_problem(client.post(f"/v1/models/{pix2pix['id']}/generate", json={"n": 1}), 422, "translator")
    assert_problem(client.get(f"/v1/models/{pix2pix['id']}/images"), 422, "/translate")
    assert_problem(client.post(f"/v1/models/{pix2pix['id']}/evaluations", json={}), 422, "translator")
    edge = image_bytes(digit_edges(1)[0])
    assert_problem(client.post(f"/v1/models/{trained_model['id']}/translate",
                               files={"file": ("e.png", edge, "image/png")}), 422,
                   "is a sampler (dcgan)", "use /generate")


def test_cyclegan_serves_both_directions_from_one_model(client, cyclegan):
    assert cyclegan["inputs"]["images"] == {"a2b": [1, 28, 28], "b2a": [1, 28, 28]}
    assert {"cycle_l1_a2b", "cycle_l1_b2a", "changed_l1_a2b"} <= set(cyclegan["metrics"]["scores"])
    url = f"/v1/models/{cyclegan['id']}/translate"
    digit = image_bytes(digit_edges(1)[0])
    to_b = client.post(url, files={"file": ("d.png", digit, "image/png")}, data={"direction": "a2b"})
    to_a = client.post(url, files={"file": ("d.png", digit, "image/png")}, data={"direction": "b2a"})
    assert png(to_b).size == png(to_a).size == (28, 28) and to_b.content != to_a.content
    job = client.get(f"/v1/jobs/{cyclegan['job_id']}").json()
    samples = png(client.get(f"/v1/jobs/{job['id']}/samples/1"))
    assert samples.size == (4 * 30 + 2, 4 * 30 + 2), "4 a2b and 4 b2a inputs, each beside its output"


def test_concurrent_requests_in_both_directions_each_get_their_own_directions_output(client, api_url, cyclegan):
    url = f"/v1/models/{cyclegan['id']}/translate"
    digits = [image_bytes(image) for image in digit_edges(4)]
    asked = [(digit, direction) for digit in digits for direction in ("a2b", "b2a")]
    alone = [np.asarray(png(client.post(url, files={"file": ("d.png", digit, "image/png")},
                                        data={"direction": direction}))) for digit, direction in asked]

    async def together() -> list[httpx.Response]:  # arriving together, they share a batch of the model's
        async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
            return await asyncio.gather(*(http.post(url, files={"file": ("d.png", digit, "image/png")},
                                                    data={"direction": direction}) for digit, direction in asked))

    answers = asyncio.run(together())
    assert [r.status_code for r in answers] == [200] * len(asked)
    assert [r.headers["x-direction"] for r in answers] == [direction for _, direction in asked]
    for answer, sequential in zip(answers, alone, strict=True):  # a batch's float sums may round a pixel apart
        assert within_one(np.asarray(png(answer)), sequential)
    assert not np.array_equal(alone[0], alone[1]), "both directions answered alike: this test cannot tell them apart"


def test_srgan_on_plain_images_upscales_by_its_scale(client, worker_process):
    card = train_translator(client, "mnist", {"arch": "srgan", "scale": 2, "blocks": 1})
    assert card["inputs"]["images"] == {"a2b": [1, 14, 14]} and card["image_shape"] == [1, 28, 28]
    assert card["metrics"]["scores"]["psnr_input"] > 0
    small = Image.fromarray(np.asarray(digit_edges(1)[0]).copy()).resize((14, 14))
    response = client.post(f"/v1/models/{card['id']}/translate", files={"file": ("s.png", image_bytes(small),
                                                                                  "image/png")})
    assert png(response).size == (28, 28)


def test_uploaded_paired_folders_train_pix2pix_and_unpaired_ones_only_cyclegan(client, worker_process):
    edges = digit_edges(10)
    paired = zip_of({**{f"A/{i}.png": image_bytes(e) for i, e in enumerate(edges)},
                     **{f"B/{i}.png": image_bytes(e.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
                        for i, e in enumerate(edges)}})
    made = client.post("/v1/datasets", files={"file": ("pairs.zip", paired, "application/zip")})
    assert made.status_code == 201, made.text
    manifest = made.json()
    assert (manifest["kind"], manifest["counts"]) == ("paired", {"a": 10, "b": 10})
    card = train_translator(client, manifest["id"], {"arch": "pix2pix"}, {"batch_size": 4})
    assert card["dataset"]["id"] == manifest["id"]

    unpaired = zip_of({**{f"trainA/a{i}.png": image_bytes(e) for i, e in enumerate(edges[:6])},
                       **{f"trainB/b{i}.png": image_bytes(e) for i, e in enumerate(edges[6:])}})
    made = client.post("/v1/datasets", files={"file": ("horse2zebra.zip", unpaired, "application/zip")})
    assert made.json()["kind"] == "unpaired" and "unpaired" in made.json()["warnings"][0]
    refused = client.post("/v1/jobs", json={"dataset": made.json()["id"], "model": {"arch": "pix2pix"}})
    assert_problem(refused, 422, "pix2pix does not train on unpaired")
    assert client.post("/v1/jobs", json={"dataset": made.json()["id"], "model": {"arch": "cyclegan"},
                                         "train": {"max_steps": 1}}).status_code == 202


def test_side_by_side_upload_splits_each_image_into_a_pair(client):
    left, right = digit_edges(2)
    both = Image.new("L", (56, 28))
    both.paste(left, (0, 0))
    both.paste(right, (28, 0))
    archive = zip_of({"train/1.png": image_bytes(both)})
    made = client.post("/v1/datasets", files={"file": ("facades.zip", archive, "application/zip")},
                       data={"layout": "side-by-side"})
    assert made.status_code == 201, made.text
    assert (made.json()["kind"], made.json()["shape"]) == ("paired", [1, 28, 28])
    wrong = client.post("/v1/datasets", files={"file": ("x.zip", zip_of({"1.png": image_bytes(left)}), "a/zip")},
                        data={"layout": "side-by-side"})
    assert_problem(wrong, 422, "twice as wide as high")


def test_samplers_refuse_two_domain_data_and_translators_refuse_noise_options(client):
    assert_problem(client.post("/v1/jobs", json={"dataset": "edges-digits", "model": {"arch": "dcgan"}}), 422,
                   "dcgan does not train on paired")
    assert_problem(client.post("/v1/jobs", json={"dataset": "edges-digits",
                                                 "model": {"arch": "pix2pix", "latent_dim": 8}}), 422, "latent_dim")
    assert_problem(client.post("/v1/jobs", json={"dataset": "edges-digits", "model": {"arch": "pix2pix", "blocks": 2}}),
                   422, "model.blocks applies to cyclegan, srgan; pix2pix takes no blocks")
    assert_problem(client.post("/v1/jobs", json={"dataset": "digits-14to28", "model": {"arch": "srgan", "scale": 4}}),
                   422, "model.scale is for srgan on a plain image set")
    body = json.dumps({"dataset": "edges-digits", "model": {"arch": "pix2pix"}, "train": {"augment": ["color"]}})
    assert_problem(client.post("/v1/jobs", content=body, headers={"content-type": "application/json"}), 422,
                   "train.augment")


def test_the_python_client_translates_pil_images_and_arrays(api_url, pix2pix):
    edges = digit_edges(2)
    with Client(api_url) as gf:
        from_pil = gf.translate(pix2pix["id"], edges)
        from_array = gf.translate(pix2pix["id"], np.stack([np.asarray(e) for e in edges]))
    assert [im.size for im in from_pil] == [(28, 28), (28, 28)]
    assert [im.tobytes() for im in from_pil] == [im.tobytes() for im in from_array]

    async def translate_async():
        async with AsyncClient(api_url) as gf:
            return await gf.translate(pix2pix["id"], edges[0])

    assert asyncio.run(translate_async())[0].tobytes() == from_pil[0].tobytes()
