"""Shared resources handed to routes; tests may override any of them."""

from __future__ import annotations

from typing import Annotated

from celery import Celery
from fastapi import Depends, Request

from service.generators import GeneratorCache
from worker.datasets import DatasetCatalog
from worker.registry import Registry
from worker.settings import Settings
from worker.store import ArtifactStore


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _registry(request: Request) -> Registry:
    return request.app.state.registry


def _store(request: Request) -> ArtifactStore:
    return request.app.state.store


def _cache(request: Request) -> GeneratorCache:
    return request.app.state.generators


def _catalog(request: Request) -> DatasetCatalog:
    return request.app.state.catalog


def _celery(request: Request) -> Celery:
    return request.app.state.celery


SettingsDep = Annotated[Settings, Depends(_settings)]
RegistryDep = Annotated[Registry, Depends(_registry)]
StoreDep = Annotated[ArtifactStore, Depends(_store)]
CacheDep = Annotated[GeneratorCache, Depends(_cache)]
CatalogDep = Annotated[DatasetCatalog, Depends(_catalog)]
CeleryDep = Annotated[Celery, Depends(_celery)]
