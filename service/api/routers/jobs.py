from __future__ import annotations

import io
import json
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from core.ids import is_valid, utcnow
from core.kinds import family_kind
from core.queues import requeuer
from core.reaping import reap_job
from core.references import needs_reference
from core.registry import job_event
from core.spec import JobSpec, compatibility_errors, gan_config, train_config
from core.states import LEASED, TERMINAL, JobStatus
from core.store import ArtifactNotFound
from core.store.keys import metrics_key, sample_key
from models.curves import draw_curves
from models.data import BUILTIN_DATASETS
from models.footprint import training_footprint
from models.gan import GANConfig
from service.api import event_stream
from service.api.deps import (
    CatalogDep,
    CeleryDep,
    CurrentKey,
    RegistryDep,
    SettingsDep,
    StoreDep,
    rate_limit,
    require_scope,
)
from service.api.openapi import SUBMISSION
from service.api.problems import Problem
from service.api.schemas import AfterEvent, JobEvents, JobList, JobOut, Offset
from service.api.submission import create_job, enqueue, enqueue_reference_for

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], dependencies=[Depends(require_scope("train"))])


@router.post("", status_code=202, response_model=JobOut, dependencies=[Depends(rate_limit("jobs"))],
             responses={**SUBMISSION, 409: {"description": "Its uploaded data set was deleted meanwhile"}})
def submit_job(
    spec: JobSpec,
    response: Response,
    registry: RegistryDep,
    settings: SettingsDep,
    celery: CeleryDep,
    catalog: CatalogDep,
    store: StoreDep,
    key: CurrentKey,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> dict:
    """Queue a training job."""
    dataset = catalog.get(spec.dataset)
    if dataset is None:
        raise Problem(422, f"dataset: unknown data set {spec.dataset!r}; available: "
                           f"{', '.join(catalog.available_ids())} (all at GET /v1/datasets)")
    if spec.dataset_checksum is not None and spec.dataset_checksum != dataset["checksum"]:
        raise Problem(422, f"dataset_checksum: data set {spec.dataset} has checksum {dataset['checksum']}, not "
                           f"{spec.dataset_checksum}; leave dataset_checksum out to train on it as it is")
    errors = compatibility_errors(spec, dataset["kind"], dataset["shape"], dataset["classes"],
                                  dataset.get("source_shape", ()))
    if errors:
        raise Problem(422, f"{spec.dataset} does not fit this model: " + "; ".join(errors))
    gan = _gan_for(spec, dataset)
    _check_footprint(gan, spec, settings.max_job_memory_bytes)
    _check_devices(gan, spec, dataset)
    spec = spec.model_copy(update={"dataset_checksum": dataset["checksum"]})
    if spec.train.epochs is not None and spec.train.epochs > settings.max_epochs:
        raise Problem(422, f"train.epochs: at most {settings.max_epochs} (the server's max_epochs); "
                           f"got {spec.train.epochs}")
    if spec.train.time_limit_s and spec.train.time_limit_s > settings.job_time_limit_s:
        raise Problem(422, f"train.time_limit_s: at most {settings.job_time_limit_s} (the server's "
                           f"job_time_limit_s); got {spec.train.time_limit_s}")
    # Asked of the store before anything is recorded, so that a store that is down refuses the job cleanly (503).
    reference_needed = needs_reference(store, dataset, spec.model.image_size)
    job, created = create_job(registry, settings, key, spec.model_dump(), idempotency_key, response)
    if created and spec.dataset not in BUILTIN_DATASETS and not registry.link_job_to_dataset(spec.dataset, job["id"]):
        reason = f"data set {spec.dataset} was deleted while the job was being submitted"
        registry.set_status(job["id"], JobStatus.FAILED, error=reason, finished_at=utcnow())
        raise Problem(409, f"{reason}; upload it again or pick another")
    if created:
        if reference_needed:
            enqueue_reference_for(registry, celery, job["id"], spec.dataset, spec.model.image_size)
        enqueue(registry, celery, job["id"], spec.queue)
    response.headers["Location"] = f"/v1/jobs/{job['id']}"
    return job


def _gan_for(spec: JobSpec, dataset: dict) -> GANConfig:
    """The networks the job would train on this data set, at the size it asks for."""
    shape, source = list(dataset["shape"]), list(dataset.get("source_shape", ()))
    if spec.model.image_size is not None and dataset["kind"] != "points":
        if source:  # a translator's inputs keep their ratio to the outputs
            source[-2:] = [spec.model.image_size * source[-1] // shape[-1]] * 2
        shape[-2:] = [spec.model.image_size] * 2
    return gan_config(spec, tuple(shape), dataset["classes"], tuple(source))


def _check_devices(gan: GANConfig, spec: JobSpec, dataset: dict) -> None:
    """422 when the batch the job will train with (the recipe's when it sets none, at most the data set's size)
    does not split into equal shares over train.devices."""
    devices = spec.train.devices
    if devices == 1:
        return
    batch = train_config(spec).for_family(gan).batch_size
    batch = min(batch, dataset.get("count") or batch) // gan.pack * gan.pack
    if batch % (devices * gan.pack):
        raise Problem(422, f"train.devices: this job trains batches of {batch}, which do not split into equal "
                           f"shares over {devices} devices; set train.batch_size to a multiple of "
                           f"{devices * gan.pack}")


def _check_footprint(gan: GANConfig, spec: JobSpec, max_bytes: int) -> None:
    """422 with the estimate when the job would need more memory than the server allows one job."""
    footprint = training_footprint(gan, train_config(spec), family_kind(gan.arch).footprint)
    if footprint.total_bytes > max_bytes:
        raise Problem(422, f"this job is too large for the server: {footprint.describe()}, over the "
                           f"{max_bytes / 2**30:,.2f} GiB one job may use (the server's max_job_memory_bytes); "
                           "use smaller model.g_width / d_width / hidden, train.batch_size or model.image_size",
                      footprint_bytes=footprint.total_bytes, parameters=footprint.parameters)


@router.get("", response_model=JobList)
def list_jobs(
    registry: RegistryDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> dict:
    """List jobs, newest first."""
    return {"jobs": registry.list_jobs(limit, offset)}


@router.get("/{job_id}", response_model=JobOut)
def get_job(job_id: str, registry: RegistryDep, settings: SettingsDep, celery: CeleryDep) -> dict:
    """A job's status, progress, losses and outcome."""
    job = _job_or_404(registry, job_id)
    if job["status"] in LEASED and not registry.lease_alive(job_id):
        # Its worker vanished: show the truth now rather than at the next reaper sweep.
        reap_job(registry, job_id, requeuer(celery, registry), settings.max_attempts)
        job = _job_or_404(registry, job_id)
    return job


@router.post("/{job_id}/cancel", response_model=JobOut, status_code=202,
             responses={200: {"description": "The job was queued and is now cancelled"},
                        409: {"description": "The job had already finished"}})
def cancel_job(job_id: str, registry: RegistryDep, response: Response) -> dict:
    """Cancel a job: a queued one at once, a running one at its next step (its checkpoint is kept)."""
    _job_or_404(registry, job_id)
    outcome, before = registry.cancel_job(job_id)
    if outcome == "missing":
        raise Problem(404, f"no job with id {job_id!r}")
    if outcome == "conflict":
        raise Problem(409, f"job {job_id} already {before}; only queued or running jobs can be cancelled",
                      status_of_job=before)
    if outcome == JobStatus.CANCELLED:
        response.status_code = 200
    return _job_or_404(registry, job_id)


@router.get("/{job_id}/metrics")
def get_metrics(job_id: str, registry: RegistryDep, store: StoreDep) -> dict:
    """One row per finished epoch: losses, D(x), D(G(z)), gradient penalty, images/s."""
    _job_or_404(registry, job_id)
    return {"job_id": job_id, "epochs": _epoch_rows(store, job_id)}


@router.get("/{job_id}/curves.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}, "description": "The training curves"}})
def get_curves(job_id: str, registry: RegistryDep, store: StoreDep) -> Response:
    """The losses and D's outputs (D(x), D(G(z))) by step, as a PNG: from the progress events (the most
    recent 1,000 are kept) and the end of every epoch; empty axes before the first step."""
    _job_or_404(registry, job_id)
    by_step = {e["data"]["step"]: e["data"] for e in registry.events(job_id) if e["event"] == "progress"}
    by_step.update({row["step"]: row for row in _epoch_rows(store, job_id) if "step" in row})
    buffer = io.BytesIO()
    draw_curves([by_step[step] for step in sorted(by_step)]).save(buffer, format="PNG")
    return Response(buffer.getvalue(), media_type="image/png")


def _epoch_rows(store, job_id: str) -> list[dict]:
    return [json.loads(line) for line in store.read_lines(metrics_key(job_id))]


@router.get("/{job_id}/events", response_model=JobEvents, responses=event_stream.STREAM_RESPONSE)
async def get_events(
    job_id: str, request: Request, registry: RegistryDep,
    after: AfterEvent = "-",
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
):
    """The job's history, oldest first: status changes, progress, samples, checkpoints, evaluations,
    requeues, resumes. With `Accept: text/event-stream`, the same events live as Server-Sent Events (ids
    are the event ids: send `Last-Event-ID` to resume), ending after the job's final status."""
    job = await run_in_threadpool(_job_or_404, registry, job_id)
    if event_stream.wants_stream(request):
        return await event_stream.open_stream(request.app.state.stream_hub, registry.events_key(job_id),
                                        event_stream.start_after(request, after), job_event,
                                        is_last=_final_status, already_over=job["status"] in TERMINAL)
    return {"events": await run_in_threadpool(registry.events, job_id, after, limit)}


def _final_status(event: dict) -> bool:
    return event["event"] == "status" and event["data"].get("status") in TERMINAL


@router.get("/{job_id}/samples/{epoch}", response_class=StreamingResponse,
            responses={200: {"content": {"image/png": {}}}})
def get_samples(job_id: str, epoch: int, registry: RegistryDep, store: StoreDep) -> StreamingResponse:
    """The sample grid from the fixed latents at the end of an epoch."""
    _job_or_404(registry, job_id)
    try:
        stream = store.open_stream(sample_key(job_id, epoch))
    except ArtifactNotFound:
        raise Problem(404, f"job {job_id} has no samples for epoch {epoch} (yet)") from None
    return StreamingResponse(stream.chunks(), media_type="image/png", headers={"Content-Length": str(stream.size)})


def _job_or_404(registry, job_id: str) -> dict:
    job = registry.get_job(job_id) if is_valid(job_id) else None
    if job is None:
        raise Problem(404, f"no job with id {job_id!r}")
    return job
