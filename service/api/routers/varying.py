"""The route of augmenters (core.kinds "augmenter", DAGAN): seeded variations of the images sent."""

from __future__ import annotations

import torch
from fastapi import Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from service.api.deps import CacheDep, MetricsDep, RegistryDep, SettingsDep
from service.api.openapi import RATE_LIMITED
from service.api.routers.loading import GENERATE_LIMITED, loaded_of_kind, model_router, serving_post
from service.serving import translation, variations

router = model_router()


@serving_post(router, "/{model_id}/variations", response_class=Response, dependencies=GENERATE_LIMITED,
             openapi_extra=variations.REQUEST_BODY,
             responses={200: {"content": {media: {} for media in set(variations.MEDIA_TYPES.values())},
                              "description": f"The variations, per `format`: {variations.FORMAT_DOC}"},
                        **RATE_LIMITED})
async def vary_images(
    model_id: str, request: Request, registry: RegistryDep, cache: CacheDep, settings: SettingsDep,
    metrics: MetricsDep,
) -> Response:
    """Augmenters (DAGAN): `n` seeded variations of each image sent, in its class. Send one image, a ZIP (a
    folder per class makes a labelled set) or an NPZ (`images`, optional `labels`) as multipart `file` with the
    options as form fields, or base64 `image` / `images` (and `labels`) in JSON. Inputs are brought to the
    card's `inputs.images.variations` shape as /translate's are. As zip or npz the variations stream out as a
    labelled data set (augment's layouts), up to the server's max_augment_images."""
    loaded = await loaded_of_kind("augmenter", model_id, registry, cache)
    options, source, rest = await translation.read_request(request, settings, variations.VariationOptions,
                                                           variations.VariationRequest, variations.EXAMPLE)
    shape = loaded.card.inputs.images["variations"]
    decoded = await run_in_threadpool(translation.decode_inputs, source, shape, options.resize,
                                      translation.translate_limits(settings))
    plan = variations.plan(loaded.card, decoded, options, rest.get("labels"), settings.max_images_per_request,
                           settings.max_augment_images)
    headers = {"X-Model-Id": model_id, "X-Seed": str(options.seed), "X-Image-Count": str(plan.total)}
    if plan.format in variations.STREAMED:
        headers["Content-Disposition"] = f'attachment; filename="{model_id}-variations.{plan.format}"'
        body = variations.archive(plan, loaded.varied, metrics.images.inc)
        return StreamingResponse(body, media_type=variations.MEDIA_TYPES[plan.format], headers=headers)
    latents = await run_in_threadpool(lambda: torch.cat([inputs.latents for _, inputs in plan.chunks()]))
    out = await loaded.batched_variations(plan.inputs.repeat_interleave(plan.n, dim=0), latents,
                                          metrics.observe_batch)
    metrics.images.inc(plan.total)
    body, media_type = await run_in_threadpool(variations.respond, plan, out)
    return Response(body, media_type=media_type, headers=headers)


