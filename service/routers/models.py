from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from starlette.concurrency import run_in_threadpool

from models.plots import picture
from models.sampling import png_bytes
from service.deps import CacheDep, MetricsDep, RegistryDep, SettingsDep, StoreDep, rate_limit, require_scope
from service.generation import GeneratorInputs, resolve_inputs
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
    label: Annotated[str | None, Query(description="Conditional models: a class name or index for all")] = None,
) -> Response:
    """A PNG grid of `n` images drawn from `seed`."""
    request = GenerateRequest(n=n, seed=seed, nrow=nrow, labels=label)
    return await _render(model_id, request, registry, cache, settings.max_images_per_request, metrics)


@router.post("/{model_id}/generate", response_class=Response, responses=PNG, dependencies=_LIMITED)
async def generate_images(
    model_id: str, request: GenerateRequest, registry: RegistryDep, cache: CacheDep, settings: SettingsDep,
    metrics: MetricsDep,
) -> Response:
    """Images for explicit latents, or for `n` + `seed` (plus labels or codes): one PNG, or a grid."""
    return await _render(model_id, request, registry, cache, settings.max_images_per_request, metrics)


async def _render(model_id: str, request: GenerateRequest, registry, cache: GeneratorCache, cap: int,
                  metrics: Metrics) -> Response:
    card = _card_or_404(registry, model_id)
    inputs = resolve_inputs(card, request, cap)
    headers = {"X-Model-Id": model_id, "X-Image-Count": str(inputs.latents.shape[0])}
    if inputs.seed is not None:
        headers["X-Seed"] = str(inputs.seed)
    try:
        loaded = await run_in_threadpool(cache.get, model_id)
    except FileNotFoundError:
        raise Problem(404, f"model {model_id} has no generator on disk (deleted?)") from None
    body = await run_in_threadpool(_encode, loaded, inputs, request.nrow)
    metrics.images.inc(inputs.latents.shape[0])
    return Response(body, media_type="image/png", headers=headers)


def _encode(loaded, inputs: GeneratorInputs, nrow: int | None) -> bytes:
    return png_bytes(picture(loaded.images(inputs.latents, **inputs.as_kwargs()), nrow))


def _card_or_404(registry, model_id: str) -> dict:
    card = registry.get_model(model_id) if is_valid(model_id) else None
    if card is None:
        raise Problem(404, f"no model with id {model_id!r}")
    return card
