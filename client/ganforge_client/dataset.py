"""SyntheticDataset: a model's synthetic data set (POST /v1/models/{id}/augment) as a torch IterableDataset,
streamed in constant memory. The one module of the client that imports torch (the `torch` extra).

It asks for the ZIP rather than the NPZ: an NPZ's members come one after another, all the images before the
labels, so pairing each image with its label would mean holding every image until the labels arrive. In the
ZIP each image is a PNG in its class's folder, so it comes with its label, and is read as it arrives.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing
from typing import Any, Literal, TypeVar

import httpx
import numpy as np
from PIL import Image

from ganforge_client.client import (
    _CHUNK,
    DEFAULT_TIMEOUT,
    DEFAULT_URL,
    _augment_request,
    _given,
    _http_options,
    _int_header,
    _problem,
    _segment,
)
from ganforge_client.zipstream import entries

try:
    import torch
    from torch.utils.data import IterableDataset, get_worker_info
except ImportError as missing:
    raise ImportError("SyntheticDataset needs torch: pip install 'ganforge-client[torch]'") from missing

T = TypeVar("T")


class SyntheticDataset(IterableDataset):
    """(image, label) pairs of a model's synthetic data set, read from the server as it makes them: memory holds
    one image at a time (or `shuffle_buffer` of them), however many are asked for.

    - image: a float32 C×H×W tensor in [0, 1], as torchvision's ToTensor gives (`transform` is applied to it:
      `transform=lambda x: x * 2 - 1` for the [-1, 1] of a GAN's own data);
    - label: the class's index in the model card's `classes` (0 for every image of an unconditional model).

    `counts` per class (by name or index) or a `total` balanced across classes, `seed` and `truncation` are
    augment's. Each pass over the data set is one request: with a `seed`, every pass yields the same images;
    without, a new set each pass. The server sends the classes one after another, all of a class's images
    together; `shuffle_buffer=k` yields them in random order from a pool of k (k images in memory).
    `mix="recommended"` (no counts or total) yields the mix the model's latest augmentation report recommends
    instead: the data set's own images, in its order, then the ones the report's row adds. Use it
    from a DataLoader with num_workers 0 or 1: every worker would stream the whole set. `base_url`, `api_key`,
    `timeout` and `transport` are as for Client.
    """

    def __init__(self, model_id: str, *, counts: Mapping[str, int] | None = None, total: int | None = None,
                 seed: int | None = None, truncation: float | None = None, base_url: str = DEFAULT_URL,
                 api_key: str | None = None, timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
                 transform: Callable[[torch.Tensor], Any] | None = None, shuffle_buffer: int = 0,
                 transport: httpx.BaseTransport | None = None,
                 mix: Literal["synthetic", "recommended"] = "synthetic"):
        self.request = _augment_request(mix, counts, total, seed, truncation)  # refuses counts with "recommended"
        if mix == "synthetic" and (counts is None) == (total is None):
            raise ValueError("give exactly one of counts (images per class) or total")
        if shuffle_buffer < 0:
            raise ValueError(f"shuffle_buffer must be 0 (no shuffling) or more; got {shuffle_buffer}")
        self.model_id, self.counts, self.total, self.seed, self.truncation = model_id, counts, total, seed, truncation
        self.mix = mix
        self.base_url, self.api_key, self.timeout, self.transport = base_url, api_key, timeout, transport
        self.transform, self.shuffle_buffer = transform, shuffle_buffer

    def __len__(self) -> int:
        if self.mix == "recommended":  # the report decides: its mix, as the model's card describes it
            with self._http() as http:
                mix = _report(_card(http, _segment(self.model_id)))["mix"]
            return mix["real"] + mix["added"]
        return sum(self.counts.values()) if self.counts is not None else self.total

    def __iter__(self) -> Iterator[tuple[Any, int]]:
        worker = get_worker_info()
        if worker is not None and worker.num_workers > 1:
            raise RuntimeError(f"SyntheticDataset streams one response, so each of the DataLoader's "
                               f"{worker.num_workers} workers would yield the whole data set: use num_workers=0 or 1")
        pairs = self._stream()
        if not self.shuffle_buffer:
            return pairs
        return _shuffled(pairs, self.shuffle_buffer, random.Random(self.seed))

    def _http(self) -> httpx.Client:
        return httpx.Client(**_http_options(self.base_url, self.api_key, self.timeout), transport=self.transport)

    def _stream(self) -> Iterator[tuple[Any, int]]:
        model = _segment(self.model_id)
        request = {**_given(**self.request), "format": "zip"}
        with self._http() as http:
            card = _card(http, model)
            classes = card["classes"] if card["inputs"].get("labels") else []
            labels = _FolderLabels(classes) if self.mix == "recommended" else _Labels(classes)
            # Closed on leaving, also when the consumer stops early: the rest of the set is never downloaded.
            with http.stream("POST", f"/v1/models/{model}/augment", json=request) as response:
                if response.is_error:
                    response.read()
                    raise _problem(response)
                announced, count = _int_header(response, "x-image-count"), 0
                chunks = response.iter_bytes(_CHUNK)
                for name, data in entries(chunks):
                    if name.endswith(".png"):  # and manifest.json, last
                        image = _image(data)
                        yield (self.transform(image) if self.transform else image), labels.of(name)
                        count += 1
                for _ in chunks:  # the central directory, unused: read to the end, the server's stream ends cleanly
                    pass
        if announced is not None and count != announced:
            raise ValueError(f"the server announced {announced} images and sent {count}")


def _checked(response: httpx.Response) -> httpx.Response:
    if response.is_error:
        raise _problem(response)
    return response


def _card(http: httpx.Client, model: str) -> dict:
    return _checked(http.get(f"/v1/models/{model}")).json()


def _report(card: dict) -> dict:
    report = (card.get("metrics") or {}).get("augmentation")
    if not report:
        raise ValueError(f"mix 'recommended': model {card['id']} has no augmentation report yet; make one with "
                         "Client.augmentation_report")
    return report


def _image(png: bytes) -> torch.Tensor:
    """C×H×W float32 in [0, 1]."""
    with Image.open(io.BytesIO(png)) as image:
        pixels = np.array(image)  # H×W (grey) or H×W×C uint8; a copy, which torch may own
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    return torch.from_numpy(pixels).permute(2, 0, 1).float().div_(255)


class _Labels:
    """Each PNG's class index, from its entry name `<class folder>/<n>.png` (service/serving/augment.py). The
    classes come in index order, each numbered from 000000, so a 000000 starts the next class with that folder;
    two classes whose names make the same folder are told apart that way too."""

    def __init__(self, classes: list[str]):
        self.folders = [safe_folder(name, i) for i, name in enumerate(classes)] or ["images"]
        self.current = -1

    def of(self, name: str) -> int:
        folder, _, file = name.rpartition("/")
        if file == "000000.png":
            later = range(self.current + 1, len(self.folders))
            self.current = next((i for i in later if self.folders[i] == folder), len(self.folders))
        if not 0 <= self.current < len(self.folders) or self.folders[self.current] != folder:
            raise ValueError(f"unexpected entry {name!r} in the archive: no class of the model has that folder here "
                             f"(folders: {self.folders})")
        return self.current


class _FolderLabels:
    """Each PNG's class index in a recommended mix (service/serving/mixes.py), whose entries `<class folder>/
    <source>_<n>.png` come in the data set's order, classes interleaved: read from the folder alone."""

    def __init__(self, classes: list[str]):
        folders = [safe_folder(name, i) for i, name in enumerate(classes)] or ["images"]
        self.index = {folder: i for i, folder in enumerate(folders)}
        shared = sorted({f for f in folders if folders.count(f) > 1})
        if shared:
            raise ValueError(f"classes {shared} share a folder in the archive, so a recommended mix's images cannot "
                             "be told apart by folder: use Client.augment(..., mix='recommended', format='npz')")

    def of(self, name: str) -> int:
        folder = name.rpartition("/")[0]
        if folder not in self.index:
            raise ValueError(f"unexpected entry {name!r} in the archive: no class of the model has that folder "
                             f"(folders: {list(self.index)})")
        return self.index[folder]


def safe_folder(name: str, index: int) -> str:
    """A class's folder in the archive. A copy of service/serving/augment.py's safe_folder, the source (the
    client installs without the server); tests/client/test_copies.py fails if they drift apart."""
    cleaned = name.replace("/", "_").replace("\\", "_").strip()
    return cleaned if cleaned not in ("", ".", "..") else f"class_{index}"


def _shuffled(items: Iterator[T], size: int, rng: random.Random) -> Iterator[T]:
    """`items` in random order from a pool of `size`: a stream's shuffle, with memory for `size` items."""
    pool: list[T] = []
    with closing(items):  # stopping early ends the download at once
        for item in items:
            if len(pool) < size:
                pool.append(item)
                continue
            i = rng.randrange(size)
            yield pool[i]
            pool[i] = item
    rng.shuffle(pool)
    yield from pool
