"""A .npy array from an untrusted stream: its header is parsed and checked before any of its data is read.

np.load trusts the header: a few kilobytes of NPZ can declare gigabytes (all zeros deflate a thousandfold), a
zero-byte dtype or negative dimensions, and the failure is a MemoryError or a ValueError deep inside numpy. Here
the caller gets the declared shape and dtype first, applies its caps to them, and only then reads the data, in
chunks, into one preallocated array (no second copy), never past the size the header declared.
"""

from __future__ import annotations

import io
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.datasets.errors import InvalidUpload, UploadTooLarge
from core.datasets.options import UploadLimits, UploadOptions

NPY_MAGIC = b"\x93NUMPY"
# np.load's own default cap on a header's length; a real header is ~128 bytes. Version 2 allows a 4 GiB header,
# which numpy would read into memory before checking it.
MAX_HEADER_BYTES = 10_000
# A plain array's header nests two deep ("{... 'shape': (2, 4, 4)}"), a structured dtype's a few more; numpy's
# literal_eval spends a CPU-second on 3,000 open parentheses before it fails.
MAX_HEADER_NESTING = 8
_LENGTH_FORMATS = {(1, 0): "<H", (2, 0): "<I"}
_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
_CHUNK = 1 << 16  # zipfile builds each read by concatenation: a large chunk costs a few copies of itself
SAVE_AGAIN = "save it again with numpy.save or numpy.savez_compressed"


@dataclass(frozen=True)
class ArrayHeader:
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran: bool

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def read_header(stream, what: str) -> ArrayHeader:
    """The header at the stream's start, checked for what no caller can use; raises InvalidUpload."""
    start = stream.read(len(NPY_MAGIC) + 2)
    if len(start) < len(NPY_MAGIC) + 2 or not start.startswith(NPY_MAGIC):
        raise InvalidUpload(f"{what} is not a .npy array (it does not start with numpy's magic bytes); {SAVE_AGAIN}")
    version = (start[-2], start[-1])
    if version not in _READERS:
        raise InvalidUpload(f"{what} is a .npy of format version {version[0]}.{version[1]}, which is not supported "
                            f"(1.0 and 2.0 are); {SAVE_AGAIN}")
    length_format = _LENGTH_FORMATS[version]
    length_bytes = stream.read(struct.calcsize(length_format))
    if len(length_bytes) < struct.calcsize(length_format):
        raise InvalidUpload(f"{what} is truncated inside its .npy header; {SAVE_AGAIN}")
    (length,) = struct.unpack(length_format, length_bytes)
    if length > MAX_HEADER_BYTES:
        raise InvalidUpload(f"{what} declares a .npy header of {length:,} bytes (at most {MAX_HEADER_BYTES:,} are "
                            f"read); {SAVE_AGAIN}")
    text = stream.read(length)
    if len(text) < length:
        raise InvalidUpload(f"{what} is truncated inside its .npy header; {SAVE_AGAIN}")
    nesting = _nesting(text)
    if nesting > MAX_HEADER_NESTING:
        raise InvalidUpload(f"{what} has a malformed .npy header (brackets nested {nesting:,} deep, at most "
                            f"{MAX_HEADER_NESTING} are parsed); {SAVE_AGAIN}")
    try:
        shape, fortran, dtype = _READERS[version](io.BytesIO(length_bytes + text), max_header_size=MAX_HEADER_BYTES)
    except Exception as exc:  # numpy's parser (literal_eval, tokenize, a dtype from the descr) on hostile text
        raise InvalidUpload(f"{what} has a malformed .npy header ({_first_line(exc)}); {SAVE_AGAIN}") from None
    _check(shape, dtype, what)
    return ArrayHeader(tuple(shape), dtype, fortran)


def _nesting(text: bytes) -> int:
    """How deep the header's brackets nest, counted without parsing it (quotes are not honoured: an over-count
    only refuses a header that no numpy writes)."""
    depth = deepest = 0
    for byte in text:
        if byte in b"([{":
            depth += 1
            deepest = max(deepest, depth)
        elif byte in b")]}":
            depth -= 1
    return deepest


def _check(shape: tuple[int, ...], dtype: np.dtype, what: str) -> None:
    if dtype.hasobject:
        raise InvalidUpload(f"{what} holds Python objects (a pickle), which are never loaded; save plain "
                            "numeric or string arrays")
    if dtype.fields is not None or dtype.subdtype is not None:
        raise InvalidUpload(f"{what} has a structured dtype ({dtype.descr}); save a plain numeric array")
    if dtype.itemsize == 0:
        raise InvalidUpload(f"{what} declares dtype {dtype.str}, whose items are 0 bytes; save a plain numeric array")
    if any(n < 0 for n in shape):
        raise InvalidUpload(f"{what} declares a negative dimension in its shape {list(shape)}; {SAVE_AGAIN}")


def check_images(header: ArrayHeader, options: UploadOptions, limits: UploadLimits) -> None:
    """The `images` array's header against the caps that the route knows, before its data is read."""
    shape = header.shape
    if header.dtype != np.uint8:
        raise InvalidUpload(f"`images` must be uint8 (0..255); got {header.dtype}: convert with "
                            "images.astype('uint8') after scaling to 0..255")
    if len(shape) not in (3, 4) or (len(shape) == 4 and shape[-1] not in (1, 3, 4)):
        raise InvalidUpload(f"`images` must be N x H x W or N x H x W x C with C = 1, 3 or 4; got shape "
                            f"{list(shape)}")
    n, height, width = shape[:3]
    if n == 0:
        raise InvalidUpload("`images` holds no images (its shape starts with 0); send at least one")
    if height == 0 or width == 0:
        raise InvalidUpload(f"`images` are {width}x{height}: images without pixels; got shape {list(shape)}")
    if height * width > limits.max_image_pixels:
        raise UploadTooLarge(f"the images are {width}x{height}, over the server's max_image_pixels of "
                             f"{limits.max_image_pixels:,}")
    if n > limits.max_images:
        raise UploadTooLarge(f"`images` holds {n:,} images, more than {limits.max_images:,} (the server's "
                             f"{limits.images_setting}); {limits.split_advice}")
    side = options.image_size or (height if height == width else 0)
    least = n * (3 if options.channels == "rgb" else 1) * side * side  # what the data set will hold, at least
    if least > limits.max_dataset_bytes:
        raise UploadTooLarge(f"the data set would exceed {limits.max_dataset_bytes:,} bytes (the server's "
                             "max_dataset_bytes); choose a smaller image_size or split the upload")


def check_labels(header: ArrayHeader, n: int) -> None:
    if header.shape != (n,):
        raise InvalidUpload(f"`labels` must be one label per image, shape [{n}]; got {list(header.shape)}")
    if header.dtype.kind not in "iuUS":
        raise InvalidUpload(f"`labels` must be integers or strings; got {header.dtype}")


def read_data(stream, header: ArrayHeader, what: str, spend: Callable[[int], None]) -> np.ndarray:
    """The array the header describes, read in chunks; `spend` is told of every chunk (and may refuse it).

    The caller has checked header.nbytes against its caps: this allocates exactly that and reads no further."""
    flat = np.empty(header.nbytes, np.uint8)
    view, filled = memoryview(flat), 0
    while filled < header.nbytes:
        n = stream.readinto(view[filled : filled + _CHUNK])
        if not n:
            raise InvalidUpload(f"{what} is truncated: its header promises {header.nbytes:,} bytes of data, it holds "
                                f"{filled:,}; {SAVE_AGAIN}")
        filled += n
        spend(n)
    return flat.view(header.dtype).reshape(header.shape, order="F" if header.fortran else "C")


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
