"""ZIP and NPZ members written with fixed metadata, so the same content always makes the same bytes."""

from __future__ import annotations

import zipfile

import numpy as np

_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a ZIP can hold; a real clock would change the bytes


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
