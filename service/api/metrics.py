"""Prometheus metrics: HTTP traffic and generation recorded as they happen; the generator cache, event streams and
batch queues read from the API process at scrape time; jobs, queues and workers read from Redis at scrape time, so
every API process reports the same, current numbers.

`ganforge api --workers N` runs N processes on one port and a scrape reaches one of them, which must answer for
all: prometheus_client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR, set before the processes start) keeps each
process's counters and histograms in files there, which the scraped process adds up. Each process copies its cache,
stream and queue state into such files every second (and the scraped one at the scrape): counters add up, gauges
add up over the live processes. What Redis says is read once, by the scraped process."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from core.presence import alive_workers
from core.queues import live_queue_depths, queue_depths
from core.registry import Registry
from service.api.stream_hub import StreamHub
from service.serving.generators import GeneratorCache

log = logging.getLogger("ganforge.api")

COPY_INTERVAL_S = 1.0  # how stale another process's cache, stream and queue figures may be at a scrape

# The API process's own state, read from its generator cache and stream hub: (kind, name, help, read).
_OWN_STATE = (
    ("counter", "ganforge_model_cache_hits", "Generator cache hits", lambda cache, streams: cache.hits),
    ("counter", "ganforge_model_cache_misses", "Generator cache misses (loads from disk)",
     lambda cache, streams: cache.misses),
    ("gauge", "ganforge_model_cache_size", "Generators loaded, all the API's processes together (each has its "
     "own cache)", lambda cache, streams: len(cache)),
    ("gauge", "ganforge_model_cache_bytes", "Bytes of generator weights loaded, all the API's processes together",
     lambda cache, streams: cache.nbytes),
    ("counter", "ganforge_model_cache_evictions", "Generators dropped to keep the cache's bounds",
     lambda cache, streams: cache.evictions),
    ("gauge", "ganforge_event_streams", "Event streams open", lambda cache, streams: streams.listeners),
    ("gauge", "ganforge_event_stream_readers", "Redis readers behind them (one per followed key, each holding a "
     "connection)", lambda cache, streams: streams.keys),
    ("gauge", "ganforge_api_processes", "API processes serving this port (`ganforge api --workers`)",
     lambda cache, streams: 1),
)
_QUEUE_DEPTH = ("ganforge_batch_queue_depth", "Requests waiting for the next batched forward, by serving route")


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry(auto_describe=True)
        self.shared_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        # Shared: the values live in the directory's files, and the registry reads them from there.
        own = None if self.shared_dir else self.registry
        self.requests = Counter("ganforge_http_requests", "HTTP requests by route template and status",
                                ["method", "route", "status"], registry=own)
        self.latency = Histogram("ganforge_http_request_duration_seconds", "HTTP request latency",
                                 ["method", "route"], registry=own,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.images = Counter("ganforge_generated_images", "Images generated (rate() gives images/s)",
                              registry=own)
        self.batch_images = Histogram("ganforge_generation_batch_images", "Images per batched generator forward",
                                      registry=own, buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
        self.route_batch_images = Histogram("ganforge_batch_images", "Images per batched forward, by serving route "
                                            "(generate, styles, translate, variations)", ["route"],
                                            registry=own, buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))

    def watch(self, registry: Registry, cache: GeneratorCache, streams: StreamHub) -> None:
        if self.shared_dir:
            state = _SharedState(cache, streams)
            state.keep_copying(COPY_INTERVAL_S)
            self.registry.register(_AllProcesses(self.shared_dir, state))
        else:
            self.registry.register(_OwnState(cache, streams))
        self.registry.register(_RedisState(registry))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def observe_batch(self, route: str, images: int) -> None:
        """One batched forward (called from the batch's thread: prometheus_client's metrics are thread-safe)."""
        self.batch_images.observe(images)
        self.route_batch_images.labels(route).observe(images)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _OwnState:
    """One API process: its state read at scrape time."""

    def __init__(self, cache: GeneratorCache, streams: StreamHub):
        self.cache, self.streams = cache, streams

    def describe(self):
        return []  # read at collect time only

    def collect(self):
        for kind, name, documentation, read in _OWN_STATE:
            family = (CounterMetricFamily if kind == "counter" else GaugeMetricFamily)(name, documentation)
            family.add_metric([], read(self.cache, self.streams))
            yield family
        queued = GaugeMetricFamily(*_QUEUE_DEPTH, labels=["route"])
        for route, depth in self.cache.queued().items():
            queued.add_metric([route], depth)
        yield queued


class _SharedState:
    """One of several API processes: its state copied into multiprocess metrics, where the scraped process finds
    it. A counter advances by what the cache counted since the last copy; a gauge is summed over live processes."""

    def __init__(self, cache: GeneratorCache, streams: StreamHub):
        self.cache, self.streams = cache, streams
        self.metrics = [(Counter(name, documentation, registry=None) if kind == "counter" else
                         Gauge(name, documentation, registry=None, multiprocess_mode="livesum"), read)
                        for kind, name, documentation, read in _OWN_STATE]
        self.queued = Gauge(*_QUEUE_DEPTH, ["route"], registry=None, multiprocess_mode="livesum")
        self.copied: dict[Counter, float] = {}
        self.routes: set[str] = set()  # a route's batcher goes with its evicted generator: its depth is then 0
        self.lock = threading.Lock()  # the copying thread and a scrape's

    def copy(self) -> None:
        with self.lock:
            for metric, read in self.metrics:
                value = read(self.cache, self.streams)
                if isinstance(metric, Counter):
                    metric.inc(value - self.copied.get(metric, 0))
                    self.copied[metric] = value
                else:
                    metric.set(value)
            depths = self.cache.queued()
            self.routes |= depths.keys()
            for route in self.routes:
                self.queued.labels(route).set(depths.get(route, 0))

    def keep_copying(self, interval_s: float) -> None:
        def copy_forever() -> None:
            while True:
                try:
                    self.copy()
                except Exception:  # a figure missed now is copied the next time
                    log.exception("metrics: copying this process's state failed")
                time.sleep(interval_s)

        threading.Thread(target=copy_forever, name="metrics-copy", daemon=True).start()


class _AllProcesses:
    """Every process's metrics from the shared directory: this process's state first brought up to date, and the
    live gauges of processes that have exited (a restart, a crash) dropped, so that only live ones add up."""

    def __init__(self, directory: str, own: _SharedState):
        self.directory, self.own = directory, own
        self.files = MultiProcessCollector(None, directory)

    def describe(self):
        return []  # read at collect time only

    def collect(self):
        self.own.copy()
        for pid in _exited(self.directory):
            mark_process_dead(pid, self.directory)
        yield from self.files.collect()


def _exited(directory: str) -> set[int]:
    """Processes that left live gauges in the directory and are gone. The directory is one `ganforge api`'s, on
    this machine, so its pids are this machine's."""
    pids = {int(path.stem.rsplit("_", 1)[1]) for path in Path(directory).glob("gauge_live*_*.db")}
    return {pid for pid in pids if not _alive(pid)}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # there, but another user's
        return True
    return True


class _RedisState:
    """What Redis says: the same from every API process, so read once, by the process scraped."""

    def __init__(self, registry: Registry):
        self.jobs = registry

    def describe(self):
        return []  # read at collect time only

    def collect(self):
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
