from __future__ import annotations

import time
from typing import Annotated

import torch
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from core.card import ModelCard
from core.ids import is_valid
from core.registry import Registry
from core.spec import EvaluationRequest, EvaluationSpec
from core.store.keys import model_prefix
from service.api.deps import (
    CacheDep,
    CatalogDep,
    CeleryDep,
    CurrentKey,
    MetricsDep,
    RegistryDep,
    SettingsDep,
    StoreDep,
    rate_limit,
    require_scope,
)
from service.api.metrics import Metrics
from service.api.openapi import RATE_LIMITED, SUBMISSION
from service.api.problems import Problem
from service.api.schemas import (
    AugmentRequest,
    GenerateRequest,
    ImageFormat,
    InterpolateRequest,
    JobList,
    JobOut,
    ModelList,
    Offset,
    Seed,
    StyleMixRequest,
    TraverseRequest,
    Truncation,
)
from service.api.submission import create_job, enqueue
from service.serving import augment, styles, translation, variations
from service.serving.formats import FORMATS, check_format, default_format, either, names, respond, responses
from service.serving.generation import (
    GeneratorInputs,
    interpolation_inputs,
    resolve_inputs,
    style_conditioning,
    traversal_inputs,
)
from service.serving.generators import GeneratorCache, LoadedGenerator
from service.serving.model_selection import FILTER_PATTERN, MAX_SORTED, SORT_PATTERN, ModelSelection

# How long a loaded model is served without asking the registry whether it still exists: a delete
# through another API process reaches this one's cache within this long (through this one, at once).
CARD_RECHECK_S = 1.0

router = APIRouter(prefix="/v1/models", tags=["models"], dependencies=[Depends(require_scope("generate"))])
_LIMITED = [Depends(rate_limit("generate"))]
IMAGES = {**responses("samples", "The images"), **RATE_LIMITED}
FRAMES = {**responses("frames", "The frames"), **RATE_LIMITED}
DATASET = {**responses("dataset", "A labelled synthetic data set, streamed"), **RATE_LIMITED}


@router.get("")
def list_models(
    registry: RegistryDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
    sort: Annotated[str | None, Query(pattern=SORT_PATTERN, description="A score in the cards' `metrics.scores`, "
                                      "e.g. `confidence` (highest first) or `-kid` (lowest first); models "
                                      "without it come last")] = None,
    where: Annotated[list[str], Query(description="Filters such as `arch=cgan`, `dataset=mnist`, "
                                      "`confidence>=0.9`, `kid<0.05` (all must hold)",
                                      # documented, and checked by ModelSelection.parse with clearer messages
                                      json_schema_extra={"items": {"type": "string", "pattern": FILTER_PATTERN}})
           ] = [],  # noqa: B006
) -> ModelList:
    """Trained models, newest first, or sorted and filtered by their evaluation scores; each card's `inputs`
    says what generating from it takes."""
    if sort is None and not where:
        return ModelList(models=registry.list_models(limit, offset))
    selection = ModelSelection.parse(sort, where)
    return ModelList(models=selection.apply(registry.list_models(MAX_SORTED, 0))[offset : offset + limit])


@router.post("/{model_id}/evaluations", status_code=202, response_model=JobOut, responses=SUBMISSION,
             dependencies=[Depends(require_scope("train")), Depends(rate_limit("jobs"))])
def submit_evaluation(
    model_id: str, request: EvaluationRequest, response: Response, registry: RegistryDep, settings: SettingsDep,
    celery: CeleryDep, key: CurrentKey, idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> dict:
    """Score the model on a worker (FID/KID, precision/recall, the data set's classifier, CAS, 2-D modes)."""
    card = card_or_404(registry, model_id)
    if card.kind != "sampler":
        raise Problem(422, f"model {model_id} is a {card.kind}: its figures (error to the targets, round trips, "
                           "variations' class and distance) are computed when its job finishes, in the card's "
                           "metrics.scores")
    spec = EvaluationSpec(**request.model_dump(), model_id=model_id)
    if (reason := spec.refusal(card.data_kind, card.classes)) is not None:
        raise Problem(422, reason)
    job, created = create_job(registry, settings, key, spec.model_dump(), idempotency_key, response)
    if created:
        registry.add_model_job(model_id, "evaluations", job["id"])
        enqueue(registry, celery, job["id"])
    response.headers["Location"] = f"/v1/models/{model_id}/evaluations/{job['id']}"
    return job


@router.get("/{model_id}/evaluations", response_model=JobList)
def list_evaluations(
    model_id: str, registry: RegistryDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> dict:
    """The model's evaluation jobs, newest first, each with its figures once it has succeeded."""
    card_or_404(registry, model_id)
    return {"jobs": registry.list_model_jobs(model_id, "evaluations", limit, offset)}


@router.get("/{model_id}/evaluations/{evaluation_id}", response_model=JobOut)
def get_evaluation(model_id: str, evaluation_id: str, registry: RegistryDep) -> dict:
    """One evaluation: its status, and in `result` every figure with what defines it."""
    card_or_404(registry, model_id)
    job = registry.get_job(evaluation_id) if is_valid(evaluation_id) else None
    if job is None or not registry.is_model_job(model_id, "evaluations", evaluation_id):
        raise Problem(404, f"model {model_id} has no evaluation {evaluation_id!r}")
    return job


@router.get("/{model_id}")
def get_model(model_id: str, registry: RegistryDep) -> ModelCard:
    """A model's card: architecture, latent size, image shape, classes, data set, training, metrics."""
    return card_or_404(registry, model_id)


@router.delete("/{model_id}", status_code=204, dependencies=[Depends(require_scope("admin"))])
def delete_model(model_id: str, registry: RegistryDep, store: StoreDep, cache: CacheDep) -> Response:
    """Delete a model: its card, its generator in the store, and its place in the cache. Requests already
    running on it finish from memory."""
    card_or_404(registry, model_id)
    # The store first, its manifest first: a store that fails answers 503 and the model stays registered, so a
    # retry of the DELETE finishes the job (a failure after the manifest went leaves it unservable until then).
    store.unpublish(model_prefix(model_id))
    registry.delete_model(model_id)
    cache.forget(model_id)
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
    format: Annotated[ImageFormat | None, Query(description=f"{either(names('samples'))}; as for generate")] = None,
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


@router.post("/{model_id}/interpolate", response_class=Response, responses=FRAMES, dependencies=_LIMITED)
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


@router.post("/{model_id}/style-mix", response_class=Response, responses=FRAMES, dependencies=_LIMITED)
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
    images = await loaded.batched_styles(inputs.ws, inputs.conditioning, metrics.batch_images.observe)
    metrics.images.inc(inputs.count)
    if request.format == "grid":
        images = styles.figure(images)
    return await run_in_threadpool(respond, images, inputs, loaded.card, request.format, mix.columns + 1)


@router.post("/{model_id}/traverse", response_class=Response, responses=FRAMES, dependencies=_LIMITED)
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


@router.post("/{model_id}/augment", response_class=StreamingResponse, responses=DATASET, dependencies=_LIMITED)
async def augment_dataset(
    model_id: str, request: AugmentRequest, registry: RegistryDep, cache: CacheDep, settings: SettingsDep,
    metrics: MetricsDep,
) -> StreamingResponse:
    """A labelled synthetic data set: `counts` per class or a balanced `total`, streamed as a ZIP (a
    folder of PNGs per class, manifest.json last) or an NPZ, in constant memory. The manifest and the
    headers say how it was made, so the same request makes it again."""
    loaded = await _sampler(model_id, registry, cache)
    if loaded.card.data_kind != "images":
        raise Problem(422, f"augment makes images; model {model_id} makes 2-D points: use generate with format npz")
    plan = augment.plan_augment(loaded.card, request, settings.max_augment_images)
    headers = {"X-Model-Id": model_id, "X-Seed": str(plan.seed), "X-Image-Count": str(plan.total),
               "Content-Disposition": f'attachment; filename="{model_id}-augment.{request.format}"'}
    if plan.truncation is not None:
        headers["X-Truncation"] = str(plan.truncation)
    body = augment.stream(plan, loaded, request.format, metrics.images.inc)
    return StreamingResponse(body, media_type=FORMATS[request.format].media_type, headers=headers)


@router.post("/{model_id}/translate", response_class=Response, dependencies=_LIMITED,
             openapi_extra=translation.REQUEST_BODY,
             responses={200: {"content": {media: {} for media in set(translation.MEDIA_TYPES.values())},
                              "description": f"The outputs, per `format`: {translation.FORMAT_DOC}"}, **RATE_LIMITED})
async def translate_images(
    model_id: str, request: Request, registry: RegistryDep, cache: CacheDep, settings: SettingsDep,
    metrics: MetricsDep, catalog: CatalogDep,
) -> Response:
    """Translators (pix2pix, CycleGAN, SRGAN): images in, the model's outputs back, in the order given. Send
    one image, a ZIP or an NPZ as multipart `file` with the options as form fields, or base64 `image` /
    `images` in JSON. Inputs are center-cropped (or padded) to squares and resized to the model's input size
    (the card's `inputs.images`). Deterministic; concurrent requests in one direction run as one batch."""
    loaded = await _loaded(model_id, registry, cache)
    if loaded.card.kind != "translator":
        raise Problem(422, f"model {model_id} is a{_ROUTES[loaded.card.kind]}; translate takes a translator "
                           "(pix2pix, cyclegan, srgan)")
    options, source, _ = await translation.read_request(request, settings, catalog.incoming_dir())
    inputs = await run_in_threadpool(translation.decode, source, options, loaded.card,
                                     translation.translate_limits(settings))
    translation.check_format(options.format or "grid", inputs.shape[0])
    outputs = await loaded.batched_translation(inputs, options.direction, metrics.batch_images.observe)
    metrics.images.inc(inputs.shape[0])
    return await run_in_threadpool(translation.respond, inputs, outputs, options, loaded.card)


@router.post("/{model_id}/variations", response_class=Response, dependencies=_LIMITED,
             openapi_extra=variations.REQUEST_BODY,
             responses={200: {"content": {media: {} for media in set(variations.MEDIA_TYPES.values())},
                              "description": f"The variations, per `format`: {variations.FORMAT_DOC}"},
                        **RATE_LIMITED})
async def vary_images(
    model_id: str, request: Request, registry: RegistryDep, cache: CacheDep, settings: SettingsDep,
    metrics: MetricsDep, catalog: CatalogDep,
) -> Response:
    """Augmenters (DAGAN): `n` seeded variations of each image sent, in its class. Send one image, a ZIP (a
    folder per class makes a labelled set) or an NPZ (`images`, optional `labels`) as multipart `file` with the
    options as form fields, or base64 `image` / `images` (and `labels`) in JSON. Inputs are brought to the
    card's `inputs.images.variations` shape as /translate's are. As zip or npz the variations stream out as a
    labelled data set (augment's layouts), up to the server's max_augment_images."""
    loaded = await _loaded(model_id, registry, cache)
    if loaded.card.kind != "augmenter":
        raise Problem(422, f"model {model_id} is a{_ROUTES[loaded.card.kind]}; variations takes an augmenter "
                           "(dagan)")
    options, source, rest = await translation.read_request(request, settings, catalog.incoming_dir(),
                                                           variations.VariationOptions, variations.VariationRequest,
                                                           variations.EXAMPLE)
    shape = loaded.card.inputs.images["variations"]
    decoded = await run_in_threadpool(translation.decode_inputs, source, shape, options.resize,
                                      translation.translate_limits(settings))
    plan = variations.plan(loaded.card, decoded, options, rest.get("labels"), settings.max_images_per_request,
                           settings.max_augment_images)
    headers = {"X-Model-Id": model_id, "X-Seed": str(options.seed), "X-Image-Count": str(plan.total)}
    if plan.format in ("zip", "npz"):
        headers["Content-Disposition"] = f'attachment; filename="{model_id}-variations.{plan.format}"'
        body = variations.archive(plan, loaded.varied, metrics.images.inc)
        return StreamingResponse(body, media_type=variations.MEDIA_TYPES[plan.format], headers=headers)
    latents = await run_in_threadpool(lambda: torch.cat([inputs.latents for _, inputs in plan.chunks()]))
    out = await loaded.batched_variations(plan.inputs.repeat_interleave(plan.n, dim=0), latents,
                                          metrics.batch_images.observe)
    metrics.images.inc(plan.total)
    body, media_type = await run_in_threadpool(variations.respond, plan, out)
    return Response(body, media_type=media_type, headers=headers)


async def _generate(model_id: str, request: GenerateRequest, registry, cache: GeneratorCache, cap: int,
                    metrics: Metrics) -> Response:
    loaded = await _sampler(model_id, registry, cache)
    # Drawing latents is CPU work: never on the event loop, so /healthz and other requests keep answering.
    inputs = await run_in_threadpool(resolve_inputs, loaded.card, request, cap)
    return await _serve(loaded, inputs, request.format or default_format(inputs.count), request.nrow, metrics)


async def _serve(loaded: LoadedGenerator, inputs: GeneratorInputs, fmt: str, nrow: int | None,
                 metrics: Metrics) -> Response:
    check_format(loaded.card, fmt, inputs.count)
    if inputs.ws is not None:
        samples = await loaded.batched_styles(inputs.ws, inputs.conditioning, metrics.batch_images.observe)
    else:
        samples = await loaded.batched(inputs.latents, inputs.conditioning, metrics.batch_images.observe)
    metrics.images.inc(inputs.count)
    return await run_in_threadpool(respond, samples, inputs, loaded.card, fmt, nrow)


async def _loaded(model_id: str, registry: Registry, cache: GeneratorCache) -> LoadedGenerator:
    """The model's generator with its card; 404 when the registry no longer has it."""
    return cache.fresh(model_id, CARD_RECHECK_S) or await run_in_threadpool(_load_checked, model_id, registry, cache)


async def _sampler(model_id: str, registry: Registry, cache: GeneratorCache) -> LoadedGenerator:
    """A model that samples from noise; 422 for a translator, which takes images."""
    loaded = await _loaded(model_id, registry, cache)
    if loaded.card.kind != "sampler":
        raise Problem(422, f"model {model_id} is a{_ROUTES[loaded.card.kind]} ({loaded.card.arch}): it takes images, "
                           "not latents")
    return loaded


# What each kind of model is, and where its requests go (for the 422 of a route that does not fit it).
_ROUTES = {"sampler": " sampler: it makes images from noise; use /generate",
           "translator": " translator: POST images to /translate",
           "augmenter": "n augmenter (DAGAN): POST images to /variations"}


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
