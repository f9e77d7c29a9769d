"""A loaded model's card is confirmed with the registry once a second, by one request at a time; a model deleted
elsewhere stops being served at the next check (service/api/routers/loading.py)."""

import asyncio
import threading

import pytest

from core.artifacts import publish_generator
from core.kinds import card_for
from core.registry import Registry
from core.store import LocalStore
from models.gan import GANConfig, build_generator
from service.api.problems import Problem
from service.api.routers import loading
from service.serving.generators import GeneratorCache


class SlowRegistry(Registry):
    """The real registry, counting its card reads, the first of each check held until `release` is set."""

    def __init__(self, redis):
        super().__init__(redis)
        self.reads, self.release = 0, threading.Event()

    def get_model(self, model_id):
        self.reads += 1
        self.release.wait(10)
        return super().get_model(model_id)


@pytest.fixture
def published(tmp_path, registry):
    gan = GANConfig(arch="dcgan", latent_dim=8, data_shape=(1, 28, 28), g_width=4, d_width=4)
    card = card_for(gan, [])
    store = LocalStore(tmp_path)
    publish_generator(store, build_generator(gan), card.to_json())
    registry.register_model(card)
    yield card.id, store
    registry.delete_model(card.id)


def test_requests_during_a_check_are_served_without_checks_of_their_own(published, registry, monkeypatch):
    model_id, store = published
    slow, cache = SlowRegistry(registry.redis), GeneratorCache(store, 2, 2**30)
    monkeypatch.setattr(loading, "CARD_RECHECK_S", 0.0)  # every request finds the card due for a check

    async def scenario():
        slow.release.set()
        first = await loading.loaded_model(model_id, slow, cache)  # loads the model: one read
        slow.release.clear()
        checking = asyncio.create_task(loading.loaded_model(model_id, slow, cache))
        while slow.reads < 2:  # the check has reached Redis and is held there
            await asyncio.sleep(0.01)
        during = [await loading.loaded_model(model_id, slow, cache) for _ in range(20)]
        slow.release.set()
        return first, await checking, during

    first, checked, during = asyncio.run(scenario())
    assert slow.reads == 2  # the load's and the one check's: none for the 20 requests served meanwhile
    assert all(loaded is first for loaded in [checked, *during])
    assert not cache.rechecking


def test_a_model_deleted_elsewhere_is_refused_at_its_next_check(published, registry, monkeypatch):
    model_id, store = published
    cache = GeneratorCache(store, 2, 2**30)
    monkeypatch.setattr(loading, "CARD_RECHECK_S", 0.0)
    asyncio.run(loading.loaded_model(model_id, registry, cache))
    registry.delete_model(model_id)  # as another API process would
    with pytest.raises(Problem) as refused:
        asyncio.run(loading.loaded_model(model_id, registry, cache))
    assert refused.value.status == 404 and model_id not in cache and not cache.rechecking
