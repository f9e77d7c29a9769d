"""The route of translators (core.kinds "translator"): images in, the model's outputs back."""

from __future__ import annotations

from fastapi import Request, Response

from service.api.deps import ServingDep
from service.api.openapi import RATE_LIMITED
from service.api.routers.loading import GENERATE_LIMITED, loaded_of_kind, model_router, serving_post
from service.serving import translation

router = model_router()


@serving_post(router, "/{model_id}/translate", response_class=Response, dependencies=GENERATE_LIMITED,
             openapi_extra=translation.REQUEST_BODY,
             responses={200: {"content": {media: {} for media in set(translation.MEDIA_TYPES.values())},
                              "description": f"The outputs, per `format`: {translation.FORMAT_DOC}"}, **RATE_LIMITED})
async def translate_images(model_id: str, request: Request, serving: ServingDep) -> Response:
    """Translators (pix2pix, CycleGAN, SRGAN): images in, the model's outputs back, in the order given. Send
    one image, a ZIP or an NPZ as multipart `file` with the options as form fields, or base64 `image` /
    `images` in JSON. Inputs are center-cropped (or padded) to squares and resized to the model's input size
    (the card's `inputs.images`). Deterministic; concurrent requests in one direction run as one batch."""
    loaded = await loaded_of_kind("translator", model_id, serving.registry, serving.cache)
    body = await translation.receive(request, serving.settings)
    # Parsed, decoded, translated and encoded in its batch's thread: no thread hop of its own, and no form parsing on
    # the event loop (service.serving.batching).
    work = translation.Translation(body, loaded.card, serving.settings)
    response = await loaded.batched_translation(work.prepare, work.finish, serving.metrics.observe_batch)
    serving.metrics.images.inc(work.inputs.shape[0])
    return response


