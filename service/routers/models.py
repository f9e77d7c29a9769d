from __future__ import annotations

import secrets
from typing import Annotated

import torch
from fastapi import APIRouter, Depends, Query, Response
from starlette.concurrency import run_in_threadpool

from models.sampling import grid, latents_for_seed, png_bytes
from service.deps import CacheDep, MetricsDep, RegistryDep, SettingsDep, StoreDep, rate_limit, require_scope
from service.generators import GeneratorCache
from service.metrics import Metrics
from service.problems import Problem
from service.schemas import GenerateRequest
from worker.ids import is_valid

router = APIRouter(prefix="/v1/models", tags=["models"], dependencies=[Depends(require_scope("generate"))])
_LIMITED = [Depends(rate_limit("generate"))]
PNG = {200: {"content": {"image/png": {}}, "description": "One image, or a grid of several"}}


@router.get("")
def list_models(registry: RegistryDep) -> dict:
    """List trained models, newest first, with the inputs each takes."""
    return {"models": registry.list_models()}


@router.get("/{model_id}")
def get_model(model_id: str, registry: RegistryDep) -> dict:
    """A model's card: architecture, latent size, image shape, classes, data set, training, metrics."""
    return _card_or_404(registry, model_id)


@router.delete("/{model_id}", status_code=204, dependencies=[Depends(require_scope("admin"))])
def delete_model(model_id: str, registry: RegistryDep, store: StoreDep, cache: CacheDep) -> Response:
    """Delete a model: its card, its generator on disk, and its place in the cache."""
    _card_or_404(registry, model_id)
    registry.delete_model(model_id)
    cache.forget(model_id)
    store.remove_model(model_id)
    return Response(status_code=204)


@router.get("/{model_id}/images", response_class=Response, responses=PNG, dependencies=_LIMITED)
async def get_images(
    model_id: str,
    registry: RegistryDep,
    cache: CacheDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    n: Annotated[int, Query(ge=1)] = 16,
    seed: Annotated[int | None, Query(ge=0, lt=2**63)] = None,
    nrow: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """A PNG grid of `n` images drawn from `seed`."""
    request = GenerateRequest(n=n, seed=seed, nrow=nrow)
    return await _render(model_id, request, registry, cache, settings.max_images_per_request, metrics)


@router.post("/{model_id}/generate", response_class=Response, responses=PNG, dependencies=_LIMITED)
async def generate_images(
    model_id: str, request: GenerateRequest, registry: RegistryDep, cache: CacheDep, settings: SettingsDep,
    metrics: MetricsDep,
) -> Response:
    """Images for explicit latents, or for `n` + `seed`: one PNG, or a grid for several."""
    return await _render(model_id, request, registry, cache, settings.max_images_per_request, metrics)


async def _render(model_id: str, request: GenerateRequest, registry, cache: GeneratorCache, cap: int,
                  metrics: Metrics) -> Response:
    card = _card_or_404(registry, model_id)
    latent_dim = card["latent_dim"]
    headers = {"X-Model-Id": model_id}
    if request.latents is not None:
        if len(request.latents) > cap:
            raise Problem(422, f"latents: at most {cap} vectors per request; got {len(request.latents)}")
        for i, vector in enumerate(request.latents):
            if len(vector) != latent_dim:
                raise Problem(422, f"latents[{i}] must have length {latent_dim} (the model's latent_dim); "
                                   f"got {len(vector)}")
        latents = torch.tensor(request.latents, dtype=torch.float32)
    else:
        n = request.n or 1
        if n > cap:
            raise Problem(422, f"n: at most {cap} images per request (the server's max_images_per_request); got {n}")
        seed = request.seed if request.seed is not None else secrets.randbelow(2**63)
        latents = latents_for_seed(n, latent_dim, seed)
        headers["X-Seed"] = str(seed)
    try:
        loaded = await run_in_threadpool(cache.get, model_id)
    except FileNotFoundError:
        raise Problem(404, f"model {model_id} has no generator on disk (deleted?)") from None
    body = await run_in_threadpool(_encode, loaded.images, latents, request.nrow)
    headers["X-Image-Count"] = str(latents.shape[0])
    metrics.images.inc(latents.shape[0])
    return Response(body, media_type="image/png", headers=headers)


def _encode(render, latents: torch.Tensor, nrow: int | None) -> bytes:
    images = render(latents)
    return png_bytes(images[0] if images.shape[0] == 1 else grid(images, nrow))


def _card_or_404(registry, model_id: str) -> dict:
    card = registry.get_model(model_id) if is_valid(model_id) else None
    if card is None:
        raise Problem(404, f"no model with id {model_id!r}")
    return card
