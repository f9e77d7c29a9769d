"""The artifact store's contract, held by both backends: the local directory and S3 (a real S3-protocol server)."""

from __future__ import annotations

import json
import os
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from core.artifacts import load_published_generator, publish_generator, replace_card
from core.ids import new_id
from core.kinds import card_for
from core.store import ArtifactNotFound, ArtifactStore, LocalStore, StoreError, StoreUnavailable
from core.store.keys import CARD_FILE, GENERATOR_FILE, MANIFEST, model_prefix
from core.store.s3 import S3Store
from models.checkpoint import save_generator
from models.gan import GANConfig, build_generator
from service.cli.embedded_redis import free_port
from service.serving.generators import GeneratorCache


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path) -> ArtifactStore:
    if request.param == "local":
        return LocalStore(tmp_path / "store")
    endpoint, bucket = request.getfixturevalue("s3_bucket")
    return S3Store(f"s3://{bucket}/test-{secrets.token_hex(4)}", endpoint, tmp_path / "scratch")


def tiny_generator(seed: int = 0) -> tuple[torch.nn.Module, dict]:
    config = GANConfig(arch="dcgan", latent_dim=8, data_shape=(1, 28, 28), g_width=4, d_width=4)
    torch.manual_seed(seed)
    return build_generator(config).eval(), card_for(config, [], model_id=new_id("model")).to_json()


def weights(net: torch.nn.Module) -> list[torch.Tensor]:
    return list(net.state_dict().values())


# -- objects ------------------------------------------------------------------------------------------

def test_what_is_put_is_got_back_and_a_missing_key_is_not_found(store):
    store.put_bytes("jobs/a/metrics.jsonl", b"one")
    store.put_bytes("jobs/a/metrics.jsonl", b"two")  # replaces it whole
    assert store.get_bytes("jobs/a/metrics.jsonl") == b"two" and store.exists("jobs/a/metrics.jsonl")
    with pytest.raises(ArtifactNotFound):
        store.get_bytes("jobs/a/nothing.png")
    assert not store.exists("jobs/a/nothing.png") and store.try_get_bytes("jobs/a/nothing.png") is None
    with pytest.raises(FileNotFoundError):  # what callers that predate the store catch
        store.open_stream("jobs/a/nothing.png")


def test_a_large_object_streams_in_chunks_with_its_size(store):
    data = os.urandom(3 * 2**20 + 17)
    store.put_bytes("jobs/a/big.bin", data)
    with store.open_stream("jobs/a/big.bin") as stream:
        assert stream.size == len(data)
        assert stream.read(10) == data[:10]
    chunks = list(store.open_stream("jobs/a/big.bin").chunks(2**20))
    assert [len(c) for c in chunks] == [2**20] * 3 + [17] and b"".join(chunks) == data


def test_a_local_file_goes_in_and_comes_back_as_a_local_file(store, tmp_path):
    source = tmp_path / "upload.bin"
    source.write_bytes(os.urandom(100_000))
    store.put_file("datasets/x/data.bin", source)
    source.unlink()  # the store holds its own copy
    with store.local_file("datasets/x/data.bin") as path:
        assert path.read_bytes() == store.get_bytes("datasets/x/data.bin") and len(path.read_bytes()) == 100_000
    with pytest.raises(ArtifactNotFound), store.local_file("datasets/x/none.bin"):
        pass


def test_listing_gives_every_key_under_a_prefix_and_nothing_beside_it(store):
    for key in ("jobs/a/metrics.jsonl", "jobs/a/samples/epoch-0001.png", "jobs/ab/metrics.jsonl", "models/m/x"):
        store.put_bytes(key, b"-")
    assert store.list_keys("jobs/a") == ["jobs/a/metrics.jsonl", "jobs/a/samples/epoch-0001.png"]
    assert store.list_keys("jobs/none") == []


def test_deleting_a_prefix_removes_everything_under_it_and_only_that(store):
    for key in ("jobs/a/one", "jobs/a/deep/two", "jobs/ab/three"):
        store.put_bytes(key, b"-")
    store.delete_prefix("jobs/a")
    store.delete_prefix("jobs/never")
    store.delete("jobs/ab/missing")  # nothing to delete: no error
    assert store.list_keys("jobs/a") == [] and store.list_keys("jobs/ab") == ["jobs/ab/three"]


def test_appended_lines_read_back_in_order_and_another_writer_continues_the_log(store, request):
    for epoch in range(3):
        store.append_line("jobs/a/metrics.jsonl", json.dumps({"epoch": epoch}))
    assert store.read_lines("jobs/b/metrics.jsonl") == []
    # A job resumed by another worker (another process, another store object) takes the log up where it stands.
    again = LocalStore(store.root) if isinstance(store, LocalStore) else \
        S3Store(f"s3://{store.bucket}/{store.prefix}", request.getfixturevalue("s3_bucket")[0], store.scratch)
    again.append_line("jobs/a/metrics.jsonl", json.dumps({"epoch": 3}))
    assert [json.loads(line)["epoch"] for line in store.read_lines("jobs/a/metrics.jsonl")] == [0, 1, 2, 3]


@pytest.mark.parametrize("key", ["../escape", "/absolute", "jobs/.hidden", "jobs//double", "jobs/a/", ""])
def test_a_key_that_could_leave_its_place_is_refused(store, key):
    with pytest.raises(ValueError, match="not a store key"):
        store.put_bytes(key, b"-")


# -- published sets: models and data sets ------------------------------------------------------------

def test_a_model_without_its_manifest_is_neither_listed_nor_served(store):
    net, card = tiny_generator()
    prefix = model_prefix(card["id"])
    # What a worker that died mid-publish leaves: every file but the manifest.
    store.put_bytes(f"{prefix}/{GENERATOR_FILE}", b"weights")
    store.put_bytes(f"{prefix}/{CARD_FILE}", json.dumps(card).encode())
    assert store.list_published("models") == [] and store.read_manifest(prefix) is None
    with pytest.raises(FileNotFoundError):
        GeneratorCache(store, capacity=2, max_bytes=2**30).get(card["id"])

    publish_generator(store, net, card)
    assert store.list_published("models") == [card["id"]]
    loaded = GeneratorCache(store, capacity=2, max_bytes=2**30).get(card["id"])
    assert all(torch.equal(a, b) for a, b in zip(weights(loaded.net), weights(net), strict=True))


def test_a_manifest_lists_every_file_with_its_size_and_sha256(store):
    manifest = store.publish("datasets/ds_0123456789abcdef", {"data.bin": b"abc", "preview.png": b"png"},
                             {"checksum": "sha256:00"})
    assert manifest["checksum"] == "sha256:00" and store.read_manifest("datasets/ds_0123456789abcdef") == manifest
    assert manifest["files"]["data.bin"] == {
        "size": 3, "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}
    assert sorted(store.list_keys("datasets/ds_0123456789abcdef")) == [
        f"datasets/ds_0123456789abcdef/{name}" for name in ("data.bin", MANIFEST, "preview.png")]


def test_deleting_a_model_takes_its_manifest_first_and_leaves_nothing(store):
    net, card = tiny_generator()
    publish_generator(store, net, card)
    store.unpublish(model_prefix(card["id"]))
    assert store.read_manifest(model_prefix(card["id"])) is None and store.list_keys(model_prefix(card["id"])) == []
    with pytest.raises(FileNotFoundError):
        load_published_generator(store, card["id"])
    store.unpublish(model_prefix(card["id"]))  # twice: nothing left to do


def test_a_file_changed_after_publishing_is_refused(store):
    net, card = tiny_generator()
    publish_generator(store, net, card)
    store.put_bytes(f"{model_prefix(card['id'])}/{GENERATOR_FILE}", b"tampered")
    with pytest.raises(StoreError, match="not the file its manifest describes"):
        load_published_generator(store, card["id"])


def test_an_evaluation_rewrites_the_card_and_its_manifest_entry(store):
    net, card = tiny_generator()
    publish_generator(store, net, card)
    scored = {**card, "metrics": {"scores": {"fid_classifier": 1.5}}}
    assert replace_card(store, card["id"], scored)
    assert json.loads(store.read_published(model_prefix(card["id"]), CARD_FILE)) == scored
    assert not replace_card(store, new_id("model"), scored)  # a deleted model is not brought back
    assert store.list_published("models") == [card["id"]]


# -- readers and writers at once ---------------------------------------------------------------------

def test_concurrent_readers_see_whole_objects_while_it_is_replaced(store):
    size, seen, stop = 2**20, set(), threading.Event()
    store.put_bytes("jobs/a/checkpoint.safetensors", b"a" * size)

    def write() -> None:
        for i in range(12):
            store.put_bytes("jobs/a/checkpoint.safetensors", (b"b" if i % 2 == 0 else b"a") * size)
        stop.set()

    def read() -> None:
        while not stop.is_set():
            data = store.get_bytes("jobs/a/checkpoint.safetensors")
            assert len(data) == size and data.count(data[:1]) == size  # one version, never a mix
            seen.add(data[:1])

    with ThreadPoolExecutor(5) as pool:
        readers = [pool.submit(read) for _ in range(4)]
        pool.submit(write).result()
        for reader in readers:
            reader.result()
    assert seen <= {b"a", b"b"}


def test_concurrent_requests_for_a_cold_model_load_it_once_and_alike(store):
    net, card = tiny_generator(seed=3)
    publish_generator(store, net, card)
    cache = GeneratorCache(store, capacity=2, max_bytes=2**30)
    with ThreadPoolExecutor(8) as pool:
        loaded = list(pool.map(lambda _: cache.get(card["id"]), range(8)))
    assert all(item is loaded[0] for item in loaded) and cache.misses == 1
    assert all(torch.equal(a, b) for a, b in zip(weights(loaded[0].net), weights(net), strict=True))


# -- each backend's own --------------------------------------------------------------------------------

def test_local_models_saved_before_manifests_are_served(tmp_path):
    net, card = tiny_generator()
    save_generator(net, card, tmp_path / "models" / card["id"])  # the layout of earlier versions
    store = LocalStore(tmp_path)
    assert store.list_published("models") == [card["id"]]
    assert all(torch.equal(a, b) for a, b in
               zip(weights(load_published_generator(store, card["id"])[0]), weights(net), strict=True))


def test_a_local_data_set_appears_whole_and_leaves_no_staging_folder(tmp_path):
    store = LocalStore(tmp_path)
    spooled = tmp_path / "spooled.bin"
    spooled.write_bytes(b"data")
    store.publish("datasets/ds_0123456789abcdef", {"data.bin": spooled, "preview.png": b"png"}, {"n": 1})
    folder = tmp_path / "datasets"
    assert sorted(p.name for p in folder.iterdir()) == ["ds_0123456789abcdef"]
    assert (folder / "ds_0123456789abcdef" / "data.bin").read_bytes() == b"data"


def test_an_unreachable_s3_store_says_where_it_is(tmp_path):
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    store = S3Store("s3://nowhere/p", endpoint, tmp_path)
    with pytest.raises(StoreUnavailable, match=f"s3://nowhere/p at {endpoint} is unreachable"):
        store.get_bytes("jobs/a/metrics.jsonl")
    with pytest.raises(StoreUnavailable):
        store.ping()


def test_a_missing_bucket_is_named(s3_bucket, tmp_path):
    store = S3Store("s3://no-such-bucket", s3_bucket[0], tmp_path)
    with pytest.raises(StoreUnavailable, match="the bucket 'no-such-bucket' does not exist"):
        store.get_bytes("jobs/a/metrics.jsonl")


def test_a_service_without_batch_deletes_has_a_prefix_deleted_object_by_object(s3_bucket, tmp_path):
    endpoint, bucket = s3_bucket
    store = S3Store(f"s3://{bucket}/one-by-one", endpoint, tmp_path)
    store._batch_deletes = False  # as after GCS's XML API refused DeleteObjects
    for key in ("jobs/a/one", "jobs/a/two", "jobs/b/three"):
        store.put_bytes(key, b"-")
    store.delete_prefix("jobs/a")
    assert store.list_keys("jobs") == ["jobs/b/three"]


def test_a_store_url_that_is_not_s3_is_refused(tmp_path):
    for url in ("http://bucket/x", "s3://", "s3://bucket/x?y=1", "s3://bucket/../x"):
        with pytest.raises(ValueError):
            S3Store(url, None, Path(tmp_path))
