from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from core.datasets import (
    BuiltinDataset,
    DatasetInUse,
    DatasetNotFound,
    InvalidUpload,
    UploadOptions,
    UploadTooLarge,
)
from service.api.deps import CatalogDep, SettingsDep, require_scope
from service.api.problems import Problem
from service.api.schemas import Offset
from service.api.uploads import FILE_FIELD, receive_upload

router = APIRouter(prefix="/v1/datasets", tags=["datasets"], dependencies=[Depends(require_scope("train"))])

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": {
            "type": "object",
            "required": [FILE_FIELD],
            "properties": {
                FILE_FIELD: {"type": "string", "format": "binary",
                             "description": "A ZIP of images (one folder per class, or flat), or an NPZ with a "
                                            "uint8 `images` array (N x H x W or N x H x W x C) and optional `labels`"},
                **UploadOptions.model_json_schema()["properties"],
            },
        }}},
    }
}


def describe(manifest: dict) -> dict:
    return {**manifest, "preview": f"/v1/datasets/{manifest['id']}/preview.png"}


@router.post("", status_code=201, openapi_extra=_UPLOAD_BODY)
async def upload_dataset(request: Request, response: Response, catalog: CatalogDep, settings: SettingsDep) -> dict:
    """Upload a data set: a ZIP of images or an NPZ, decoded once, checked, stored and registered."""
    upload = await receive_upload(request, catalog.incoming_dir(), settings.max_upload_bytes)
    try:
        options = _options(upload.fields)
        manifest = await run_in_threadpool(catalog.create, upload.path, upload.filename, options)
    except UploadTooLarge as exc:
        raise Problem(413, str(exc)) from None
    except InvalidUpload as exc:
        raise Problem(422, str(exc)) from None
    finally:
        upload.path.unlink(missing_ok=True)
    response.headers["Location"] = f"/v1/datasets/{manifest['id']}"
    return describe(manifest)


@router.get("")
def list_datasets(
    catalog: CatalogDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> dict:
    """List data sets: the built-ins, then uploads newest first."""
    page, total = catalog.list(limit, offset)
    return {"datasets": [describe(m) for m in page], "total": total}


@router.get("/{dataset_id}")
def get_dataset(dataset_id: str, catalog: CatalogDep) -> dict:
    """A data set's manifest: count, shape, classes and counts, skipped files, warnings, checksum."""
    manifest = catalog.get(dataset_id)
    if manifest is None:
        raise Problem(404, f"no data set with id {dataset_id!r}")
    return describe(manifest)


@router.get("/{dataset_id}/preview.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}, "description": "Up to 64 images, or a scatter plot"}})
def get_preview(dataset_id: str, catalog: CatalogDep) -> Response:
    """A grid of up to 64 of the data set's images, or a scatter plot of its 2-D points."""
    preview = catalog.preview(dataset_id)
    if preview is None:
        raise Problem(404, f"no data set with id {dataset_id!r}")
    if isinstance(preview, bytes):
        return Response(preview, media_type="image/png")
    return StreamingResponse(preview.chunks(), media_type="image/png", headers={"Content-Length": str(preview.size)})


@router.delete("/{dataset_id}", status_code=204, response_class=Response,
               dependencies=[Depends(require_scope("admin"))],
               responses={409: {"description": "A built-in data set, or one a queued or running job uses"}})
def delete_dataset(dataset_id: str, catalog: CatalogDep) -> Response:
    """Delete an uploaded data set and its files; refused while a queued or running job uses it."""
    try:
        catalog.delete(dataset_id)
    except DatasetNotFound as exc:
        raise Problem(404, str(exc)) from None
    except BuiltinDataset as exc:
        raise Problem(409, str(exc)) from None
    except DatasetInUse as exc:
        raise Problem(409, str(exc), jobs=exc.jobs) from None
    return Response(status_code=204)


def _options(fields: dict[str, str]) -> UploadOptions:
    try:
        return UploadOptions.model_validate({k: v for k, v in fields.items() if v != ""})
    except ValidationError as exc:
        detail = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'form'}: {e['msg']}" for e in exc.errors())
        raise Problem(422, f"{detail} (form fields: {', '.join(UploadOptions.model_fields)})") from None
