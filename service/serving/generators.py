"""Loaded generators, kept in an LRU cache bounded by count and bytes, each with its request batcher."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import torch
from torch import nn

from core.artifacts import load_published_generator
from core.card import ModelCard
from core.store import ArtifactStore
from models.sampling import Conditioning, generate, generate_from_ws, mapped_ws, translate, vary
from service.serving.batching import Batcher, Finish, Prepare
from service.serving.precision import ServingPrecision, choose

log = logging.getLogger("ganforge.api")


@dataclass(frozen=True)
class BatchPolicy:
    max_images: int = 64
    max_wait_s: float = 0.0


@dataclass
class LoadedGenerator:
    model_id: str
    net: nn.Module
    card: ModelCard
    nbytes: int
    policy: BatchPolicy = field(default_factory=BatchPolicy)
    precision: ServingPrecision = field(default_factory=ServingPrecision)  # of `images`: the other paths run float32
    checked_at: float = 0.0  # when the registry last confirmed the model exists (time.monotonic)
    # One forward at a time per generator: batches already run one after another, and an augment
    # stream takes its turn between them instead of fighting them for the CPU threads.
    lock: threading.Lock = field(default_factory=threading.Lock)
    _batchers: dict[str, tuple[str, Batcher]] = field(default_factory=dict)  # key: (route, batcher)
    served: nn.Module = field(init=False)  # what `images` runs: `net`, or its cast (and prepacked) copy: precision

    def __post_init__(self) -> None:
        self.served = self.precision.served_net(self.net)
        if self.served is not self.net:
            self.nbytes += module_bytes(self.served)

    def images(self, latents: torch.Tensor, conditioning: Conditioning | None = None) -> torch.Tensor:
        """uint8 NCHW images, or float N x 2 points for a 2-D model, computed now in this thread."""
        with self.lock, self.precision.autocast(self.device):
            return generate(self.served, latents, batch_size=self.policy.max_images, **(conditioning or {}))

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    def styled(self, ws: torch.Tensor, conditioning: Conditioning | None = None) -> torch.Tensor:
        """A style-based generator's uint8 images for explicit ws (truncated by the conditioning's psi), now."""
        conditioning = conditioning or {}
        with self.lock:
            return generate_from_ws(self.net, ws, conditioning.get("psi"), conditioning.get("cutoff"),
                                    batch_size=self.policy.max_images)

    def mapped(self, latents: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """A style-based generator's untruncated ws for latents (and labels), computed now in this thread."""
        with self.lock:
            return mapped_ws(self.net, latents, labels, batch_size=self.policy.max_images)

    def translated(self, images: torch.Tensor, direction: str) -> torch.Tensor:
        """A translator's uint8 outputs for uint8 inputs, computed now in this thread."""
        with self.lock:
            return translate(self.net, images, direction, batch_size=self.policy.max_images)

    def varied(self, images: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        """A variation model's uint8 outputs: each uint8 input with its row of latents, computed now."""
        with self.lock:
            return vary(self.net, images, latents, batch_size=self.policy.max_images)

    async def batched(self, latents: torch.Tensor, conditioning: Conditioning, on_batch,
                      finish: Finish | None = None):
        """The same as `images`, awaited: computed together with concurrent requests for this model; `finish`
        (the encoding of the response) runs in the batch's thread."""
        return await self._batcher("", "generate", self.images, on_batch).submit(lambda: (latents, conditioning),
                                                                                 finish, latents.shape[0])

    async def batched_work(self, prepare: Prepare, finish: Finish, size: int, on_batch):
        """`finish(images)` for the inputs `prepare()` makes, batched as `batched` is; both run in the batch's
        thread."""
        return await self._batcher("", "generate", self.images, on_batch).submit(prepare, finish, size)

    async def batched_styles(self, ws: torch.Tensor, conditioning: Conditioning, on_batch) -> torch.Tensor:
        """The same as `styled`, awaited: batched with concurrent ws requests for this model."""
        return await self._batcher("ws", "styles", self.styled, on_batch)(ws, conditioning)

    async def batched_translation(self, prepare: Prepare, finish: Finish, on_batch):
        """`finish(outputs)` for the inputs `prepare()` decodes (with their direction, {"direction": "a2b"}),
        translated together with concurrent requests in the same direction; both run in the batch's thread."""
        forward = lambda inputs, conditioning: self.translated(inputs, conditioning["direction"])  # noqa: E731
        return await self._batcher("translate", "translate", forward, on_batch).submit(prepare, finish)

    async def batched_variations(self, images: torch.Tensor, latents: torch.Tensor, on_batch) -> torch.Tensor:
        """The same as `varied`, awaited: batched with concurrent variation requests."""
        forward = lambda inputs, extra: self.varied(inputs, extra["latents"])  # noqa: E731
        return await self._batcher("variations", "variations", forward, on_batch)(images, {"latents": latents})

    def queued(self) -> dict[str, int]:
        """Requests waiting for a batch, by route."""
        depths: dict[str, int] = {}
        for route, batcher in list(self._batchers.values()):
            depths[route] = depths.get(route, 0) + batcher.queued
        return depths

    def _batcher(self, key: str, route: str, forward, on_batch) -> Batcher:
        if key not in self._batchers:  # made on first use, inside the event loop it belongs to
            batcher = Batcher(forward, self.policy.max_images, self.policy.max_wait_s, lambda n: on_batch(route, n))
            self._batchers[key] = (route, batcher)
        return self._batchers[key][1]


def module_bytes(net: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in [*net.parameters(), *net.buffers()])


class GeneratorCache:
    """Least recently used generators stay loaded; the cache holds at most `capacity` of them and
    `max_bytes` of their weights (one larger than that is still served, alone)."""

    def __init__(self, store: ArtifactStore, capacity: int, max_bytes: int, device: str | torch.device = "cpu",
                 policy: BatchPolicy | None = None, precision: str = "float32"):
        self.store, self.capacity, self.max_bytes, self.device = store, capacity, max_bytes, device
        self.policy = policy or BatchPolicy()
        self.precision = precision  # "auto" or "float32": see service.serving.precision
        self._items: OrderedDict[str, LoadedGenerator] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}
        # Models whose card a request is confirming with the registry now (service.api.routers.loading): the event
        # loop's, read and written there only.
        self.rechecking: set[str] = set()
        self.hits = self.misses = self.evictions = 0

    def get(self, model_id: str) -> LoadedGenerator:
        """Raises FileNotFoundError (ArtifactNotFound) when the model is not in the store, StoreError when the
        store fails. A load reads the model's manifest and generator file, nothing else of the store."""
        if (loaded := self._hit(model_id)) is not None:
            return loaded
        with self._lock:
            loading = self._loading.setdefault(model_id, threading.Lock())
        with loading:  # a burst of requests for a cold model loads it once
            if (loaded := self._hit(model_id)) is not None:
                return loaded
            try:
                net, card = load_published_generator(self.store, model_id, self.device)
                card = ModelCard.model_validate(card)
                precision = choose(net, card, torch.device(self.device), self.precision)
                log.info("generator %s serves in %s: %s", model_id, precision.name, precision.reason)
                loaded = LoadedGenerator(model_id, net, card, module_bytes(net), self.policy, precision)
                with self._lock:
                    self.misses += 1
                    self._items[model_id] = loaded
                    self._evict()
            finally:
                with self._lock:
                    self._loading.pop(model_id, None)
        return loaded

    def fresh(self, model_id: str, max_age_s: float) -> LoadedGenerator | None:
        """The loaded generator, if the registry confirmed its model within `max_age_s`: a request for a
        busy model then needs neither Redis nor a thread."""
        return self._hit(model_id, max_age_s)

    def forget(self, model_id: str) -> None:
        with self._lock:
            self._items.pop(model_id, None)

    @property
    def nbytes(self) -> int:
        with self._lock:
            return sum(item.nbytes for item in self._items.values())

    def __contains__(self, model_id: str) -> bool:
        with self._lock:
            return model_id in self._items

    def __len__(self) -> int:
        return len(self._items)

    def queued(self) -> dict[str, int]:
        """Requests waiting for a batch, by route, all loaded generators together."""
        with self._lock:
            loaded = list(self._items.values())
        depths: dict[str, int] = {}
        for item in loaded:
            for route, depth in item.queued().items():
                depths[route] = depths.get(route, 0) + depth
        return depths

    def _hit(self, model_id: str, max_age_s: float | None = None) -> LoadedGenerator | None:
        with self._lock:
            loaded = self._items.get(model_id)
            if loaded is None or (max_age_s is not None and time.monotonic() - loaded.checked_at > max_age_s):
                return None
            self._items.move_to_end(model_id)
            self.hits += 1
            return loaded

    def _evict(self) -> None:
        """Drops the least recently used until both bounds hold, never the one just loaded."""
        while len(self._items) > 1 and (len(self._items) > self.capacity or
                                        sum(i.nbytes for i in self._items.values()) > self.max_bytes):
            model_id, evicted = self._items.popitem(last=False)
            self.evictions += 1
            log.info("generator cache: evicted %s (%d bytes)", model_id, evicted.nbytes)
