"""The FastAPI application factory."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI
from redis import Redis

from service import problems
from service.generators import GeneratorCache
from service.json_default import JsonByDefault
from service.routers import datasets, health, jobs, models
from worker.celery_app import create_celery
from worker.datasets import DatasetCatalog, UploadLimits, warm_builtins
from worker.registry import Registry
from worker.settings import Settings, get_settings
from worker.store import ArtifactStore


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        redis = Redis.from_url(settings.require_redis_url(), socket_timeout=10, health_check_interval=30)
        app.state.settings = settings
        app.state.registry = Registry(redis)
        app.state.store = ArtifactStore(settings.data_dir)
        app.state.catalog = DatasetCatalog(app.state.registry, app.state.store, UploadLimits.from_settings(settings))
        warm_builtins()
        # The API serves on CPU unless told otherwise; GPU serving is opt-in via GANFORGE_DEVICE.
        device = "cpu" if settings.device == "auto" else settings.device
        app.state.generators = GeneratorCache(app.state.store, settings.generator_cache_size, device)
        app.state.celery = create_celery(settings)
        yield
        redis.close()

    app = FastAPI(
        title="GANForge",
        version="0.1.0",
        summary="Train GANs and serve their generators over HTTP.",
        lifespan=lifespan,
    )
    app.add_middleware(JsonByDefault)
    problems.install(app)
    for router in (health.router, jobs.router, models.router, datasets.router):
        app.include_router(router)
    return app
