"""Shared resources handed to routes; tests may override any of them.

The dependencies are `async def` so that FastAPI runs them on the event loop: a sync dependency costs
a thread-pool hop per request, which the serving benchmark showed adds up on generation routes.

Auth: put `Depends(require_scope("train"))` (any of core.settings.SCOPES) on a router (or a route) to
make it need a key of at least that scope; a route that wants to know who calls declares `key: CurrentKey`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Literal

from celery import Celery
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from core.datasets import DatasetCatalog
from core.registry import Registry
from core.settings import Scope, Settings
from core.store import ArtifactStore
from service.api.auth import LOCAL, Principal
from service.api.limits import RateLimiter
from service.api.metrics import Metrics
from service.api.problems import Problem
from service.serving.exports import ExportCache
from service.serving.generators import GeneratorCache


async def _settings(request: Request) -> Settings:
    return request.app.state.settings


async def _registry(request: Request) -> Registry:
    return request.app.state.registry


async def _store(request: Request) -> ArtifactStore:
    return request.app.state.store


async def _cache(request: Request) -> GeneratorCache:
    return request.app.state.generators


async def _exports(request: Request) -> ExportCache:
    return request.app.state.exports


async def _catalog(request: Request) -> DatasetCatalog:
    return request.app.state.catalog


async def _celery(request: Request) -> Celery:
    return request.app.state.celery


async def _metrics(request: Request) -> Metrics:
    return request.app.state.metrics


@dataclass(frozen=True)
class Serving:
    """What a serving route needs, as one dependency: FastAPI resolves it once instead of four."""

    registry: Registry
    cache: GeneratorCache
    settings: Settings
    metrics: Metrics


async def _serving(request: Request) -> Serving:
    state = request.app.state
    return Serving(state.registry, state.generators, state.settings, state.metrics)


SettingsDep = Annotated[Settings, Depends(_settings)]
RegistryDep = Annotated[Registry, Depends(_registry)]
StoreDep = Annotated[ArtifactStore, Depends(_store)]
CacheDep = Annotated[GeneratorCache, Depends(_cache)]
ExportsDep = Annotated[ExportCache, Depends(_exports)]
CatalogDep = Annotated[DatasetCatalog, Depends(_catalog)]
CeleryDep = Annotated[Celery, Depends(_celery)]
MetricsDep = Annotated[Metrics, Depends(_metrics)]
ServingDep = Annotated[Serving, Depends(_serving)]

_bearer = HTTPBearer(auto_error=False, description="An API key; `ganforge keys new` makes one")


@lru_cache  # one function per scope, so FastAPI runs it once per request however often it is declared
def require_scope(scope: Scope):
    async def check(
        request: Request,
        _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],  # documents the scheme
    ) -> Principal:
        principal: Principal = request.state.principal  # identified by service.api.key_gate.KeyGate, before the body
        if not principal.allows(scope):
            raise Problem(403, f"this needs a key with scope {scope!r}; key {principal.name!r} has scope "
                               f"{principal.scope!r}")
        return principal

    return check


async def _current_key(request: Request) -> Principal:
    return _principal(request)


def _principal(request: Request) -> Principal:
    return getattr(request.state, "principal", None) or LOCAL


CurrentKey = Annotated[Principal, Depends(_current_key)]


@lru_cache
def rate_limit(bucket: Literal["generate", "jobs"]):
    """A per-key limit on requests per minute, from settings `rate_limit_<bucket>_per_min`."""

    # Reads the settings and the key itself rather than declaring them: each dependency FastAPI resolves costs the
    # event loop several microseconds on every serving request.
    async def check(request: Request) -> None:
        limit = getattr(request.app.state.settings, f"rate_limit_{bucket}_per_min")
        if limit <= 0:
            return
        key = _principal(request)
        limiter: RateLimiter = request.app.state.rate_limiter
        allowed, retry_after = limiter.local(bucket, key.name) or await run_in_threadpool(  # Redis: off the loop
            limiter.hit, bucket, key.name, limit)
        if not allowed:
            raise Problem(429, f"rate limit: key {key.name!r} may make {limit} {bucket} requests per minute; "
                               f"retry in {retry_after} s", {"Retry-After": str(retry_after)})

    return check
