"""The API's serving engine without HTTP: the generator cache's bounds and the request batcher."""

import asyncio
import threading

import pytest
import torch

from core.artifacts import publish_generator
from core.kinds import card_for
from core.store import ArtifactStore, LocalStore
from models.gan import GANConfig, build_generator
from models.sampling import latents_for_seed
from service.serving.batching import Batcher
from service.serving.generators import BatchPolicy, GeneratorCache, module_bytes


def small_generator(latent_dim: int = 8) -> tuple[torch.nn.Module, GANConfig]:
    config = GANConfig(arch="dcgan", latent_dim=latent_dim, data_shape=(1, 28, 28), g_width=4, d_width=4)
    torch.manual_seed(latent_dim)
    return build_generator(config).eval(), config


def model(i: int) -> str:
    return f"model_{i:016x}"


@pytest.fixture
def store(tmp_path) -> ArtifactStore:
    store = LocalStore(tmp_path)
    for i, latent_dim in enumerate((8, 8, 8, 16)):
        net, config = small_generator(latent_dim)
        publish_generator(store, net, card_for(config, [], model_id=model(i)).to_json())
    return store


def test_cache_evicts_the_least_recently_used_beyond_its_count(store):
    cache = GeneratorCache(store, capacity=2, max_bytes=2**30)
    first = cache.get(model(0))
    cache.get(model(1))
    assert cache.get(model(0)) is first  # a hit, and now the most recently used
    cache.get(model(2))
    assert model(0) in cache and model(2) in cache and model(1) not in cache
    assert (cache.hits, cache.misses, cache.evictions) == (1, 3, 1)
    cache.get(model(1))  # loaded again from disk
    assert cache.misses == 4 and len(cache) == 2


def test_cache_evicts_beyond_its_bytes_but_keeps_the_one_just_loaded(store):
    one = module_bytes(small_generator(8)[0])
    cache = GeneratorCache(store, capacity=10, max_bytes=2 * one + 1)
    for i in range(3):
        cache.get(model(i))
    assert len(cache) == 2 and cache.nbytes == 2 * one and model(0) not in cache
    big = cache.get(model(3))  # too large to sit beside any other within the bound: served alone
    assert big.nbytes + one > cache.max_bytes
    assert len(cache) == 1 and cache.nbytes == big.nbytes


def test_cache_refuses_a_missing_model_with_file_not_found(store):
    with pytest.raises(FileNotFoundError):
        GeneratorCache(store, capacity=2, max_bytes=2**30).get(model(9))


def test_batcher_merges_concurrent_requests_and_returns_each_its_own_rows(store):
    loaded = GeneratorCache(store, 1, 2**30, policy=BatchPolicy(max_images=16, max_wait_s=0.05)).get(model(0))
    sizes = [1, 3, 2, 5, 1, 4, 2]
    requests = [latents_for_seed(n, 8, seed) for seed, n in enumerate(sizes)]
    batches: list[int] = []

    async def all_at_once():
        batcher = Batcher(loaded.images, 8, 0.05, batches.append)
        return await asyncio.gather(*(batcher(latents, {}) for latents in requests))

    together = asyncio.run(all_at_once())
    for latents, images in zip(requests, together, strict=True):
        alone = loaded.images(latents)
        assert images.shape == alone.shape
        assert (images.int() - alone.int()).abs().max() <= 1
    # At most 8 images a batch, taken in arrival order: 1+3+2, 5+1, 4+2.
    assert batches == [6, 6, 6]


def test_a_request_larger_than_the_batch_runs_alone(store):
    loaded = GeneratorCache(store, 1, 2**30).get(model(0))
    batches: list[int] = []

    async def run():
        batcher = Batcher(loaded.images, 4, 0.01, batches.append)
        return await asyncio.gather(batcher(latents_for_seed(2, 8, 0), {}), batcher(latents_for_seed(9, 8, 1), {}),
                                    batcher(latents_for_seed(1, 8, 2), {}))

    outputs = asyncio.run(run())
    assert [o.shape[0] for o in outputs] == [2, 9, 1] and batches == [2, 9, 1]


def test_a_failing_batch_fails_its_callers_and_the_next_batch_still_runs():
    calls = []

    def forward(latents, conditioning):
        calls.append(latents.shape[0])
        if len(calls) == 1:
            raise RuntimeError("out of memory")
        return latents * 2

    async def run():
        batcher = Batcher(forward, 4, 0.0, lambda n: None)
        failed = await asyncio.gather(batcher(torch.ones(1, 2), {}), return_exceptions=True)
        return failed, await batcher(torch.ones(1, 2), {})

    failed, later = asyncio.run(run())
    assert isinstance(failed[0], RuntimeError) and torch.equal(later, torch.full((1, 2), 2.0))


def test_a_caller_that_went_away_is_skipped():
    seen = []

    async def run():
        batcher = Batcher(lambda latents, c: seen.append(latents.shape[0]) or latents, 8, 0.05, lambda n: None)
        gone = asyncio.ensure_future(batcher(torch.ones(3, 2), {}))
        await asyncio.sleep(0)
        gone.cancel()
        return await batcher(torch.ones(2, 2), {})

    assert asyncio.run(run()).shape == (2, 2) and seen == [2]


def test_requests_that_arrive_while_a_batch_runs_join_the_next_one():
    running, release, batches = threading.Event(), threading.Event(), []

    def forward(latents, conditioning):
        running.set()
        release.wait(10)
        return latents

    async def run():
        batcher = Batcher(forward, 8, 0.0, batches.append)
        first = asyncio.ensure_future(batcher(torch.ones(1, 2), {}))
        await asyncio.to_thread(running.wait, 10)
        later = [asyncio.ensure_future(batcher(torch.ones(1, 2), {})) for _ in range(5)]
        await asyncio.sleep(0)
        queued = batcher.queued
        release.set()
        await asyncio.gather(first, *later)
        return queued

    assert asyncio.run(run()) == 5 and batches == [1, 5]


def test_prepare_and_finish_run_per_request_and_a_bad_input_fails_only_its_request():
    forwards = []

    def forward(inputs, conditioning):
        forwards.append(inputs.shape[0])
        return inputs * 10

    def bad_input():
        raise ValueError("not an image")

    async def run():
        batcher = Batcher(forward, 8, 0.05, lambda n: None)
        return await asyncio.gather(
            batcher.submit(lambda: (torch.ones(2, 1), {}), lambda out: f"encoded {out.sum().item():g}"),
            batcher.submit(bad_input, str),
            batcher.submit(lambda: (torch.full((1, 1), 2.0), {}), lambda out: f"encoded {out.sum().item():g}"),
            return_exceptions=True)

    first, bad, third = asyncio.run(run())
    assert (first, third) == ("encoded 20", "encoded 20")
    assert isinstance(bad, ValueError) and forwards == [3]


def test_requests_that_differ_in_what_selects_the_forward_share_a_batch_but_not_a_forward():
    forwards = []

    def forward(inputs, conditioning):
        forwards.append((conditioning["direction"], inputs.shape[0]))
        return inputs + (1 if conditioning["direction"] == "a2b" else -1)

    async def run():
        batcher = Batcher(forward, 8, 0.05, lambda n: None)
        asked = [("a2b", 0.0), ("b2a", 10.0), ("a2b", 20.0), ("b2a", 30.0)]
        return await asyncio.gather(*(batcher.submit(lambda d=d, x=x: (torch.full((1, 1), x), {"direction": d}),
                                                     lambda out: out.item()) for d, x in asked))

    assert asyncio.run(run()) == [1.0, 9.0, 21.0, 29.0]
    assert forwards == [("a2b", 2), ("b2a", 2)]


def test_inputs_of_another_shape_run_as_a_forward_of_their_own():
    shapes = []

    def forward(inputs, conditioning):
        shapes.append(tuple(inputs.shape))
        return inputs

    async def run():
        batcher = Batcher(forward, 8, 0.05, lambda n: None)
        return await asyncio.gather(batcher(torch.ones(1, 2), {}), batcher(torch.ones(2, 3), {}),
                                    batcher(torch.ones(1, 2), {}))

    assert [tuple(out.shape) for out in asyncio.run(run())] == [(1, 2), (2, 3), (1, 2)]
    assert shapes == [(2, 2), (2, 3)]


def test_the_cache_reports_each_routes_waiting_requests(store):
    cache = GeneratorCache(store, 1, 2**30)
    loaded = cache.get(model(0))

    async def run():
        with loaded.lock:  # the forward waits for the generator: the first batch runs, the next ones wait
            first = asyncio.ensure_future(loaded.batched(latents_for_seed(1, 8, 0), {}, lambda route, n: None))
            while loaded.queued() != {"generate": 0}:  # taken by the collector
                await asyncio.sleep(0.01)
            waiting = [asyncio.ensure_future(loaded.batched(latents_for_seed(1, 8, s), {}, lambda route, n: None))
                       for s in range(3)]
            await asyncio.sleep(0.05)
            depths = cache.queued()
        await asyncio.gather(first, *waiting)
        return depths, cache.queued()

    assert asyncio.run(run()) == ({"generate": 3}, {"generate": 0})
