"""Builds hostile .npy and NPZ uploads: headers written by hand (whatever they claim), data streamed as zeros.

Nothing here holds the declared array in memory: a 2 GiB NPZ of zeros is deflated chunk by chunk into a ~2 MB
file, and a bare .npy's zeros are a sparse file."""

from __future__ import annotations

import io
import math
import struct
import zipfile
from pathlib import Path

import numpy as np

_BLOCK = bytes(1 << 22)


def npy_header(descr, shape, fortran: bool = False) -> bytes:
    """A version 1.0 .npy header declaring `descr` and `shape` as given, checked by nobody."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": fortran, "shape": shape})
    return buffer.getvalue()


def raw_header(text: str, version: tuple[int, int] = (1, 0), length: int | None = None) -> bytes:
    """A header of any text (not even a dict), with a length field that may lie."""
    data = text.encode("latin1")
    size = struct.pack("<H" if version == (1, 0) else "<I", len(data) if length is None else length)
    return b"\x93NUMPY" + bytes(version) + size + data


def npz_with(**members: bytes) -> bytes:
    """An NPZ whose `name.npy` members hold exactly the given bytes (headers and data)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(f"{name}.npy", data)
    return buffer.getvalue()


def npz_of_zeros(path: Path, shape: tuple[int, ...], descr: str = "|u1") -> Path:
    """An NPZ whose `images` is `shape` zeros, deflated as they are streamed (128 x 4096 x 4096: 2 GiB in 2 MB)."""
    remaining = math.prod(shape) * np.dtype(descr).itemsize
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive, \
            archive.open("images.npy", "w", force_zip64=True) as entry:
        entry.write(npy_header(descr, shape))
        while remaining:
            entry.write(_BLOCK[: min(remaining, len(_BLOCK))])
            remaining -= min(remaining, len(_BLOCK))
    return path


def npy_of_zeros(path: Path, shape: tuple[int, ...], descr: str = "|u1") -> Path:
    """A bare .npy of `shape` zeros: the header, then a hole in a sparse file (no disk, no memory)."""
    header = npy_header(descr, shape)
    with open(path, "wb") as f:
        f.write(header)
        f.truncate(len(header) + math.prod(shape) * np.dtype(descr).itemsize)
    return path


def zip_of_zeros(path: Path, entries: int, size: int) -> Path:
    """`entries` files of `size` zeros each, every one under a per-entry cap, together over the total cap."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for i in range(entries):
            with archive.open(f"{i:02d}.png", "w", force_zip64=True) as entry:
                for start in range(0, size, len(_BLOCK)):
                    entry.write(_BLOCK[: min(size - start, len(_BLOCK))])
    return path


def lie_about_sizes(archive: bytes, declared: int) -> bytes:
    """The ZIP with every entry's uncompressed size in its central directory replaced by `declared`."""
    data = bytearray(archive)
    at = data.find(b"PK\x01\x02")
    while at != -1:
        data[at + 24 : at + 28] = struct.pack("<I", declared)
        at = data.find(b"PK\x01\x02", at + 4)
    return bytes(data)
