"""Builds uploads in memory for the data set tests: PNGs, ZIPs, NPZs and hostile variants of them."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import numpy as np
from PIL import Image


def png(size: tuple[int, int] = (8, 8), mode: str = "L", color=128) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def image_bytes(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def zip_of(entries: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def class_zip(classes: dict[str, int], size: int = 8) -> bytes:
    """One folder per class, each image a different gray level, so every class looks distinct."""
    entries = {}
    for c, (name, count) in enumerate(classes.items()):
        for i in range(count):
            entries[f"{name}/{i:03d}.png"] = png((size, size), "L", (40 * c + 3 * i) % 256)
    return zip_of(entries)


def npz_of(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height pixels, with almost no pixel data: an image bomb."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(
        b"IEND", b"")


def zip_bomb(uncompressed: int = 100_000_000) -> bytes:
    """One entry of `uncompressed` zero bytes: about 1,000 times smaller deflated."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive, archive.open("zeros.png", "w") as entry:
        block = b"\0" * 2**20
        for _ in range(uncompressed // len(block)):
            entry.write(block)
    return buffer.getvalue()
