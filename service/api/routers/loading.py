"""The model behind a serving route: its generator from the cache with its card, checked against the registry, and
refused with a 422 when the route does not serve its kind (the kind's row says where its requests go)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from core.card import ModelCard
from core.ids import is_valid
from core.kinds import kind_of
from core.registry import Registry
from service.api.deps import rate_limit, require_scope
from service.api.direct_route import DirectRoute
from service.api.problems import Problem
from service.serving.generators import GeneratorCache, LoadedGenerator

# How long a loaded model is served without asking the registry whether it still exists: a delete
# through another API process reaches this one's cache within this long and one Redis read (through this one, at
# once).
CARD_RECHECK_S = 1.0
# What every serving route depends on for the generate rate limit (a kind's router adds it route by route, as its
# card and listing routes need no limit).
GENERATE_LIMITED = [Depends(rate_limit("generate"))]


def model_router() -> APIRouter:
    """A router for routes on /v1/models/{id}, which need the generate scope: each kind's, a plugin's too."""
    return APIRouter(prefix="/v1/models", tags=["models"], dependencies=[Depends(require_scope("generate"))])


def serving_post(router: APIRouter, path: str, **options: Any) -> Callable[[Callable], Callable]:
    """`router.post` for a route that serves images by the thousand: a DirectRoute, which skips FastAPI's general
    request handler (service.api.direct_route)."""
    def register(endpoint: Callable) -> Callable:
        router.add_api_route(path, endpoint, methods=["POST"], route_class_override=DirectRoute, **options)
        return endpoint
    return register


async def loaded_model(model_id: str, registry: Registry, cache: GeneratorCache) -> LoadedGenerator:
    """The model's generator with its card; 404 when the registry no longer has it.

    One request at a time confirms a loaded model's card: those that arrive meanwhile are served the loaded one, as
    they were a moment before, rather than each making a check (a thread hop and a Redis read) of its own, which
    under load (32 clients) one request in twelve did."""
    loaded = cache.fresh(model_id, CARD_RECHECK_S)
    if loaded is not None:
        return loaded
    if model_id in cache.rechecking and (loaded := cache.fresh(model_id, math.inf)) is not None:
        return loaded
    cache.rechecking.add(model_id)
    try:
        return await run_in_threadpool(_load_checked, model_id, registry, cache)
    finally:
        cache.rechecking.discard(model_id)


async def loaded_of_kind(kind: str, model_id: str, registry: Registry, cache: GeneratorCache) -> LoadedGenerator:
    """A model of this kind; 422 naming the route of its own kind otherwise."""
    loaded = await loaded_model(model_id, registry, cache)
    if loaded.card.kind != kind:
        raise Problem(422, kind_of(loaded.card.kind).wrong_route(model_id, loaded.card.arch) +
                      f" (this route serves {kind}s)")
    return loaded


def _load_checked(model_id: str, registry: Registry, cache: GeneratorCache) -> LoadedGenerator:
    try:
        card = card_or_404(registry, model_id)
    except Problem:
        cache.forget(model_id)  # deleted through another API process
        raise
    try:
        loaded = cache.get(model_id)
    except FileNotFoundError:  # deleted between reading its card and loading its weights
        raise Problem(404, f"model {model_id} has no generator in the artifact store (deleted?)") from None
    loaded.card, loaded.checked_at = card, time.monotonic()
    return loaded


def card_or_404(registry, model_id: str) -> ModelCard:
    card = registry.get_model(model_id) if is_valid(model_id) else None
    if card is None:
        raise Problem(404, f"no model with id {model_id!r}")
    return card
