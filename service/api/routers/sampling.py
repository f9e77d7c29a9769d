"""The routes of samplers (core.kinds "sampler"): images from noise, labels and codes, and what is built on them:
interpolations, traversals, style mixes and labelled synthetic data sets."""

from __future__ import annotations

from typing import Annotated

import torch
from fastapi import Query, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from core.registry import Registry
from service.api.deps import CacheDep, MetricsDep, RegistryDep, ServingDep, SettingsDep, StoreDep
from service.api.metrics import Metrics
from service.api.openapi import RATE_LIMITED
from service.api.problems import Problem
from service.api.routers.loading import GENERATE_LIMITED, loaded_of_kind, model_router, serving_post
from service.api.schemas import (
    AugmentRequest,
    GenerateRequest,
    ImageFormat,
    InterpolateRequest,
    Seed,
    StyleMixRequest,
    TraverseRequest,
    Truncation,
)
from service.serving import augment, mixes, styles
from service.serving.formats import FORMATS, check_format, default_format, either, names, respond, responses
from service.serving.generation import (
    Generation,
    GeneratorInputs,
    interpolation_inputs,
    resolve_inputs,
    style_conditioning,
    traversal_inputs,
)
from service.serving.generators import GeneratorCache, LoadedGenerator

router = model_router()
IMAGES = {**responses("samples", "The images"), **RATE_LIMITED}
FRAMES = {**responses("frames", "The frames"), **RATE_LIMITED}
DATASET = {**responses("dataset", "A labelled synthetic data set, streamed"), **RATE_LIMITED,
           409: {"description": "mix recommended: the model has no augmentation report yet, or its mix or data set "
                                "is no longer as it was measured"}}


@router.get("/{model_id}/images", response_class=Response, responses=IMAGES, dependencies=GENERATE_LIMITED)
async def get_images(
    model_id: str,
    serving: ServingDep,
    n: Annotated[int, Query(ge=1)] = 16,
    seed: Annotated[Seed | None, Query()] = None,
    nrow: Annotated[int | None, Query(ge=1)] = None,
    label: Annotated[str | None, Query(description="Conditional models: a class name or index for all")] = None,
    truncation: Annotated[Truncation | None, Query()] = None,
    format: Annotated[ImageFormat | None, Query(description=f"{either(names('samples'))}; as for generate")] = None,
) -> Response:
    """`n` images drawn from `seed`: the same as POST generate, for a plain HTTP GET."""
    request = GenerateRequest(n=n, seed=seed, nrow=nrow, labels=label, truncation=truncation, format=format)
    return await _generate(model_id, request, serving.registry, serving.cache, serving.settings.max_images_per_request,
                           serving.metrics)


@serving_post(router, "/{model_id}/generate", response_class=Response, responses=IMAGES, dependencies=GENERATE_LIMITED)
async def generate_images(model_id: str, request: GenerateRequest, serving: ServingDep) -> Response:
    """Images for explicit latents, or for `n` + `seed` (plus labels, codes, truncation), in any format.
    Concurrent requests for one model run as one batch."""
    return await _generate(model_id, request, serving.registry, serving.cache, serving.settings.max_images_per_request,
                           serving.metrics)


@router.post("/{model_id}/interpolate", response_class=Response, responses=FRAMES, dependencies=GENERATE_LIMITED)
async def interpolate_images(
    model_id: str, request: InterpolateRequest, registry: RegistryDep, cache: CacheDep, settings: SettingsDep,
    metrics: MetricsDep,
) -> Response:
    """`steps` images along the path from one latent (or seed) to another, both ends included: a one-row
    grid by default, or frames (zip, gif, npz, json)."""
    loaded = await _sampler(model_id, registry, cache)
    inputs = await run_in_threadpool(interpolation_inputs, loaded.card, request, settings.max_images_per_request,
                                     loaded.mapped)
    return await _serve(loaded, inputs, request.format, request.nrow or request.steps, metrics)


@router.post("/{model_id}/style-mix", response_class=Response, responses=FRAMES, dependencies=GENERATE_LIMITED)
async def mix_styles(
    model_id: str, request: StyleMixRequest, registry: RegistryDep, cache: CacheDep, settings: SettingsDep,
    metrics: MetricsDep,
) -> Response:
    """Style-based models: each row's source with the `from_columns` styles (default: the fine ones) of each
    column's source, as in the StyleGAN figure; sources are seeds, latents or ws."""
    loaded = await _sampler(model_id, registry, cache)
    mix = await run_in_threadpool(styles.style_mix, loaded.card, request, settings.max_images_per_request,
                                  loaded.mapped)
    conditioning = style_conditioning(loaded.card, request.psi, request.psi_cutoff, mix.ws.shape[0])
    inputs = GeneratorInputs(torch.empty(mix.ws.shape[0], 0), conditioning, truncation=request.truncation, ws=mix.ws)
    if request.format != "grid":
        inputs = styles.only(inputs, mix.cells())
    check_format(loaded.card, request.format, inputs.count)
    images = await loaded.batched_styles(inputs.ws, inputs.conditioning, metrics.observe_batch)
    metrics.images.inc(inputs.count)
    if request.format == "grid":
        images = styles.figure(images)
    return await run_in_threadpool(respond, images, inputs, loaded.card, request.format, mix.columns + 1)


@router.post("/{model_id}/traverse", response_class=Response, responses=FRAMES, dependencies=GENERATE_LIMITED)
async def traverse(
    model_id: str, request: TraverseRequest, registry: RegistryDep, cache: CacheDep, settings: SettingsDep,
    metrics: MetricsDep,
) -> Response:
    """One latent dimension (or InfoGAN code) swept from `low` to `high` while the rest stays fixed: a grid
    with a row per base latent and a column per step."""
    loaded = await _sampler(model_id, registry, cache)
    inputs = await run_in_threadpool(traversal_inputs, loaded.card, request, settings.max_images_per_request)
    columns = inputs.count // (1 if request.latent is not None else request.rows)
    return await _serve(loaded, inputs, request.format, request.nrow or columns, metrics)


@router.post("/{model_id}/augment", response_class=StreamingResponse, responses=DATASET, dependencies=GENERATE_LIMITED)
async def augment_dataset(
    model_id: str, request: AugmentRequest, registry: RegistryDep, cache: CacheDep, settings: SettingsDep,
    metrics: MetricsDep, store: StoreDep,
) -> StreamingResponse:
    """A labelled synthetic data set: `counts` per class or a balanced `total`, streamed as a ZIP (a
    folder of PNGs per class, manifest.json last) or an NPZ, in constant memory. The manifest and the
    headers say how it was made, so the same request makes it again."""
    loaded = await _sampler(model_id, registry, cache)
    if loaded.card.data_kind != "images":
        raise Problem(422, f"augment makes images; model {model_id} makes 2-D points: use generate with format npz")
    headers = {"X-Model-Id": model_id,
               "Content-Disposition": f'attachment; filename="{model_id}-augment.{request.format}"'}
    if request.mix == "recommended":
        mix = await run_in_threadpool(mixes.plan_mix, loaded.card, store, settings.max_augment_images)
        headers |= {"X-Image-Count": str(mix.total), **mix.headers()}
        body = mixes.stream(mix, request.format, metrics.images.inc)
        return StreamingResponse(body, media_type=FORMATS[request.format].media_type, headers=headers)
    plan = augment.plan_augment(loaded.card, request, settings.max_augment_images)
    headers |= {"X-Seed": str(plan.seed), "X-Image-Count": str(plan.total)}
    if plan.truncation is not None:
        headers["X-Truncation"] = str(plan.truncation)
    if plan.warning:
        headers["X-Augmentation-Warning"] = plan.warning
    body = augment.stream(plan, loaded, request.format, metrics.images.inc)
    return StreamingResponse(body, media_type=FORMATS[request.format].media_type, headers=headers)


async def _generate(model_id: str, request: GenerateRequest, registry, cache: GeneratorCache, cap: int,
                    metrics: Metrics) -> Response:
    loaded = await _sampler(model_id, registry, cache)
    if request.ws is None:  # latents drawn and images encoded in the batch's thread: no thread hop of its own
        work = Generation(loaded.card, request, cap)
        response = await loaded.batched_work(work.prepare, work.finish, work.size, metrics.observe_batch)
        metrics.images.inc(work.inputs.count)
        return response
    # Drawing latents is CPU work: never on the event loop, so /healthz and other requests keep answering.
    inputs = await run_in_threadpool(resolve_inputs, loaded.card, request, cap)
    return await _serve(loaded, inputs, request.format or default_format(inputs.count), request.nrow, metrics)


async def _serve(loaded: LoadedGenerator, inputs: GeneratorInputs, fmt: str, nrow: int | None,
                 metrics: Metrics) -> Response:
    check_format(loaded.card, fmt, inputs.count)
    encode = lambda samples: respond(samples, inputs, loaded.card, fmt, nrow)  # noqa: E731
    if inputs.ws is not None:
        samples = await loaded.batched_styles(inputs.ws, inputs.conditioning, metrics.observe_batch)
        response = await run_in_threadpool(encode, samples)
    else:  # encoded in the batch's thread: no thread hop of its own
        response = await loaded.batched(inputs.latents, inputs.conditioning, metrics.observe_batch, encode)
    metrics.images.inc(inputs.count)
    return response


async def _sampler(model_id: str, registry: Registry, cache: GeneratorCache) -> LoadedGenerator:
    return await loaded_of_kind("sampler", model_id, registry, cache)
