from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from service import augment
from service.deps import CacheDep, MetricsDep, RegistryDep, SettingsDep, StoreDep, rate_limit, require_scope
from service.formats import MEDIA_TYPES, check_format, default_format, respond
from service.generation import GeneratorInputs, interpolation_inputs, resolve_inputs, traversal_inputs
from service.generators import GeneratorCache, LoadedGenerator
from service.metrics import Metrics
from service.problems import Problem
from service.schemas import (
    AugmentRequest,
    GenerateRequest,
    ImageFormat,
    InterpolateRequest,
    Seed,
    TraverseRequest,
    Truncation,
)
from worker.ids import is_valid

router = APIRouter(prefix="/v1/models", tags=["models"], dependencies=[Depends(require_scope("generate"))])
_LIMITED = [Depends(rate_limit("generate"))]
IMAGES = {200: {"content": {media: {} for media in MEDIA_TYPES.values()},
                "description": "PNG (one image or a grid), GIF, ZIP of PNGs, NPZ arrays or JSON, per `format`"}}
ARCHIVE = {200: {"content": {"application/zip": {}, "application/x-npz": {}},
                 "description": "A labelled synthetic data set, streamed"}}


@router.get("")
def list_models(
    registry: RegistryDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict:
    """Trained models, newest first; each card's `inputs` says what generating from it takes."""
    return {"models": registry.list_models(limit, offset)}


@router.get("/{model_id}")
def get_model(model_id: str, registry: RegistryDep) -> dict:
    """A model's card: architecture, latent size, image shape, classes, data set, training, metrics."""
    return _card_or_404(registry, model_id)


@router.delete("/{model_id}", status_code=204, dependencies=[Depends(require_scope("admin"))])
def delete_model(model_id: str, registry: RegistryDep, store: StoreDep, cache: CacheDep) -> Response:
    """Delete a model: its card, its generator on disk, and its place in the cache. Requests already
    running on it finish from memory."""
    _card_or_404(registry, model_id)
    registry.delete_model(model_id)
    cache.forget(model_id)
    store.remove_model(model_id)
    return Response(status_code=204)


@router.get("/{model_id}/images", response_class=Response, responses=IMAGES, dependencies=_LIMITED)
async def get_images(
    model_id: str,
    registry: RegistryDep,
    cache: CacheDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    n: Annotated[int, Query(ge=1)] = 16,
    seed: Annotated[Seed | None, Query()] = None,
    nrow: Annotated[int | None, Query(ge=1)] = None,
    label: Annotated[str | None, Query(description="Conditional models: a class name or index for all")] = None,
    truncation: Annotated[Truncation | None, Query()] = None,
    format: Annotated[ImageFormat | None, Query(description="png, grid, zip, npz or json; as for generate")] = None,
) -> Response:
    """`n` images drawn from `seed`: the same as POST generate, for a plain HTTP GET."""
    request = GenerateRequest(n=n, seed=seed, nrow=nrow, labels=label, truncation=truncation, format=format)
    return await _generate(model_id, request, registry, cache, settings.max_images_per_request, metrics)


@router.post("/{model_id}/generate", response_class=Response, responses=IMAGES, dependencies=_LIMITED)
async def generate_images(
    model_id: str, request: GenerateRequest, registry: RegistryDep, cache: CacheDep, settings: SettingsDep,
    metrics: MetricsDep,
) -> Response:
    """Images for explicit latents, or for `n` + `seed` (plus labels, codes, truncation), in any format.
    Concurrent requests for one model run as one batch."""
    return await _generate(model_id, request, registry, cache, settings.max_images_per_request, metrics)


@router.post("/{model_id}/interpolate", response_class=Response, responses=IMAGES, dependencies=_LIMITED)
async def interpolate_images(
    model_id: str, request: InterpolateRequest, registry: RegistryDep, cache: CacheDep, settings: SettingsDep,
    metrics: MetricsDep,
) -> Response:
    """`steps` images along the path from one latent (or seed) to another, both ends included: a one-row
    grid by default, or frames (zip, gif, npz, json)."""
    card = _card_or_404(registry, model_id)
    inputs = interpolation_inputs(card, request, settings.max_images_per_request)
    return await _serve(card, inputs, request.format, request.nrow or request.steps, cache, metrics)


@router.post("/{model_id}/traverse", response_class=Response, responses=IMAGES, dependencies=_LIMITED)
async def traverse(
    model_id: str, request: TraverseRequest, registry: RegistryDep, cache: CacheDep, settings: SettingsDep,
    metrics: MetricsDep,
) -> Response:
    """One latent dimension (or InfoGAN code) swept from `low` to `high` while the rest stays fixed: a grid
    with a row per base latent and a column per step."""
    card = _card_or_404(registry, model_id)
    inputs = traversal_inputs(card, request, settings.max_images_per_request)
    columns = inputs.count // (1 if request.latent is not None else request.rows)
    return await _serve(card, inputs, request.format, request.nrow or columns, cache, metrics)


@router.post("/{model_id}/augment", response_class=StreamingResponse, responses=ARCHIVE, dependencies=_LIMITED)
async def augment_dataset(
    model_id: str, request: AugmentRequest, registry: RegistryDep, cache: CacheDep, settings: SettingsDep,
    metrics: MetricsDep,
) -> StreamingResponse:
    """A labelled synthetic data set: `counts` per class or a balanced `total`, streamed as a ZIP (a
    folder of PNGs per class, manifest.json last) or an NPZ, in constant memory. The manifest and the
    headers say how it was made, so the same request makes it again."""
    card = _card_or_404(registry, model_id)
    if card.get("kind") == "points":
        raise Problem(422, f"augment makes images; model {model_id} makes 2-D points: use generate with format npz")
    plan = augment.plan_augment(card, request, settings.max_augment_images)
    loaded = await _load(cache, model_id)
    headers = {"X-Model-Id": model_id, "X-Seed": str(plan.seed), "X-Image-Count": str(plan.total),
               "Content-Disposition": f'attachment; filename="{model_id}-augment.{request.format}"'}
    if plan.truncation is not None:
        headers["X-Truncation"] = str(plan.truncation)
    body = augment.stream(plan, loaded, request.format, metrics.images.inc)
    return StreamingResponse(body, media_type=MEDIA_TYPES[request.format], headers=headers)


async def _generate(model_id: str, request: GenerateRequest, registry, cache: GeneratorCache, cap: int,
                    metrics: Metrics) -> Response:
    card = _card_or_404(registry, model_id)
    inputs = resolve_inputs(card, request, cap)
    return await _serve(card, inputs, request.format or default_format(inputs.count), request.nrow, cache, metrics)


async def _serve(card: dict, inputs: GeneratorInputs, fmt: str, nrow: int | None, cache: GeneratorCache,
                 metrics: Metrics) -> Response:
    check_format(card, fmt, inputs.count)
    loaded = await _load(cache, card["id"])
    samples = await loaded.batched(inputs.latents, inputs.conditioning, metrics.batch_images.observe)
    metrics.images.inc(inputs.count)
    return await run_in_threadpool(respond, samples, inputs, card, fmt, nrow)


async def _load(cache: GeneratorCache, model_id: str) -> LoadedGenerator:
    try:
        return await run_in_threadpool(cache.get, model_id)
    except FileNotFoundError:  # deleted between reading its card and loading its weights
        raise Problem(404, f"model {model_id} has no generator on disk (deleted?)") from None


def _card_or_404(registry, model_id: str) -> dict:
    card = registry.get_model(model_id) if is_valid(model_id) else None
    if card is None:
        raise Problem(404, f"no model with id {model_id!r}")
    return card
