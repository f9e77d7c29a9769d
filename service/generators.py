"""Loaded generators, kept in an LRU cache so a request rarely pays for a load."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import nn

from models.checkpoint import load_generator
from models.sampling import generate
from worker.store import ArtifactStore


@dataclass
class LoadedGenerator:
    model_id: str
    net: nn.Module
    card: dict
    lock: threading.Lock  # eval-mode inference is stateless, but one batch at a time keeps CPU threads sane

    def images(self, latents: torch.Tensor, **conditioning: torch.Tensor) -> torch.Tensor:
        """uint8 images, or float points for a 2-D model."""
        with self.lock:
            return generate(self.net, latents, **conditioning)


class GeneratorCache:
    def __init__(self, store: ArtifactStore, capacity: int, device: str | torch.device = "cpu"):
        self.store, self.capacity, self.device = store, capacity, device
        self._items: OrderedDict[str, LoadedGenerator] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, model_id: str) -> LoadedGenerator:
        """Raises FileNotFoundError when the model's files are gone."""
        with self._lock:
            if model_id in self._items:
                self._items.move_to_end(model_id)
                self.hits += 1
                return self._items[model_id]
        net, card = load_generator(self.store.model_dir(model_id), self.device)
        loaded = LoadedGenerator(model_id, net, card, threading.Lock())
        with self._lock:
            self.misses += 1
            self._items[model_id] = loaded
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return loaded

    def forget(self, model_id: str) -> None:
        with self._lock:
            self._items.pop(model_id, None)

    def __len__(self) -> int:
        return len(self._items)
