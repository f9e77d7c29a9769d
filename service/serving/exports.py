"""A model as a download that runs without GANForge: a ZIP of its generator (ONNX, TorchScript or safetensors),
card.json and a README.txt that says what goes in and what comes out. Packages are made one at a time per API
process and kept, by model, format and card, in a small LRU cache: an export costs seconds of CPU, a repeat none."""

from __future__ import annotations

import hashlib
import io
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from typing import Literal

from core.card import ModelCard
from core.kinds import kind_of
from models import export
from models.checkpoint import generator_to_bytes
from service.api.problems import Problem
from service.serving.generators import LoadedGenerator

ExportFormat = Literal["onnx", "torchscript", "safetensors"]
_WRITERS: dict[str, tuple[str, Callable[[export.Graph], bytes]]] = {
    "onnx": (".onnx", export.to_onnx), "torchscript": (".pt", export.to_torchscript)}
_RUN = {
    "onnx": ('import numpy as np, onnxruntime as ort\n'
             'session = ort.InferenceSession("{file}")\n'
             'out = session.run(None, {{{feeds}}})[0]'),
    "torchscript": ('import numpy as np, torch\n'
                    'net = torch.jit.load("{file}").eval()\n'
                    'with torch.no_grad():\n'
                    '    out = net({kwargs}).numpy()'),
}
# Example values in the README's snippet, by input name, else by dtype.
_NUMPY = {"float32": "np.random.randn({shape}).astype(np.float32)", "int64": "np.zeros(({n},), dtype=np.int64)",
          "psi": "np.full(({n},), 0.7, dtype=np.float32)",
          "image": "np.random.uniform(-1, 1, ({shape})).astype(np.float32)"}
_TORCH = {"float32": "torch.randn({shape})", "int64": "torch.zeros({n}, dtype=torch.long)",
          "psi": "torch.full(({n},), 0.7)", "image": "torch.rand({shape}) * 2 - 1"}


def package(loaded: LoadedGenerator, fmt: ExportFormat) -> bytes:
    """The ZIP for one model in one format (computed now, in this thread)."""
    card = loaded.card
    graphs_of = kind_of(card.kind).graphs
    if graphs_of is None:
        raise Problem(422, f"model {card.id} is {kind_of(card.kind).article} {card.kind}, a kind with no export")
    graphs = graphs_of(loaded.net, card.gan)
    if fmt == "safetensors":
        files = {"generator.safetensors": generator_to_bytes(loaded.net, card.to_json())}
    else:
        suffix, write = _WRITERS[fmt]
        files = {graph.name + suffix: write(graph) for graph in graphs}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data, zipfile.ZIP_STORED)  # float weights hardly deflate: seconds for 1 %
        archive.writestr("card.json", card.model_dump_json(indent=2))
        archive.writestr("README.txt", readme(card, fmt, graphs))
    return buffer.getvalue()


def readme(card: ModelCard, fmt: ExportFormat, graphs: list[export.Graph]) -> str:
    lines = [f"GANForge model {card.id}: {card.arch} ({card.reference}), a {card.kind}, exported as {fmt}.",
             "card.json is its model card: what it is, its classes, how it was made.", ""]
    if card.classes:
        lines += ["Classes (label index: name): " + ", ".join(f"{i}: {c}" for i, c in enumerate(card.classes)), ""]
    if fmt == "safetensors":
        lines += ["generator.safetensors holds the weights of GANForge's network, the card in its header (metadata key",
                  "'ganforge'); it needs GANForge's network code to run: POST /v1/models/import takes it back. To run",
                  "the generator without GANForge, export it as onnx or torchscript. Its inputs, in either:", ""]
    suffix = _WRITERS[fmt][0] if fmt in _WRITERS else ""
    for graph in graphs:
        lines += [graph.name + suffix, "  inputs (N: any batch size):"]
        lines += [f"    {i.name:<12} {i.dtype:<8} {_shape(i.shape):<18} {i.meaning}" for i in graph.inputs]
        lines += [f"  output {graph.output}: {_shape(graph.output_shape)} {graph.output_meaning}", ""]
    if fmt in _RUN:
        graph = graphs[0]
        lines += ["Run it (4 samples):", "", _RUN[fmt].format(file=graph.name + suffix,
                                                              feeds=_feeds(graph, _NUMPY, quoted=True),
                                                              kwargs=_feeds(graph, _TORCH, quoted=False)), ""]
        if card.data_kind == "images":
            lines += ["pixels = ((np.clip(out, -1, 1) + 1) * 127.5).round().astype(np.uint8)  # N x C x H x W", ""]
    lines.append("The same inputs give the pixels GANForge serves, each within 1 of 255 (float rounding).")
    return "\n".join(lines) + "\n"


def _shape(shape: tuple) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _feeds(graph: export.Graph, makers: dict[str, str], quoted: bool) -> str:
    parts = []
    for i in graph.inputs:
        dims = ", ".join(str(4 if d == "N" else d) for d in i.shape)
        value = makers.get(i.name, makers[i.dtype]).format(shape=dims, n=4)
        parts.append(f'"{i.name}": {value}' if quoted else f"{i.name}={value}")
    return ", ".join(parts)


class ExportCache:
    """Packages by (model, format, card): at most `capacity` of them and `max_bytes` in all (a larger one is made
    and sent, not kept). One export runs at a time; a burst of requests for one package makes it once."""

    def __init__(self, capacity: int = 8, max_bytes: int = 256 * 2**20):
        self.capacity, self.max_bytes = capacity, max_bytes
        self._items: OrderedDict[tuple[str, str, str], bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._exporting = threading.Lock()

    def get(self, loaded: LoadedGenerator, fmt: ExportFormat) -> bytes:
        # The card is in the package, so a card that changed (an evaluation's figures) makes a new one.
        key = (loaded.model_id, fmt, hashlib.sha256(loaded.card.model_dump_json().encode()).hexdigest())
        if (data := self._hit(key)) is not None:
            return data
        with self._exporting:
            if (data := self._hit(key)) is not None:
                return data
            data = package(loaded, fmt)
        with self._lock:
            if len(data) <= self.max_bytes:
                self._items[key] = data
                while len(self._items) > self.capacity or sum(map(len, self._items.values())) > self.max_bytes:
                    self._items.popitem(last=False)
        return data

    def _hit(self, key: tuple[str, str, str]) -> bytes | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None
