"""DAGAN over HTTP on the real worker: a job on some classes of a data set, its card, and POST /variations in
every input and output form, the streamed augment mode and the Python client included."""

import base64
import io
import json
import zipfile

import numpy as np
import pytest
from ganforge_client import AsyncClient, Client
from PIL import Image

from models.data import load_builtin
from tests.datasets_builders import image_bytes, npz_of, zip_of
from tests.e2e.test_train_and_generate import assert_problem, png
from tests.helpers import train_model

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def dagan(client, worker_process) -> dict:
    return train_model(client, "mnist", {"arch": "dagan", "latent_dim": 8}, {"max_steps": 4, "batch_size": 16,
                       "d_steps": 1}, {"g_width": 4, "d_width": 4}, classes=[str(i) for i in range(7)])


def digits(*wanted: int) -> list[Image.Image]:
    mnist = load_builtin("mnist")
    return [Image.fromarray(mnist.images[int((mnist.labels == d).nonzero()[0])][0].numpy()) for d in wanted]


def test_the_card_says_it_varies_images_and_scores_the_classes_it_never_saw(dagan):
    assert (dagan["kind"], dagan["arch"]) == ("augmenter", "dagan")
    assert dagan["inputs"]["images"] == {"variations": [1, 28, 28]} and dagan["latent_dim"] == 8
    assert dagan["classes"] == [str(i) for i in range(7)] and dagan["dataset"]["count"] < 5000
    assert dagan["metrics"]["scored_on"] == "classes 7, 8, 9 (not trained on)"
    scores = dagan["metrics"]["scores"]
    assert {"class_kept", "class_read_on_inputs", "to_input_l1", "one_pixel_shift_l1"} <= set(scores)
    assert scores["class_read_on_inputs"] > 0.8, "the reference classifier reads the real 7, 8 and 9"


def test_one_image_gives_a_grid_of_seeded_variations(client, dagan):
    url = f"/v1/models/{dagan['id']}/variations"
    seven = image_bytes(digits(7)[0])
    first = client.post(url, files={"file": ("7.png", seven, "image/png")}, data={"n": "5", "seed": "3"})
    again = client.post(url, files={"file": ("7.png", seven, "image/png")}, data={"n": "5", "seed": "3"})
    other = client.post(url, files={"file": ("7.png", seven, "image/png")}, data={"n": "5", "seed": "4"})
    assert png(first).size == (6 * 30 + 2, 30 + 2), "the input, then its five variations"
    assert first.content == again.content and first.content != other.content
    assert first.headers["x-image-count"] == "5" and first.headers["x-seed"] == "3"


def test_json_labels_and_the_json_format_keep_each_inputs_variations_together(client, dagan):
    url = f"/v1/models/{dagan['id']}/variations"
    blobs = [base64.b64encode(image_bytes(d)).decode() for d in digits(7, 8)]
    response = client.post(url, json={"images": blobs, "labels": ["seven", "eight"], "n": 2, "format": "json"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["labels"] == ["seven", "eight"] and [len(row) for row in body["variations"]] == [2, 2]
    alone = client.post(url, json={"image": blobs[0], "n": 2, "format": "json"}).json()
    assert alone["variations"][0] == body["variations"][0], "an image's variations do not depend on the others"


def test_a_labelled_zip_grows_into_a_streamed_data_set(client, dagan):
    url = f"/v1/models/{dagan['id']}/variations"
    sevens, nines = digits(7, 7), digits(9)
    archive = zip_of({"seven/a.png": image_bytes(sevens[0]), "seven/b.png": image_bytes(sevens[1]),
                      "nine/c.png": image_bytes(nines[0])})
    response = client.post(url, files={"file": ("set.zip", archive, "application/zip")},
                           data={"n": "3", "format": "zip"})
    assert response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as z:
        names = z.namelist()
        manifest = json.loads(z.read("manifest.json"))
    assert len([n for n in names if n.endswith(".png")]) == 9 and names[-1] == "manifest.json"
    assert sum(n.startswith("seven/") for n in names) == 6 and sum(n.startswith("nine/") for n in names) == 3
    assert manifest["counts"] == {"nine": 3, "seven": 6} and manifest["total"] == 9
    arrays = npz_of(images=np.stack([np.asarray(d) for d in sevens + nines]), labels=np.array([7, 7, 9]))
    as_npz = client.post(url, files={"file": ("set.npz", arrays, "application/octet-stream")},
                         data={"n": "2", "format": "npz"})
    with np.load(io.BytesIO(as_npz.content)) as npz:
        assert npz["images"].shape == (6, 28, 28, 1) and npz["source"].tolist() == [0, 0, 1, 1, 2, 2]
        assert [npz["classes"][i] for i in npz["labels"]] == ["7", "7", "7", "7", "9", "9"]
        assert npz["latents"].shape == (6, 8)


@pytest.mark.parametrize("send,status,fragment", [
    (lambda url, c: c.post(url, files={"file": ("x.png", b"not an image", "image/png")}), 422, "not a usable image"),
    (lambda url, c: c.post(url, json={"image": "aGk=", "labels": ["a", "b"]}), 422, "one per image"),
    (lambda url, c: c.post(url, json={"image": "eA==", "images": ["eA=="]}), 422, "exactly one of"),
    (lambda url, c: c.post(url, files={"file": ("e.png", b"x", "image/png")}, data={"n": "0"}), 422, "n"),
    (lambda url, c: c.post(url, files={"file": ("e.png", b"x", "image/png")}, data={"direction": "b2a"}), 422,
     "direction"),
    (lambda url, c: c.post(url, json={"image": base64.b64encode(image_bytes(digits(7)[0])).decode(), "n": 2,
                                      "format": "png"}), 422, "format png holds one image"),
    (lambda url, c: c.post(url, json={"image": base64.b64encode(image_bytes(digits(7)[0])).decode(), "n": 64,
                                      "format": "grid"}), 200, ""),  # the test server's max_images_per_request
    (lambda url, c: c.post(url, json={"image": base64.b64encode(image_bytes(digits(7)[0])).decode(), "n": 65,
                                      "format": "grid"}), 422, "zip and npz stream more"),
    (lambda url, c: c.post(url, json={"images": [base64.b64encode(image_bytes(digits(7)[0])).decode()] * 2,
                                      "n": 256}), 422, "max_images_per_request"),
])
def test_bad_variation_requests_get_a_clear_problem(client, dagan, send, status, fragment):
    response = send(f"/v1/models/{dagan['id']}/variations", client)
    if status == 200:
        assert response.status_code == 200, response.text
    else:
        assert_problem(response, status, fragment)


def test_other_kinds_refuse_variations_and_dagan_refuses_theirs(client, dagan, trained_model):
    seven = image_bytes(digits(7)[0])
    assert_problem(client.post(f"/v1/models/{trained_model['id']}/variations",
                               files={"file": ("7.png", seven, "image/png")}), 422, "/generate")
    assert_problem(client.post(f"/v1/models/{dagan['id']}/generate", json={"n": 1}), 422, "/variations")
    assert_problem(client.post(f"/v1/models/{dagan['id']}/translate", files={"file": ("7.png", seven, "image/png")}),
                   422, "/variations")
    assert_problem(client.post(f"/v1/models/{dagan['id']}/evaluations", json={}), 422, "augmenter")


def test_class_choices_and_dagan_options_are_checked_at_submit(client):
    def refused(body: dict, fragment: str) -> None:
        assert_problem(client.post("/v1/jobs", json=body), 422, fragment)

    refused({"dataset": "mnist", "classes": ["7", "x"], "model": {"arch": "dagan"}}, "'x' not in the data set's")
    refused({"dataset": "ring8", "classes": ["0"], "model": {"arch": "mlp"}}, "labelled image set")
    refused({"dataset": "digits-stripes", "classes": ["0"], "model": {"arch": "cyclegan"}}, "labelled image set")
    refused({"dataset": "mnist", "model": {"arch": "dagan", "pack": 2}}, "leave out pack")
    refused({"dataset": "mnist", "model": {"arch": "dagan", "blocks": 2}}, "model.blocks applies to cyclegan, srgan")
    refused({"dataset": "mnist", "model": {"arch": "dagan"}, "train": {"eval_every_epochs": 1}}, "varies images")
    refused({"dataset": "mnist", "classes": ["3"], "model": {"arch": "cgan"}}, "a single class")


def test_the_python_client_makes_variations_and_grows_a_labelled_set(api_url, dagan, tmp_path):
    with Client(api_url) as client:
        rows = client.variations(dagan["id"], digits(7, 8), n=3, seed=1)
        assert [len(row) for row in rows] == [3, 3] and rows[0][0].size == (28, 28)
        arrays = npz_of(images=np.stack([np.asarray(d) for d in digits(7, 9)]), labels=np.array(["7", "9"]))
        grown = client.vary_dataset(dagan["id"], arrays, tmp_path / "zip", n=2)
        assert grown.image_count == 4 and grown.manifest["counts"] == {"7": 2, "9": 2}
        assert sorted(p.name for p in (tmp_path / "zip" / "9").iterdir()) == ["00001-000.png", "00001-001.png"]

    async def main():
        async with AsyncClient(api_url) as client:
            return await client.variations(dagan["id"], digits(7), n=3, seed=1)

    import asyncio
    assert [image.tobytes() for image in asyncio.run(main())[0]] == [image.tobytes() for image in rows[0]]
