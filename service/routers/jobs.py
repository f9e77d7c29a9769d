from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response
from fastapi.responses import FileResponse

from models.data import BUILTIN_DATASETS, ImageDataset, load_builtin
from service.deps import CeleryDep, RegistryDep, SettingsDep, StoreDep
from service.problems import Problem
from service.schemas import JobList, JobOut
from worker.ids import is_valid
from worker.queue import enqueue_training
from worker.spec import JobSpec, compatibility_errors

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


@router.post("", status_code=202, response_model=JobOut)
def submit_job(
    spec: JobSpec,
    response: Response,
    registry: RegistryDep,
    settings: SettingsDep,
    celery: CeleryDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> dict:
    """Queue a training job."""
    if spec.dataset not in BUILTIN_DATASETS:
        raise Problem(422, f"dataset: unknown data set {spec.dataset!r}; available: {', '.join(BUILTIN_DATASETS)}")
    dataset = load_builtin(spec.dataset)
    kind = "images" if isinstance(dataset, ImageDataset) else "points"
    errors = compatibility_errors(spec, kind, dataset.shape, list(dataset.classes))
    if errors:
        raise Problem(422, f"{spec.dataset} does not fit this model: " + "; ".join(errors))
    if spec.train.epochs > settings.max_epochs:
        raise Problem(422, f"train.epochs: at most {settings.max_epochs} (the server's max_epochs); "
                           f"got {spec.train.epochs}")
    job, created = registry.create_job(spec.model_dump(), idempotency_key)
    if created:
        enqueue_training(celery, job["id"])
    else:
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/v1/jobs/{job['id']}"
    return job


@router.get("", response_model=JobList)
def list_jobs(
    registry: RegistryDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict:
    """List jobs, newest first."""
    return {"jobs": registry.list_jobs(limit, offset)}


@router.get("/{job_id}", response_model=JobOut)
def get_job(job_id: str, registry: RegistryDep) -> dict:
    """A job's status, progress, losses and outcome."""
    return _job_or_404(registry, job_id)


@router.get("/{job_id}/samples/{epoch}", response_class=FileResponse,
            responses={200: {"content": {"image/png": {}}}})
def get_samples(job_id: str, epoch: int, registry: RegistryDep, store: StoreDep) -> FileResponse:
    """The sample grid from the fixed latents at the end of an epoch."""
    _job_or_404(registry, job_id)
    path = store.sample_path(job_id, epoch)
    if not path.exists():
        raise Problem(404, f"job {job_id} has no samples for epoch {epoch} (yet)")
    return FileResponse(path, media_type="image/png")


def _job_or_404(registry, job_id: str) -> dict:
    job = registry.get_job(job_id) if is_valid(job_id) else None
    if job is None:
        raise Problem(404, f"no job with id {job_id!r}")
    return job
