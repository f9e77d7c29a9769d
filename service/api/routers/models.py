from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Query, Response

from core.card import ModelCard
from core.ids import is_valid
from core.kinds import kind_of
from core.spec import EvaluationRequest, EvaluationSpec
from core.store.keys import model_prefix
from service.api.deps import (
    CacheDep,
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
from service.api.report_checks import check_report_request
from service.api.routers.loading import card_or_404, model_router
from service.api.schemas import (
    JobList,
    JobOut,
    ModelList,
    Offset,
)
from service.api.submission import create_job, enqueue
from service.serving.model_selection import FILTER_PATTERN, MAX_SORTED, SORT_PATTERN, ModelSelection

router = model_router()


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


@router.post("/{model_id}/evaluations", status_code=202, response_model=JobOut,
             responses={**SUBMISSION, 409: {"description": "augmentation_gain: the model's data set no longer "
                                                           "exists (name another with dataset)"}},
             dependencies=[Depends(require_scope("train")), Depends(rate_limit("jobs"))])
def submit_evaluation(
    model_id: str, request: EvaluationRequest, response: Response, registry: RegistryDep, settings: SettingsDep,
    celery: CeleryDep, catalog: CatalogDep, key: CurrentKey,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> dict:
    """Score the model on a worker (FID/KID, precision/recall, the data set's classifier, CAS, 2-D modes), or,
    with `augmentation_gain` alone, make its augmentation report on a labelled data set."""
    card = card_or_404(registry, model_id)
    if not kind_of(card.kind).evaluations:
        raise Problem(422, f"model {model_id} is {kind_of(card.kind).article} {card.kind}: its figures are computed "
                           "when its job finishes, in the card's metrics.scores")
    spec = EvaluationSpec(**request.model_dump(), model_id=model_id)
    if (reason := spec.refusal(card.data_kind, card.classes)) is not None:
        raise Problem(422, reason)
    if spec.metrics == ["augmentation_gain"]:
        check_report_request(card, spec, catalog.get(spec.dataset or card.dataset.id) if card.dataset else None,
                             settings.max_report_images)
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
