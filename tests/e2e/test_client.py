"""The Python client (ganforge_client, client/), sync and async, over real HTTP against the real API and worker."""

import asyncio
import io
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

import httpx
import numpy as np
import pytest
from ganforge_client import AsyncClient, Augmented, Client, GANForgeError, Generated, JobFailed
from ganforge_client.client import _extract_zip
from PIL import Image

from service.cli.embedded_redis import start_redis
from service.cli.processes import env_for, start_api, stop
from tests.datasets_builders import class_zip, zip_of
from tests.datasets_builders import png as png_bytes
from tests.helpers import TINY_JOB, tiny_job, wait_until

pytestmark = pytest.mark.e2e

# Long enough that a cancel or a time limit lands while it runs; neither lets it run out.
LONG = tiny_job(epochs=50, max_steps=100_000)


def tile(grid: Image.Image, i: int, size: int = 28, padding: int = 2) -> np.ndarray:
    """Image i of a one-row grid as the server draws it: tiles `size` wide with `padding` between."""
    x = padding + i * (size + padding)
    return np.asarray(grid)[padding:padding + size, x:x + size]


@pytest.fixture(scope="module")
def gf(api_url):
    with Client(api_url, timeout=60) as client:
        yield client


def test_wait_calls_on_progress_with_increasing_steps_and_returns_the_job(gf, worker_process):
    job = gf.submit_job(**tiny_job(max_steps=40))
    assert job["status"] == "queued" and job["spec"]["train"]["max_steps"] == 40
    seen: list[dict] = []
    done = gf.wait(job["id"], on_progress=seen.append, poll_s=0.05, timeout_s=120)
    assert done["status"] == "succeeded" and done["model_id"]
    steps = [j["progress"]["step"] for j in seen]
    assert len(set(steps)) >= 2, steps
    assert steps == sorted(steps) and steps[-1] == 40


def test_an_idempotency_key_gives_back_the_same_job(gf):
    first = gf.submit_job(**TINY_JOB, idempotency_key="client-retry-1")
    again = gf.submit_job(**TINY_JOB, idempotency_key="client-retry-1")
    assert first["id"] == again["id"]
    assert gf.job(first["id"])["id"] == first["id"]


def test_cancel_then_wait_raises_job_failed_as_cancelled(gf, worker_process):
    job = gf.submit_job(**LONG)
    assert gf.cancel(job["id"])["status"] in ("cancelled", "cancelling")
    with pytest.raises(JobFailed) as failed:
        gf.wait(job["id"], poll_s=0.1, timeout_s=60)
    assert failed.value.status == "cancelled" and failed.value.job["id"] == job["id"]


def test_a_failed_job_raises_job_failed_with_the_servers_reason(gf, worker_process):
    job = gf.submit_job(**tiny_job(epochs=50, max_steps=100_000, time_limit_s=1))
    with pytest.raises(JobFailed, match="time limit of 1 s exceeded") as failed:
        gf.wait(job["id"], poll_s=0.1, timeout_s=60)
    assert failed.value.status == "failed" and "time limit" in failed.value.error


def test_wait_gives_up_after_timeout_s(gf, worker_process):
    job = gf.submit_job(**LONG)
    try:
        with pytest.raises(TimeoutError, match=job["id"]):
            gf.wait(job["id"], poll_s=0.05, timeout_s=0.3)
    finally:
        gf.cancel(job["id"])


def test_wait_rides_out_a_redis_restart(tmp_path, data_dir):
    redis_dir = tmp_path / "redis"
    redis, redis_url = start_redis(redis_dir)
    api, api_url = start_api(env_for(redis_url, data_dir), tmp_path / "api.log")  # no worker: the job stays queued
    try:
        with Client(api_url, timeout=30) as gf, ThreadPoolExecutor(1) as pool:
            job = gf.submit_job(**TINY_JOB)
            redis.terminate()
            redis.wait(10)

            def restart_then_cancel() -> None:
                nonlocal redis
                time.sleep(1)  # while `wait` gets 503s
                redis, _ = start_redis(redis_dir, urlparse(redis_url).port)  # same files, same port
                wait_until(lambda: _cancelled(gf, job["id"]), 30, "cancelling once Redis is back")

            helper = pool.submit(restart_then_cancel)
            with pytest.raises(JobFailed) as ended:
                gf.wait(job["id"], poll_s=0.2, timeout_s=60)
            helper.result()
            assert ended.value.status == "cancelled"
    finally:
        stop(api)
        redis.terminate()
        redis.wait(10)


def _cancelled(gf: Client, job_id: str) -> bool:
    try:
        return gf.cancel(job_id)["status"] == "cancelled"
    except GANForgeError as error:
        assert error.status == 503, error
        return False


def test_wait_gives_up_when_the_server_stays_unreachable(tmp_path):
    with Client("http://127.0.0.1:9", timeout=1) as gf, pytest.raises(httpx.ConnectError):
        gf.wait("job_0123456789abcdef", poll_s=0.01)


def test_models_and_model_return_the_cards(gf, trained_model):
    assert gf.model(trained_model["id"]) == trained_model
    assert trained_model["id"] in [card["id"] for card in gf.models()]


def test_http_errors_raise_ganforge_error_with_the_servers_detail(gf, trained_model):
    with pytest.raises(GANForgeError, match="job_0123456789abcdef") as missing:
        gf.job("job_0123456789abcdef")
    assert missing.value.status == 404 and missing.value.body["status"] == 404
    with pytest.raises(GANForgeError, match="unknown data set 'imagenet'") as unknown:
        gf.submit_job("imagenet")
    assert unknown.value.status == 422 and "digits" in unknown.value.detail
    with pytest.raises(GANForgeError, match="latents\\[0\\] must have length 16") as wrong:
        gf.generate(trained_model["id"], latents=[[1.0, 2.0, 3.0]])
    assert wrong.value.status == 422
    with pytest.raises(GANForgeError, match="'nope'") as no_model:
        gf.model("nope")
    assert no_model.value.status == 404


def test_an_id_cannot_reach_another_route(gf):
    with pytest.raises(GANForgeError) as error:
        gf.job("../models")
    assert error.value.status == 404


def test_generate_returns_the_requested_count_of_pil_images(gf, trained_model):
    images = gf.generate(trained_model["id"], n=5, seed=7)
    assert len(images) == 5
    assert all(image.size == (28, 28) and image.mode == "L" for image in images)


def test_generate_as_array_returns_nhwc_uint8_with_its_latents_and_seed(gf, trained_model):
    generated = gf.generate(trained_model["id"], n=5, seed=7, as_="array")
    assert isinstance(generated, Generated)
    assert generated.images.shape == (5, 28, 28, 1) and generated.images.dtype == np.uint8
    assert generated.latents.shape == (5, 16) and generated.seed == 7
    pil = gf.generate(trained_model["id"], n=5, seed=7)
    assert all(np.array_equal(generated.images[i, ..., 0], np.asarray(pil[i])) for i in range(5))


def test_generated_images_are_the_servers_own_pixels_for_the_same_seed(gf, client, trained_model):
    grid = Image.open(io.BytesIO(client.get(f"/v1/models/{trained_model['id']}/images",
                                            params={"n": 4, "seed": 11, "nrow": 4}).content))
    images = gf.generate(trained_model["id"], n=4, seed=11)
    for i, image in enumerate(images):
        assert np.array_equal(np.asarray(image), tile(grid, i)), f"image {i}"


def test_latents_from_an_array_give_back_the_same_images(gf, client, trained_model):
    first = gf.generate(trained_model["id"], n=3, seed=5, as_="array")
    again = gf.generate(trained_model["id"], latents=first.latents, as_="array")
    assert np.array_equal(again.images, first.images) and again.seed is None
    one = client.post(f"/v1/models/{trained_model['id']}/generate", json={"latents": first.latents[:1].tolist()})
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(one.content))), first.images[0, ..., 0])


def test_generate_passes_labels_to_a_conditional_model(gf, cgan):
    generated = gf.generate(cgan["id"], n=3, seed=1, labels="7", as_="array")
    assert generated.classes == cgan["inputs"]["labels"]
    assert generated.labels.tolist() == [generated.classes.index("7")] * 3


def test_generate_passes_truncation_and_infogan_codes(gf, trained_model, infogan):
    truncated = gf.generate(trained_model["id"], n=8, seed=3, truncation=0.5, as_="array")
    assert np.abs(truncated.latents).max() <= 0.5
    coded = gf.generate(infogan["id"], n=2, seed=1, codes={"categorical": 3, "continuous": [0.5, -0.5]},
                        as_="array")
    assert coded.categorical.tolist() == [3, 3] and coded.continuous.tolist() == [[0.5, -0.5]] * 2

def test_augment_writes_the_requested_counts_per_class_folder(gf, cgan, tmp_path):
    folder = tmp_path / "synthetic"
    result = gf.augment(cgan["id"], folder, counts={"3": 4, "7": 2}, seed=5)
    assert isinstance(result, Augmented) and result.path == folder
    assert result.image_count == 6 and result.seed == 5 and result.model_id == cgan["id"]
    assert sorted(p.name for p in (folder / "3").iterdir()) == [f"{i:06d}.png" for i in range(4)]
    assert len(list((folder / "7").iterdir())) == 2
    with Image.open(folder / "3" / "000000.png") as image:
        assert image.size == (28, 28)
    asked = {name: count for name, count in result.manifest["counts"].items() if count}
    assert asked == {"3": 4, "7": 2} and result.manifest["seed"] == 5
    assert sorted(p.name for p in folder.iterdir()) == ["3", "7", "manifest.json"]  # no spool file left


def test_augment_as_npz_writes_one_file_balanced_across_classes(gf, cgan, tmp_path):
    result = gf.augment(cgan["id"], tmp_path, total=20, seed=2, format="npz")
    assert result.path == tmp_path / "augment.npz" and result.manifest is None
    assert [p.name for p in tmp_path.iterdir()] == ["augment.npz"]
    with np.load(result.path, allow_pickle=False) as arrays:
        assert arrays["images"].shape == (20, 28, 28, 1) and arrays["latents"].shape == (20, cgan["latent_dim"])
        assert np.bincount(arrays["labels"], minlength=10).tolist() == [2] * 10


def test_a_refused_augment_raises_and_leaves_nothing_behind(gf, trained_model, tmp_path):
    with pytest.raises(GANForgeError) as error:
        gf.augment("model_0123456789abcdef", tmp_path, total=4)
    assert error.value.status == 404 and "model_0123456789abcdef" in error.value.detail
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["../escaped.png", "/tmp/absolute.png", "a/../../escaped.png", "c:\\x.png"])
def test_an_archive_entry_outside_the_folder_refuses_the_whole_archive(tmp_path, name):
    archive = tmp_path / "hostile.zip"
    archive.write_bytes(zip_of({"images/000000.png": png_bytes(), name: png_bytes()}))
    with pytest.raises(ValueError, match="refusing to unpack"):
        _extract_zip(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
    assert not (tmp_path / "escaped.png").exists()


def test_upload_dataset_sends_the_file_and_options(gf, tmp_path):
    path = tmp_path / "shapes.zip"
    path.write_bytes(class_zip({"circle": 3, "square": 2}))
    manifest = gf.upload_dataset(path, image_size=16, name="shapes")
    assert manifest["count"] == 5 and manifest["classes"] == ["circle", "square"]
    assert manifest["shape"] == [1, 16, 16] and manifest["source"] == "shapes.zip"


def test_the_async_client_submits_waits_and_generates_like_the_sync_one(api_url, gf, worker_process):
    async def scenario():
        steps: list[int] = []

        async def on_progress(job: dict) -> None:  # a coroutine function is awaited
            steps.append(job["progress"]["step"])

        async with AsyncClient(api_url, timeout=60) as agf:
            job = await agf.submit_job(**tiny_job(max_steps=30))
            done = await agf.wait(job["id"], on_progress=on_progress, poll_s=0.05, timeout_s=120)
            images = await agf.generate(done["model_id"], n=3, seed=9)
            generated = await agf.generate(done["model_id"], n=3, seed=9, as_="array")
            with pytest.raises(GANForgeError, match="'nope'"):
                await agf.model("nope")
            return steps, done, images, generated

    steps, done, images, generated = asyncio.run(scenario())
    assert done["status"] == "succeeded" and steps == sorted(steps) and steps[-1] == 30
    assert len(images) == 3 and generated.images.shape == (3, 28, 28, 1)
    same = gf.generate(done["model_id"], n=3, seed=9)
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(images, same, strict=True))


def test_the_async_client_streams_augment_to_disk(api_url, cgan, tmp_path):
    async def scenario() -> Augmented:
        async with AsyncClient(api_url, timeout=60) as agf:
            return await agf.augment(cgan["id"], tmp_path, counts={"1": 3}, seed=4)

    result = asyncio.run(scenario())
    assert result.image_count == 3 and len(list((tmp_path / "1").iterdir())) == 3



def test_the_async_client_uploads_a_dataset(api_url, tmp_path):
    path = tmp_path / "pair.zip"
    path.write_bytes(class_zip({"left": 2, "right": 2}))

    async def scenario() -> dict:
        async with AsyncClient(api_url, timeout=60) as agf:
            return await agf.upload_dataset(path, name="pair")

    manifest = asyncio.run(scenario())
    assert manifest["count"] == 4 and manifest["classes"] == ["left", "right"]
