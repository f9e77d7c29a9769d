"""Liveness, readiness and metrics: open to all, for load balancers and Prometheus."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from prometheus_client import CONTENT_TYPE_LATEST

from core.presence import alive_workers
from core.store import StoreError
from service.api.deps import MetricsDep, RegistryDep, SettingsDep, StoreDep
from service.api.problems import Problem

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(registry: RegistryDep, settings: SettingsDep, store: StoreDep,
           workers: Annotated[bool, Query(description="Also need a live worker; false: only what this API process "
                                                      "serves with (a load balancer's readiness)")] = True) -> dict:
    """Ready to train: Redis and the artifact store answer, and at least one worker is alive."""
    try:
        registry.redis.ping()
        alive = alive_workers(registry.redis)
    except Exception as exc:
        raise Problem(503, f"Redis is unreachable ({type(exc).__name__}); jobs cannot be queued",
                      {"Retry-After": "5"}) from None
    try:
        store.ping()
    except StoreError as exc:
        raise Problem(503, f"artifact store: {exc}", {"Retry-After": "5"}, redis="ok") from None
    if workers and not alive:
        raise Problem(503, f"no worker is alive (none sent a heartbeat in the last "
                           f"{settings.worker_heartbeat_ttl_s:g} s); start one with `ganforge worker`",
                      {"Retry-After": "5"}, redis="ok", workers=[])
    return {"status": "ready", "redis": "ok", "store": "ok", "workers": [w["name"] for w in alive]}


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
def metrics(collected: MetricsDep) -> Response:
    """Prometheus metrics."""
    return Response(collected.render(), media_type=CONTENT_TYPE_LATEST)
