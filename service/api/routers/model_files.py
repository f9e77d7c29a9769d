"""Models as files: exported to run without GANForge, and generators trained elsewhere imported to be served."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from core.card import ModelCard
from service.api.deps import CacheDep, CatalogDep, ExportsDep, RegistryDep, SettingsDep, StoreDep, require_scope
from service.api.model_import import EXAMPLE, form_fields, import_model, parse_options
from service.api.openapi import RATE_LIMITED
from service.api.routers.loading import GENERATE_LIMITED, loaded_model, model_router
from service.api.uploads import FILE_FIELD, receive_upload
from service.serving.exports import ExportFormat

router = model_router()

_EXPORTED = {200: {"content": {"application/zip": {}},
                   "description": "A ZIP: the generator (generator.onnx, generator.pt or generator.safetensors; a "
                                  "CycleGAN has one per direction), card.json and README.txt"}, **RATE_LIMITED}
_IMPORT_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": [FILE_FIELD],
    "properties": {
        FILE_FIELD: {"type": "string", "format": "binary",
                     "description": "The generator's weights: safetensors, or a PyTorch state dict (read with "
                                    "weights_only: a pickle of anything else is refused)"},
        **form_fields(),
    }}}}}}


@router.get("/{model_id}/export", response_class=Response, responses=_EXPORTED, dependencies=GENERATE_LIMITED)
async def export_model(
    model_id: str, registry: RegistryDep, cache: CacheDep, exports: ExportsDep,
    format: Annotated[ExportFormat, Query(description="onnx (onnxruntime), torchscript (torch.jit.load) or "
                                          "safetensors (weights, card in the header)")] = "onnx",
) -> Response:
    """The model's generator as a ZIP that runs without GANForge, with its card and a README of its inputs."""
    loaded = await loaded_model(model_id, registry, cache)
    data = await run_in_threadpool(exports.get, loaded, format)
    return Response(data, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{model_id}-{format}.zip"'})


@router.post("/import", status_code=201, openapi_extra=_IMPORT_BODY, dependencies=[Depends(require_scope("train"))])
async def import_generator(request: Request, response: Response, registry: RegistryDep, store: StoreDep,
                           catalog: CatalogDep, settings: SettingsDep) -> ModelCard:
    """Register a generator trained elsewhere (safetensors or a weights-only state dict) with its model config;
    it is then served, scored and exported like a trained model."""
    upload = await receive_upload(request, catalog.incoming_dir(), settings.max_upload_bytes, EXAMPLE,
                                  "the generator's weights")
    try:
        options = parse_options(upload.fields)
        card = await run_in_threadpool(import_model, upload.path, upload.filename, options, registry, store, catalog)
    finally:
        upload.path.unlink(missing_ok=True)
    response.headers["Location"] = f"/v1/models/{card.id}"
    return card
