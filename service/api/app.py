"""The FastAPI application factory."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from core.celery_app import create_celery
from core.datasets import DatasetCatalog, UploadLimits, warm_builtins
from core.kinds import KINDS, load
from core.redis_connection import connect, connect_async
from core.registry import Registry
from core.settings import Settings, get_settings
from core.store import open_store
from models.device import resolve_device
from models.gan import load_family_modules
from service.api import dashboard, docs_pages, openapi, problems
from service.api.cross_site import CrossSiteGuard
from service.api.direct_route import HotRoutes
from service.api.host_guard import HostGuard
from service.api.json_default import JsonByDefault
from service.api.key_gate import KeyGate
from service.api.limits import BodySizeLimit, RateLimiter
from service.api.metrics import Metrics
from service.api.redis_outage import FailFastWhileRedisIsDown, RedisOutage
from service.api.request_context import RequestContext
from service.api.routers import (
    datasets,
    events,
    health,
    jobs,
    kinds,
    model_files,
    models,
    projections,
    sessions,
    workers,
)
from service.api.security_headers import SecurityHeaders
from service.api.stream_hub import BACKLOG_READERS, StreamHub
from service.serving.exports import ExportCache
from service.serving.generators import BatchPolicy, GeneratorCache


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    load_family_modules(settings.family_modules)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # Short timeouts and one retry (a pooled connection that a Redis restart closed); during an outage the
        # requests are answered by RedisOutage's watchdog, not by these timeouts.
        timeout = settings.redis_timeout_s
        redis = connect(settings.require_redis_url(), settings.redis_sentinel_password, socket_timeout=timeout,
                        socket_connect_timeout=timeout, health_check_interval=30,
                        retry=Retry(ExponentialBackoff(cap=0.2, base=0.1), 1))
        app.state.settings = settings
        app.state.registry = Registry(redis)
        # Event streams: one reader per followed key blocks in XREAD on its own connection (no thread held),
        # plus a few short backlog reads; the pool is sized for exactly that.
        async_redis = connect_async(settings.require_redis_url(), settings.redis_sentinel_password,
                                    socket_connect_timeout=timeout, socket_timeout=settings.sse_heartbeat_s + timeout,
                                    max_connections=settings.max_event_stream_keys + BACKLOG_READERS + 4)  # + pings
        app.state.stream_hub = StreamHub(async_redis, settings.max_event_streams, settings.max_event_stream_keys,
                                         settings.sse_heartbeat_s, timeout, BACKLOG_READERS)
        app.state.redis_outage = RedisOutage(async_redis)
        app.state.redis_outage.start()
        app.state.rate_limiter = RateLimiter(redis, processes=settings.api_workers)
        app.state.store = open_store(settings)
        app.state.catalog = DatasetCatalog(app.state.registry, app.state.store, UploadLimits.from_settings(settings))
        warm_builtins(app.state.store)
        policy = BatchPolicy(settings.batch_max_images, settings.batch_wait_ms / 1000)
        app.state.generators = GeneratorCache(app.state.store, settings.generator_cache_size,
                                              settings.generator_cache_bytes, resolve_device(settings.device), policy,
                                              settings.serve_precision)
        app.state.exports = ExportCache()
        app.state.celery = create_celery(settings)
        metrics.watch(app.state.registry, app.state.generators, app.state.stream_hub)
        yield
        redis.close()
        await app.state.redis_outage.close()
        await app.state.stream_hub.close()
        await async_redis.aclose()

    app = FastAPI(
        title="GANForge",
        version="0.1.0",
        summary="Train GANs and serve their generators over HTTP.",
        lifespan=lifespan,
        docs_url=None,  # served by service.api.docs_pages, from local assets
        redoc_url=None,
    )
    app.state.metrics = metrics
    # Added last = outermost: the request id and metrics see every request, including refused ones.
    app.add_middleware(JsonByDefault)
    app.add_middleware(BodySizeLimit, max_body_bytes=settings.max_body_bytes,
                       max_upload_bytes=settings.max_upload_bytes)
    app.add_middleware(KeyGate, keys=settings.api_keys)  # inside CORS, so that preflights and 401s get its headers
    # Outside the key gate (sessions live in Redis), inside CORS (a browser must be able to read the 503).
    app.add_middleware(FailFastWhileRedisIsDown, outage=lambda: getattr(app.state, "redis_outage", None))
    if settings.cors_origins:  # off unless configured
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
                           expose_headers=["Location", "Retry-After", "X-Request-ID", "X-Seed"])
    app.add_middleware(CrossSiteGuard, allowed_origins=settings.cors_origins)
    # Before anything reads the request: a Host the API does not answer to (DNS rebinding) gets 421.
    app.add_middleware(HostGuard, allowed_hosts=settings.allowed_hosts, keys_configured=bool(settings.api_keys))
    app.add_middleware(SecurityHeaders)  # outside the guards, so that their refusals carry the headers too
    app.add_middleware(RequestContext, metrics=metrics)
    problems.install(app)
    # Each kind of model brings its routes (plugins' kinds too: loaded above, before this reads the table). They come
    # first, before the API's own pages, the docs and the dashboard: a request is matched against the routes in this
    # order, every route before its own costing it a regex (and no path of one router can match a route of another,
    # so the order decides nothing else). Their hot routes (generate, translate, variations) are matched even before
    # FastAPI's router is reached.
    HotRoutes.include(app, [load(path) for path in dict.fromkeys(kind.router for kind in KINDS.values())])
    for router in (health.router, jobs.router, events.router, model_files.router, models.router, kinds.router,
                   projections.router, datasets.router, sessions.router, workers.router):
        app.include_router(router)
    openapi.install(app, settings)
    docs_pages.install(app)
    dashboard.install(app)
    return app
