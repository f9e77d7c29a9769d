"""Prometheus metrics: HTTP traffic recorded as it happens; jobs, queue and workers read from Redis at
scrape time, so every API process reports the same, current numbers."""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from core.presence import alive_workers
from core.queues import live_queue_depths, queue_depths
from core.registry import Registry
from service.api.stream_hub import StreamHub
from service.serving.generators import GeneratorCache

log = logging.getLogger("ganforge.api")


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("ganforge_http_requests", "HTTP requests by route template and status",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("ganforge_http_request_duration_seconds", "HTTP request latency",
                                 ["method", "route"], registry=self.registry,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.images = Counter("ganforge_generated_images", "Images generated (rate() gives images/s)",
                              registry=self.registry)
        self.batch_images = Histogram("ganforge_generation_batch_images", "Images per batched generator forward",
                                      registry=self.registry, buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
        self.route_batch_images = Histogram("ganforge_batch_images", "Images per batched forward, by serving route "
                                            "(generate, styles, translate, variations)", ["route"],
                                            registry=self.registry, buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))

    def watch(self, registry: Registry, cache: GeneratorCache, streams: StreamHub) -> None:
        self.registry.register(_StateCollector(registry, cache, streams))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def observe_batch(self, route: str, images: int) -> None:
        """One batched forward (called from the batch's thread: prometheus_client's metrics are thread-safe)."""
        self.batch_images.observe(images)
        self.route_batch_images.labels(route).observe(images)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _StateCollector:
    def __init__(self, registry: Registry, cache: GeneratorCache, streams: StreamHub):
        self.jobs, self.cache, self.streams = registry, cache, streams

    def describe(self):
        return []  # read at collect time only

    def collect(self):
        hits = CounterMetricFamily("ganforge_model_cache_hits", "Generator cache hits in this API process")
        hits.add_metric([], self.cache.hits)
        misses = CounterMetricFamily("ganforge_model_cache_misses", "Generator cache misses (loads from disk)")
        misses.add_metric([], self.cache.misses)
        loaded = GaugeMetricFamily("ganforge_model_cache_size", "Generators loaded in this API process")
        loaded.add_metric([], len(self.cache))
        held = GaugeMetricFamily("ganforge_model_cache_bytes", "Bytes of generator weights loaded in this process")
        held.add_metric([], self.cache.nbytes)
        evictions = CounterMetricFamily("ganforge_model_cache_evictions", "Generators dropped to keep the cache's "
                                        "bounds")
        evictions.add_metric([], self.cache.evictions)
        streams = GaugeMetricFamily("ganforge_event_streams", "Event streams open in this API process")
        streams.add_metric([], self.streams.listeners)
        readers = GaugeMetricFamily("ganforge_event_stream_readers", "Redis readers behind them (one per followed "
                                    "key, each holding a connection)")
        readers.add_metric([], self.streams.keys)
        queued = GaugeMetricFamily("ganforge_batch_queue_depth", "Requests waiting for the next batched forward, by "
                                   "serving route", labels=["route"])
        for route, depth in self.cache.queued().items():
            queued.add_metric([route], depth)
        yield from (hits, misses, loaded, held, evictions, streams, readers, queued)
        up = GaugeMetricFamily("ganforge_redis_up", "1 when the API reaches Redis")
        try:
            counts = self.jobs.count_by_status()
            alive = alive_workers(self.jobs.redis)
            depths = live_queue_depths(self.jobs, alive)
            messages = queue_depths(self.jobs.redis, alive)
        except Exception as exc:  # Redis down: still report what this process knows
            log.warning("metrics: Redis unreachable: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        jobs = GaugeMetricFamily("ganforge_jobs", "Jobs by state", labels=["state"])
        for state, count in counts.items():
            jobs.add_metric([state], count)
        queue = GaugeMetricFamily("ganforge_queue_depth", "Jobs waiting, all queues together")
        queue.add_metric([], sum(depths.values()))
        by_queue = GaugeMetricFamily("ganforge_queued_jobs", "Jobs waiting in each queue (core.queues: celery, "
                                     "cpu, gpu, gpu-<N>gb, ...)", labels=["queue"])
        for name, depth in depths.items():
            by_queue.add_metric([name], depth)
        tasks = GaugeMetricFamily("ganforge_queued_tasks", "Broker messages in each queue: the jobs' tasks, "
                                  "reference-classifier tasks, and cancelled jobs' tasks until a worker drops them",
                                  labels=["queue"])
        for name, count in messages.items():
            tasks.add_metric([name], count)
        workers = GaugeMetricFamily("ganforge_workers_alive", "Workers with a live heartbeat")
        workers.add_metric([], len(alive))
        yield from (up, jobs, queue, by_queue, tasks, workers)
