"""Projections: a real image into a style-based model's ws, as a job on a worker."""

from __future__ import annotations

from typing import Annotated

import torch
from fastapi import APIRouter, Depends, Header, Query, Response

from core.ids import is_valid
from core.pngs import encode_png
from core.spec import ProjectionRequest, ProjectionSpec
from service.api.deps import CeleryDep, CurrentKey, RegistryDep, SettingsDep, rate_limit, require_scope
from service.api.openapi import SUBMISSION
from service.api.problems import Problem
from service.api.routers.loading import card_or_404
from service.api.schemas import JobList, JobOut, Offset
from service.api.submission import create_job, enqueue
from service.serving.generation import styles_of
from service.serving.translation import decode_inputs, image_bytes, translate_limits

router = APIRouter(prefix="/v1/models", tags=["models"], dependencies=[Depends(require_scope("generate"))])


@router.post("/{model_id}/projections", status_code=202, response_model=JobOut, responses=SUBMISSION,
             dependencies=[Depends(require_scope("train")), Depends(rate_limit("jobs"))])
def submit_projection(
    model_id: str, request: ProjectionRequest, response: Response, registry: RegistryDep, settings: SettingsDep,
    celery: CeleryDep, key: CurrentKey, idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> dict:
    """Style-based models: find the ws whose image is closest to a real image (sent, or one of the model's
    training images), on a worker; the job's `result` holds the ws, the reconstruction and its distance."""
    card = card_or_404(registry, model_id)
    styles_of(card, "projections")
    target_png = None
    if request.image is not None:
        decoded = decode_inputs([image_bytes(request.image, 0)], card.image_shape, request.resize,
                                translate_limits(settings))
        if len(decoded.images) != 1:
            raise Problem(422, f"image: send one image; got {len(decoded.images)}")
        target_png = encode_png(torch.from_numpy(decoded.images[0]))
    elif card.dataset is None or card.dataset.count is None or request.dataset_index >= card.dataset.count:
        count = card.dataset.count if card.dataset is not None else None
        raise Problem(422, f"dataset_index: model {model_id}'s data set holds {count} images (0..{(count or 1) - 1})")
    spec = ProjectionSpec(model_id=model_id, target_png=target_png, dataset_index=request.dataset_index,
                          steps=request.steps, space=request.space, seed=request.seed)
    job, created = create_job(registry, settings, key, spec.model_dump(), idempotency_key, response)
    if created:
        registry.add_model_job(model_id, "projections", job["id"])
        enqueue(registry, celery, job["id"])
    response.headers["Location"] = f"/v1/models/{model_id}/projections/{job['id']}"
    return job


@router.get("/{model_id}/projections", response_model=JobList)
def list_projections(
    model_id: str, registry: RegistryDep, limit: Annotated[int, Query(ge=1, le=500)] = 50, offset: Offset = 0,
) -> dict:
    """The model's projection jobs, newest first."""
    card_or_404(registry, model_id)
    return {"jobs": registry.list_model_jobs(model_id, "projections", limit, offset)}


@router.get("/{model_id}/projections/{projection_id}", response_model=JobOut)
def get_projection(model_id: str, projection_id: str, registry: RegistryDep) -> dict:
    """One projection: its status, and in `result` the ws (pass them to generate, interpolate or style-mix as
    `ws`), the reconstruction and target as base64 PNGs, and the distances."""
    card_or_404(registry, model_id)
    job = registry.get_job(projection_id) if is_valid(projection_id) else None
    if job is None or not registry.is_model_job(model_id, "projections", projection_id):
        raise Problem(404, f"model {model_id} has no projection {projection_id!r}")
    return job
