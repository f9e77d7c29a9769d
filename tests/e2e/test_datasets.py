"""Data sets through the real API: built-ins, uploads of every shape, hostile input, deletion, training."""

from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from safetensors.numpy import load_file

from tests.datasets_builders import (
    class_zip,
    image_bytes,
    npz_of,
    png,
    png_header_only,
    zip_bomb,
    zip_of,
)
from tests.helpers import TINY_JOB, wait_for_job
from tests.hostile_arrays import npy_header, npz_of_zeros, npz_with

pytestmark = pytest.mark.e2e


def upload(client, content: bytes, filename: str = "set.zip", **options):
    fields = {k: str(v) for k, v in options.items()}
    return client.post("/v1/datasets", files={"file": (filename, content)}, data=fields)


def created(response) -> dict:
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"/v1/datasets/{body['id']}"
    return body


def assert_problem(response, status: int, *fragments: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    for fragment in fragments:
        assert fragment in body["detail"], body["detail"]
    return body


def stored(data_dir: Path, dataset_id: str) -> dict[str, np.ndarray]:
    return load_file(data_dir / "datasets" / dataset_id / "data.safetensors")


def preview(client, dataset_id: str) -> Image.Image:
    response = client.get(f"/v1/datasets/{dataset_id}/preview.png")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    return Image.open(io.BytesIO(response.content))


@pytest.fixture(scope="module")
def bystander(client, data_dir) -> tuple[str, str]:
    """A data set stored before the hostile uploads; each of them must leave it exactly as it was."""
    body = created(upload(client, class_zip({"a": 2, "b": 2}), "bystander.zip"))
    path = data_dir / "datasets" / body["id"] / "data.safetensors"
    return body["id"], hashlib.sha256(path.read_bytes()).hexdigest()


def assert_nothing_harmed(client, data_dir: Path, bystander: tuple[str, str]) -> None:
    dataset_id, digest = bystander
    path = data_dir / "datasets" / dataset_id / "data.safetensors"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert client.get(f"/v1/datasets/{dataset_id}").status_code == 200
    root = data_dir / "datasets"
    assert list((root / ".incoming").iterdir()) == []  # the streamed upload is gone
    assert not [p for p in root.iterdir() if p.name.startswith((".staging-", ".trash-"))]


# -- built-ins -------------------------------------------------------------------------------------


def test_builtins_are_listed_with_their_manifests(client):
    listing = {d["id"]: d for d in client.get("/v1/datasets").json()["datasets"]}
    assert {"mnist", "digits", "ring8", "grid25"} <= set(listing)
    mnist = client.get("/v1/datasets/mnist").json()
    assert mnist["builtin"] and mnist["kind"] == "images" and mnist["count"] == 5000
    assert mnist["shape"] == [1, 28, 28] and mnist["class_counts"] == {str(i): 500 for i in range(10)}
    assert mnist["checksum"].startswith("sha256:") and mnist == listing["mnist"]
    ring = listing["ring8"]
    assert ring["kind"] == "points" and ring["shape"] == [2] and len(ring["classes"]) == 8


def test_builtin_previews_are_a_grid_and_a_scatter_plot(client):
    assert preview(client, "mnist").size == (8 * 30 + 2, 8 * 30 + 2)
    scatter = preview(client, "ring8")
    assert scatter.size == (256, 256) and scatter.mode == "RGB"
    colours = {c for _, c in scatter.getcolors(256 * 256)}
    assert len(colours) > 8  # white plus a colour per mode (and their antialiased edges)


def test_a_builtin_cannot_be_deleted(client):
    assert_problem(client.delete("/v1/datasets/mnist"), 409, "built-in")
    assert client.get("/v1/datasets/mnist").status_code == 200


# -- uploads ---------------------------------------------------------------------------------------


def test_a_class_folder_zip_becomes_a_labelled_data_set(client, data_dir):
    body = created(upload(client, class_zip({"cats": 3, "dogs": 5}), "cats_dogs.zip"))
    assert body["name"] == "cats_dogs.zip" and body["source"] == "cats_dogs.zip" and body["format"] == "zip"
    assert body["kind"] == "images" and body["count"] == 8 and body["shape"] == [1, 8, 8]
    assert body["classes"] == ["cats", "dogs"] and body["class_counts"] == {"cats": 3, "dogs": 5}
    assert body["skipped"] == 0 and body["warnings"] == [] and body["checksum"].startswith("sha256:")
    assert body["created_at"].endswith("Z") and body["preview"] == f"/v1/datasets/{body['id']}/preview.png"

    folder = data_dir / "datasets" / body["id"]
    tensors = stored(data_dir, body["id"])
    assert tensors["images"].dtype == np.uint8 and tensors["images"].shape == (8, 1, 8, 8)
    assert tensors["labels"].tolist() == [0, 0, 0, 1, 1, 1, 1, 1]
    assert tensors["images"][4, 0, 0, 0] == 43  # dogs/001.png: gray level 40 + 3
    manifest = json.loads((folder / "manifest.json").read_text())  # the description, plus the files it lists
    assert {k: v for k, v in manifest.items() if k != "files"} == {k: v for k, v in body.items() if k != "preview"}
    assert manifest["files"]["data.safetensors"]["size"] == (folder / "data.safetensors").stat().st_size
    assert set(manifest["files"]) == {"data.safetensors", "preview.png"}
    assert client.get(f"/v1/datasets/{body['id']}").json() == body
    assert body["id"] in [d["id"] for d in client.get("/v1/datasets").json()["datasets"]]
    assert preview(client, body["id"]).size == (8 * 10 + 2, 10 + 2)  # 8 images of 8 px in one row


def test_a_zip_of_a_folder_is_looked_into_and_a_flat_zip_is_unlabelled(client, data_dir):
    wrapped = created(upload(client, zip_of({"pets/cats/1.png": png(), "pets/dogs/1.png": png(),
                                             "pets/dogs/2.png": png()})))
    assert wrapped["classes"] == ["cats", "dogs"] and wrapped["class_counts"] == {"cats": 1, "dogs": 2}
    flat = created(upload(client, zip_of({"photos/a.png": png(), "photos/b.png": png()})))
    assert flat["classes"] == [] and flat["class_counts"] == {} and flat["count"] == 2
    assert stored(data_dir, flat["id"])["labels"].tolist() == [-1, -1]


def test_a_class_with_a_single_image_is_allowed_with_a_warning(client):
    body = created(upload(client, class_zip({"rare": 1, "common": 4})))
    assert body["class_counts"] == {"common": 4, "rare": 1}
    assert any("'rare' has a single image" in w for w in body["warnings"])


def test_files_that_are_not_images_are_skipped_and_counted(client):
    body = created(upload(client, zip_of({"cats/1.png": png(), "cats/notes.txt": b"hello", "dogs/2.png": png(),
                                          "README.md": b"# data", "__MACOSX/cats/._1.png": b"\0\5\26\7",
                                          "dogs/broken.png": png()[:30]})))
    assert body["count"] == 2 and body["skipped"] == 4
    reasons = {s["name"]: s["reason"] for s in body["skipped_files"]}
    assert reasons["cats/notes.txt"] == "not an image" and reasons["README.md"] == "not an image"
    assert reasons["__MACOSX/cats/._1.png"] == "hidden or system file"
    assert reasons["dogs/broken.png"].startswith(("not an image", "unreadable image"))
    assert any("skipped 4 file(s)" in w for w in body["warnings"])


def test_a_zip_without_any_image_is_refused(client, data_dir, bystander):
    assert_problem(upload(client, zip_of({"a.txt": b"x", "b.csv": b"1,2"})), 422, "holds no images",
                   "skipped 2 file(s)")
    assert_nothing_harmed(client, data_dir, bystander)


def test_an_npz_with_string_labels(client, data_dir):
    images = np.arange(5 * 6 * 6, dtype=np.uint8).reshape(5, 6, 6)
    labels = np.array(["zebra", "ant", "zebra", "ant", "bee"])
    body = created(upload(client, npz_of(images=images, labels=labels, extra=np.zeros(3)), "arrays.bin"))
    assert body["format"] == "npz" and body["shape"] == [1, 6, 6] and body["count"] == 5
    assert body["classes"] == ["ant", "bee", "zebra"] and body["class_counts"] == {"ant": 2, "bee": 1, "zebra": 2}
    assert any("ignored arrays" in w and "extra" in w for w in body["warnings"])
    tensors = stored(data_dir, body["id"])
    assert np.array_equal(tensors["images"][:, 0], images)  # detected by content, not by the .bin name
    assert tensors["labels"].tolist() == [2, 0, 2, 0, 1]


def test_an_npz_of_rgb_images_with_integer_labels(client, data_dir):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)
    body = created(upload(client, npz_of(images=images, labels=np.array([3, 1, 3, 1])), "rgb.npz"))
    assert body["shape"] == [3, 8, 8] and body["classes"] == ["1", "3"]
    assert np.array_equal(stored(data_dir, body["id"])["images"], images.transpose(0, 3, 1, 2))


def test_image_size_crop_and_pad(client, data_dir):
    wide = Image.new("L", (40, 20), 255)  # a white 40x20 image
    archive = zip_of({"wide.png": image_bytes(wide)})
    cropped = created(upload(client, archive, image_size=10, resize="crop"))
    assert cropped["shape"] == [1, 10, 10] and cropped["options"]["resize"] == "crop"
    assert stored(data_dir, cropped["id"])["images"].min() == 255  # the center square is all white
    padded = created(upload(client, archive, image_size=10, resize="pad", background="black"))
    pixels = stored(data_dir, padded["id"])["images"][0, 0]
    assert pixels[5].min() == 255 and pixels[0].max() == 0 and pixels[-1].max() == 0  # black bars above, below


def test_images_of_different_sizes_need_an_image_size(client):
    archive = zip_of({"a.png": png((8, 8)), "b.png": png((12, 12))})
    assert_problem(upload(client, archive), 422, "b.png is 12x12", "give image_size")
    assert created(upload(client, archive, image_size=16))["shape"] == [1, 16, 16]
    assert_problem(upload(client, zip_of({"a.png": png((8, 6))})), 422, "not square", "image_size")


def test_mixed_modes_are_converted_to_gray(client, data_dir):
    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)  # index 1 is white
    transparent_palette = Image.new("P", (4, 4), 0)
    transparent_palette.putpalette([255, 0, 0] * 256)
    transparent_palette.info["transparency"] = 0
    sixteen = Image.fromarray(np.full((4, 4), 32896, dtype=np.uint16))  # I;16, half of 65535 -> 128
    entries = {
        "1_palette.png": image_bytes(palette),
        "2_transparent_palette.png": image_bytes(transparent_palette),
        "3_rgba.png": image_bytes(Image.new("RGBA", (4, 4), (255, 255, 255, 0))),
        "4_la.png": image_bytes(Image.new("LA", (4, 4), (200, 255))),
        "5_sixteen.png": image_bytes(sixteen),
        "6_bilevel.png": image_bytes(Image.new("1", (4, 4), 1)),
        "7_cmyk.jpg": image_bytes(Image.new("CMYK", (4, 4), (0, 0, 0, 0)), "JPEG"),
    }
    assert sixteen.mode.startswith("I;16")
    on_black = created(upload(client, zip_of(entries), channels="gray"))
    levels = stored(data_dir, on_black["id"])["images"][:, 0, 0, 0].tolist()
    assert levels[:6] == [255, 0, 0, 200, 128, 255] and levels[6] >= 250  # transparent = the black background
    on_white = created(upload(client, zip_of(entries), channels="gray", background="white"))
    assert stored(data_dir, on_white["id"])["images"][:3, 0, 0, 0].tolist() == [255, 255, 255]


def test_channels_default_to_gray_only_when_every_image_is_gray(client):
    gray = {"a.png": png((4, 4), "L", 10), "b.png": png((4, 4), "RGB", (9, 9, 9))}
    assert created(upload(client, zip_of(gray)))["shape"] == [1, 4, 4]
    colour = {**gray, "c.png": png((4, 4), "RGB", (255, 0, 0))}
    assert created(upload(client, zip_of(colour)))["shape"] == [3, 4, 4]
    assert created(upload(client, zip_of(gray), channels="rgb"))["shape"] == [3, 4, 4]


def test_bad_options_are_a_422_naming_the_field(client):
    assert_problem(upload(client, class_zip({"a": 1}), image_size=2), 422, "image_size")
    assert_problem(upload(client, class_zip({"a": 1}), channels="cmyk"), 422, "channels")
    assert_problem(upload(client, class_zip({"a": 1}), colour="blue"), 422, "colour")
    assert_problem(upload(client, class_zip({"a": 1}), name="a\x01\x1b[31mb"), 422, "control characters")


def test_duplicate_names_get_distinct_ids(client):
    archive = class_zip({"a": 2})
    first = created(upload(client, archive, "same.zip"))
    second = created(upload(client, archive, "same.zip"))
    assert first["id"] != second["id"] and first["checksum"] == second["checksum"]


def test_concurrent_uploads_do_not_interfere(client, data_dir):
    archives = [class_zip({f"class{i}": i + 1, "other": 2}, size=8 + i) for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        bodies = list(pool.map(lambda a: created(upload(client, a)), archives))
    for i, body in enumerate(bodies):
        assert body["class_counts"] == {f"class{i}": i + 1, "other": 2} and body["shape"] == [1, 8 + i, 8 + i]
        assert stored(data_dir, body["id"])["images"].shape == (i + 3, 1, 8 + i, 8 + i)
    assert len({b["id"] for b in bodies}) == 4


# -- hostile and broken input ----------------------------------------------------------------------


def test_an_upload_that_is_not_a_zip_or_npz_is_refused(client, data_dir, bystander):
    assert_problem(upload(client, b"just some text\n", "data.zip"), 422, "neither a ZIP nor an NPZ")
    assert_problem(upload(client, png(), "one.png"), 422, "neither a ZIP nor an NPZ")
    assert_nothing_harmed(client, data_dir, bystander)


def test_a_corrupt_zip_is_refused(client, data_dir, bystander):
    assert_problem(upload(client, b"PK\x03\x04" + b"\x00garbage" * 20), 422, "corrupt ZIP")
    good = bytearray(zip_of({"a.png": png((16, 16), "L", 7)}, zipfile.ZIP_DEFLATED))
    good[40:60] = b"\xff" * 20  # inside the compressed data: the CRC or the inflater catches it
    assert_problem(upload(client, bytes(good)), 422, "a.png")
    assert_nothing_harmed(client, data_dir, bystander)


def test_a_corrupt_npz_is_refused(client, data_dir, bystander):
    truncated = npz_of(images=np.zeros((4, 8, 8), np.uint8))[:-40]
    assert_problem(upload(client, truncated, "t.npz"), 422, "corrupt")
    assert_problem(upload(client, npz_of(images=np.zeros((2, 4, 4), np.float32))), 422, "must be uint8")
    assert_problem(upload(client, npz_of(images=np.zeros((2, 4, 4), np.uint8), labels=np.array([1]))), 422,
                   "one label per image")
    assert_nothing_harmed(client, data_dir, bystander)


def test_an_npz_holding_pickled_objects_is_never_unpickled(client, data_dir, bystander):
    objects = np.empty(2, dtype=object)
    objects[:] = [{"a": 1}, {"b": 2}]
    archive = npz_of(images=np.zeros((2, 4, 4), np.uint8), labels=objects)
    assert_problem(upload(client, archive), 422, "`labels` holds Python objects", "never loaded")
    assert_nothing_harmed(client, data_dir, bystander)


@pytest.mark.parametrize("name", ["../evil.png", "cats/../../evil.png", "/tmp/evil.png", "C:\\evil.png"])
def test_zip_entries_that_point_outside_are_refused(client, data_dir, bystander, name):
    response = upload(client, zip_of({"cats/ok.png": png(), name: png()}))
    assert_problem(response, 422, repr(name), "points outside")
    assert not (data_dir / "evil.png").exists() and not (data_dir.parent / "evil.png").exists()
    assert not Path("/tmp/evil.png").exists()
    assert_nothing_harmed(client, data_dir, bystander)


def test_a_zip_bomb_is_refused_while_it_unpacks(client, data_dir, bystander):
    bomb = zip_bomb(100_000_000)
    assert len(bomb) < 200_000  # 100 MB of zeros, deflated
    assert_problem(upload(client, bomb), 413, "unpacks to more than 4,000,000 bytes")
    many_small = zip_of({f"{i}.png": b"\0" * 1_000_000 for i in range(9)})  # each under the entry cap
    assert_problem(upload(client, many_small), 413, "unpacks to more than 8,000,000 bytes")
    assert_nothing_harmed(client, data_dir, bystander)


def test_an_npz_bomb_is_refused(client, data_dir, bystander):
    bomb = npz_of(images=np.zeros((200, 100, 100), np.uint8))  # 2 MB: fine; the cap is on what it unpacks to
    assert created(upload(client, bomb))["count"] == 200
    assert_problem(upload(client, npz_of(images=np.zeros((1000, 100, 100), np.uint8))), 413,
                   "unpacks to more than 8,000,000 bytes")
    assert_nothing_harmed(client, data_dir, bystander)


def test_an_npz_at_every_cap_but_one_is_refused_from_its_header_at_once(client, data_dir, bystander, tmp_path):
    # Issue 31 at the test server's caps: 8 x 1000 x 1000 zeros (8 KB deflated) meet max_uncompressed_bytes and
    # max_image_pixels exactly; the array is one entry's worth of data, and max_entry_bytes is 4,000,000.
    bomb = npz_of_zeros(tmp_path / "x.npz", (8, 1000, 1000)).read_bytes()
    started = time.perf_counter()
    response = upload(client, bomb, "x.npz", image_size=28)
    assert time.perf_counter() - started < 1
    assert_problem(response, 413, "[8, 1000, 1000]", "8,000,000 bytes", "max_entry_bytes")
    assert_nothing_harmed(client, data_dir, bystander)


MALFORMED_HEADERS = [
    (npy_header("|V0", (10**12, 28, 28)), 422, "dtype |V0, whose items are 0 bytes"),
    (npy_header("<U0", (1, 28, 28)), 422, "dtype <U0, whose items are 0 bytes"),  # reset the connection
    (npy_header("|u1", (-2, -28, 28)), 422, "negative dimension in its shape [-2, -28, 28]"),
    (npy_header("|u1", (10**12, 28, 28)), 413, "1,000,000,000,000 images"),
]


@pytest.mark.parametrize("form", ["npz", "npy"])
def test_malformed_npy_headers_are_a_problem_never_a_500(client, data_dir, bystander, form):
    for header, status, fragment in MALFORMED_HEADERS:
        content = npz_with(images=header) if form == "npz" else header
        started = time.perf_counter()
        response = upload(client, content, f"x.{form}")
        assert time.perf_counter() - started < 1
        assert_problem(response, status, fragment)
    assert_nothing_harmed(client, data_dir, bystander)


def test_too_many_zip_entries_are_refused(client, data_dir, bystander):
    assert_problem(upload(client, zip_of({f"{i}.txt": b"" for i in range(301)})), 413, "301 entries",
                   "max_zip_entries")
    assert_nothing_harmed(client, data_dir, bystander)


def test_an_image_bomb_is_refused_before_decoding(client, data_dir, bystander):
    assert_problem(upload(client, zip_of({"cats/huge.png": png_header_only(100_000, 100_000)})), 413,
                   "cats/huge.png", "decompression bomb")
    just_over = zip_of({"a.png": png((1001, 1000), "L", 0)})  # 1,001,000 pixels, the limit is 1,000,000
    assert_problem(upload(client, just_over), 413, "1001x1000", "max_image_pixels")
    assert_nothing_harmed(client, data_dir, bystander)


def test_an_upload_over_the_size_cap_is_a_413(client, data_dir, bystander):
    noise = np.random.default_rng(1).integers(0, 256, 2_100_000, dtype=np.uint8).tobytes()
    response = upload(client, zip_of({"noise.bin": noise}, zipfile.ZIP_STORED))
    assert_problem(response, 413, "over 2000000 bytes", "max_upload_bytes")
    assert_nothing_harmed(client, data_dir, bystander)


def test_an_empty_upload_is_refused(client, data_dir, bystander):
    assert_problem(upload(client, b"", "empty.zip"), 422, "the upload is empty")
    assert_problem(upload(client, zip_of({})), 422, "holds no images")
    assert_problem(client.post("/v1/datasets", data={"name": "x"}, files={"other": ("a", b"1")}), 422,
                   "no `file` field")
    assert_problem(client.post("/v1/datasets", json={"file": "x"}), 415, "multipart/form-data")
    assert_nothing_harmed(client, data_dir, bystander)


# -- deletion and training -------------------------------------------------------------------------


def test_a_deleted_data_set_is_gone(client, data_dir):
    body = created(upload(client, class_zip({"a": 2})))
    folder = data_dir / "datasets" / body["id"]
    assert folder.is_dir()
    response = client.delete(f"/v1/datasets/{body['id']}")
    assert response.status_code == 204 and response.content == b""
    assert not folder.exists()
    assert_problem(client.get(f"/v1/datasets/{body['id']}"), 404, body["id"])
    assert_problem(client.get(f"/v1/datasets/{body['id']}/preview.png"), 404)
    assert_problem(client.delete(f"/v1/datasets/{body['id']}"), 404)
    assert body["id"] not in [d["id"] for d in client.get("/v1/datasets").json()["datasets"]]
    assert_problem(client.post("/v1/jobs", json={**TINY_JOB, "dataset": body["id"]}), 422, "unknown data set")
    assert_problem(client.delete("/v1/datasets/..%2F..%2Fetc"), 404)


def test_an_uploaded_class_zip_trains_a_conditional_job_and_the_card_lists_its_classes(client, worker_process,
                                                                                      data_dir):
    dataset = created(upload(client, class_zip({"circles": 20, "squares": 20}, size=28), "shapes.zip"))
    model = {**TINY_JOB["model"], "arch": "cgan"}
    job = client.post("/v1/jobs", json={**TINY_JOB, "dataset": dataset["id"], "model": model,
                                        "train": {"epochs": 1, "max_steps": 30, "batch_size": 8}})
    assert job.status_code == 202, job.text
    assert job.json()["spec"]["dataset_checksum"] == dataset["checksum"]
    job_id = job.json()["id"]

    busy = assert_problem(client.delete(f"/v1/datasets/{dataset['id']}"), 409, "queued or running", job_id)
    assert busy["jobs"] == [job_id] and (data_dir / "datasets" / dataset["id"]).is_dir()

    done = wait_for_job(client, job_id)
    assert done["status"] == "succeeded", done
    card = client.get(f"/v1/models/{done['model_id']}").json()
    assert card["classes"] == ["circles", "squares"] and card["image_shape"] == [1, 28, 28]
    assert card["dataset"] == {"id": dataset["id"], "checksum": dataset["checksum"], "count": 40, "held_out": False}
    assert card["inputs"]["labels"] == ["circles", "squares"]
    squares = client.get(f"/v1/models/{card['id']}/images", params={"n": 4, "seed": 1, "label": "squares"})
    circles = client.get(f"/v1/models/{card['id']}/images", params={"n": 4, "seed": 1, "label": "circles"})
    assert squares.status_code == circles.status_code == 200 and squares.content != circles.content
    assert client.delete(f"/v1/datasets/{dataset['id']}").status_code == 204  # no active job any more


def test_a_job_pinned_to_another_checksum_is_refused(client):
    response = client.post("/v1/jobs", json={**TINY_JOB, "dataset_checksum": "sha256:" + "0" * 64})
    assert_problem(response, 422, "dataset_checksum", "digits")


def test_the_upload_form_is_documented(client):
    operation = client.get("/openapi.json").json()["paths"]["/v1/datasets"]["post"]
    form = operation["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
    assert {"file", "image_size", "channels", "resize", "background", "name"} <= set(form)
