"""The inpainter's route (the API imports it by name): POST images, get them back with their holes filled."""

from __future__ import annotations

import torch
from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool

from models.plots import picture
from models.sampling import png_bytes, to_uint8
from service.api.deps import CacheDep, RegistryDep, SettingsDep
from service.api.routers.loading import GENERATE_LIMITED, loaded_of_kind, model_router
from service.serving import translation

KIND = "inpainter"


router = model_router()


@router.post("/{model_id}/inpaint", response_class=Response, dependencies=GENERATE_LIMITED)
async def inpaint(model_id: str, request: Request, registry: RegistryDep, cache: CacheDep,
                  settings: SettingsDep) -> Response:
    """Inpainters: each image sent (multipart `file`) with its middle filled in, as one PNG grid."""
    loaded = await loaded_of_kind(KIND, model_id, registry, cache)
    options, source, _ = await translation.read_request(request, settings)
    decoded = await run_in_threadpool(translation.decode_inputs, source, loaded.card.inputs.images["inpaint"],
                                      options.resize, translation.translate_limits(settings))

    def fill() -> bytes:
        with loaded.lock, torch.no_grad():
            images = torch.from_numpy(decoded.images).float().div(127.5).sub(1)
            return png_bytes(picture(to_uint8(loaded.net.eval()(images))))

    return Response(await run_in_threadpool(fill), media_type="image/png")
