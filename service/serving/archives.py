"""ZIP and NPZ archives of samples, written once for every use: a generate response writes its samples as
one chunk into memory; an augment stream writes chunk after chunk into a spool that it drains as it goes,
so its memory stays flat. Members carry fixed metadata, so the same content always makes the same bytes."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain

import numpy as np
import torch

from core.card import ModelCard
from models.sampling import png_bytes
from service.serving.inputs import GeneratorInputs

_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a ZIP can hold; a real clock would change the bytes


@dataclass(frozen=True)
class Samples:
    """What an archive holds, a chunk at a time. `chunks` may be walked more than once: drawing the inputs
    again is cheap, so an NPZ writes its arrays one after another without keeping any; `make` runs the
    generator on one chunk's inputs."""

    card: ModelCard
    total: int
    chunks: Callable[[], Iterable[tuple[int, GeneratorInputs]]]  # (index of the chunk's first sample, inputs)
    make: Callable[[GeneratorInputs], torch.Tensor]
    png_name: Callable[[int], str] = "{:06d}.png".format  # the ZIP member of sample i


# A writer puts its members into an open ZipFile and yields the samples each step made (0 for a step that
# made none), so a stream can drain what was written and count the images.
Writer = Callable[[zipfile.ZipFile, Samples, dict | None], Iterator[int]]


def write_pngs(archive: zipfile.ZipFile, samples: Samples, manifest: dict | None) -> Iterator[int]:
    """A PNG member per image, then manifest.json."""
    for start, inputs in samples.chunks():
        images = samples.make(inputs)
        for offset, image in enumerate(images):
            write_bytes(archive, samples.png_name(start + offset), png_bytes(image))
        yield len(images)
    write_bytes(archive, "manifest.json", json.dumps(manifest, indent=2))


def write_arrays(archive: zipfile.ZipFile, samples: Samples, manifest: dict | None) -> Iterator[int]:
    """NPZ members (an NPZ is a ZIP of .npy files): images N x H x W x C (or points N x 2), latents (or the ws
    they were made from), each conditioning input, the class names when there are labels, and the manifest
    when given."""
    first = next(iter(samples.chunks()))[1]
    made = (as_array(samples.make(inputs)) for _, inputs in samples.chunks())
    head = next(made)
    yield from write_chunked(archive, "points" if head.ndim == 2 else "images", samples.total, chain([head], made))
    columns = {"ws": lambda inputs: inputs.ws} if first.ws is not None else {"latents": lambda inputs: inputs.latents}
    columns |= {name: _conditioning(name) for name in first.conditioning}
    for name, column in columns.items():
        arrays = (column(inputs).numpy() for _, inputs in samples.chunks())
        yield from (0 for _ in write_chunked(archive, name, samples.total, arrays))
    if "labels" in first.conditioning:
        write_array(archive, "classes", np.array(samples.card.classes))
    if manifest is not None:
        write_array(archive, "manifest", np.array(json.dumps(manifest, indent=2)))  # every member is an array


def as_array(samples: torch.Tensor) -> np.ndarray:
    """uint8 NCHW images to N x H x W x C, the layout image libraries and our NPZ upload take; points as they are."""
    return samples.numpy() if samples.dim() == 2 else samples.permute(0, 2, 3, 1).contiguous().numpy()


def in_memory(writer: Writer, samples: Samples, manifest: dict | None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:  # PNGs are compressed already
        for _ in writer(archive, samples, manifest):
            pass
    return buffer.getvalue()


def streamed(writer: Writer, samples: Samples, manifest: dict | None) -> Iterator[tuple[int, bytes]]:
    """(samples made, the archive's next bytes) after each step of the writer, then the end of the archive."""
    spool = _Spool()
    with zipfile.ZipFile(spool, "w", zipfile.ZIP_STORED) as archive:  # PNG and raw arrays gain little from deflate
        for made in writer(archive, samples, manifest):
            yield made, spool.drain()
    yield 0, spool.drain()


def member(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.external_attr = 0o644 << 16  # readable once unzipped (unzip applies Unix modes from here)
    return info


def write_bytes(archive: zipfile.ZipFile, name: str, data: bytes | str) -> None:
    archive.writestr(member(name), data)


def open_array(archive: zipfile.ZipFile, name: str, dtype, shape: tuple[int, ...]):
    """An open `<name>.npy` member with its header written: the caller writes the C-order data."""
    entry = archive.open(member(f"{name}.npy"), "w", force_zip64=True)
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(entry, header)
    return entry


def write_array(archive: zipfile.ZipFile, name: str, array: np.ndarray) -> None:
    """An NPZ member, as `np.load` reads it (no pickle: numbers and unicode strings only)."""
    with open_array(archive, name, array.dtype, array.shape) as entry:
        entry.write(np.ascontiguousarray(array).tobytes())


def write_chunked(archive: zipfile.ZipFile, name: str, total: int, arrays: Iterator[np.ndarray]) -> Iterator[int]:
    """One NPZ member of `total` rows from arrays of a few rows each, yielding the rows of each as written.
    The first array gives the dtype and the shape of a row."""
    head = next(arrays)
    with open_array(archive, name, head.dtype, (total, *head.shape[1:])) as entry:
        for array in chain([head], arrays):
            entry.write(np.ascontiguousarray(array).tobytes())
            yield len(array)


def _conditioning(name: str) -> Callable[[GeneratorInputs], torch.Tensor]:
    return lambda inputs: inputs.conditioning[name]


class _Spool:
    """A write-only file that keeps what was written until drained: zipfile writes in, the response reads
    out. It cannot seek, so zipfile writes each member's sizes after its data (a data descriptor)."""

    def __init__(self):
        self._parts: list[bytes] = []

    def write(self, data) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data
