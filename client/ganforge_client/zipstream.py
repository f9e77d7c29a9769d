"""A ZIP read as it arrives: its entries one by one from an iterator of byte chunks, one entry in memory.

zipfile reads the central directory at the end of an archive before any entry, so it needs the whole archive.
The server writes augment's ZIP to a stream it cannot seek back in (service/serving/archives.py): each entry is
stored uncompressed and its CRC and sizes come after its data, in a data descriptor, not in its header. An
entry ends at the first descriptor whose sizes and CRC match the bytes before it, so descriptor-like bytes
inside a PNG are not taken for its end. Reading stops at the central directory, which is not needed.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Iterator

_LOCAL = b"PK\x03\x04"
_ENDS = (b"PK\x01\x02", b"PK\x05\x06")  # the central directory, or the end record of an empty archive
_DESCRIPTOR = b"PK\x07\x08"
# After the local header's signature: version, flags, method, time, date, CRC, compressed size, size, name
# length, extra length.
_HEADER = struct.Struct("<HHHHHIIIHH")
_SIZES_FOLLOW = 0x08  # flag bit 3: CRC and sizes are in a descriptor after the data
_UTF8_NAME = 0x800
_STORED = 0
_ZIP64_EXTRA = 0x0001


def entries(chunks: Iterable[bytes]) -> Iterator[tuple[str, bytes]]:
    """(name, data) of each entry in archive order, as soon as its bytes have arrived. Entries must be stored
    (not compressed), as the server writes them. Raises ValueError on a corrupt or cut-short archive."""
    stream = _Stream(chunks)
    while (signature := stream.take(4)) == _LOCAL:
        _, flags, method, _, _, crc, _, size, name_length, extra_length = _HEADER.unpack(stream.take(_HEADER.size))
        name = stream.take(name_length).decode("utf-8" if flags & _UTF8_NAME else "cp437")
        zip64_size = _zip64_size(stream.take(extra_length))
        if method != _STORED:
            raise ValueError(f"archive entry {name!r} is compressed (method {method}); only stored entries can be "
                             "read as they arrive")
        if flags & _SIZES_FOLLOW:
            data = _up_to_descriptor(stream, zip64=zip64_size is not None)
        else:
            data = stream.take(size if zip64_size is None else zip64_size)
            if zlib.crc32(data) != crc:
                raise ValueError(f"archive entry {name!r} is corrupt: its CRC does not match its data")
        yield name, data
    if signature not in _ENDS:
        raise ValueError(f"not a ZIP archive, or a corrupt one: {signature!r} where an entry should begin")


class _Stream:
    """The bytes of an iterator of chunks, taken by exact counts. `pending` holds what has arrived and not
    been taken: at most the entry being read and the chunk that completed it."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks = iter(chunks)
        self.pending = bytearray()

    def pull(self) -> None:
        for chunk in self._chunks:
            if chunk:
                self.pending += chunk
                return
        raise ValueError("the archive is cut short: the stream ended before its central directory")

    def take(self, count: int) -> bytes:
        while len(self.pending) < count:
            self.pull()
        taken = bytes(self.pending[:count])
        del self.pending[:count]
        return taken


def _up_to_descriptor(stream: _Stream, zip64: bool) -> bytes:
    """An entry's data, ended by its data descriptor (consumed too): CRC, compressed size, size."""
    fields = struct.Struct("<IQQ" if zip64 else "<III")
    start = 0
    while True:
        at = stream.pending.find(_DESCRIPTOR, start)
        if at < 0:
            start = max(0, len(stream.pending) - len(_DESCRIPTOR) + 1)  # a signature may span two chunks
            stream.pull()
        elif len(stream.pending) < at + len(_DESCRIPTOR) + fields.size:
            start = at
            stream.pull()
        else:
            crc, compressed, size = fields.unpack_from(stream.pending, at + len(_DESCRIPTOR))
            if compressed == size == at and crc == zlib.crc32(stream.pending[:at]):
                data = stream.take(at)
                stream.take(len(_DESCRIPTOR) + fields.size)
                return data
            start = at + 1  # the signature's bytes, by chance, inside the data


def _zip64_size(extra: bytes) -> int | None:
    """The size in a local header's ZIP64 extra field, if it has one (then a descriptor's sizes are 64-bit)."""
    offset = 0
    while offset + 4 <= len(extra):
        kind, length = struct.unpack_from("<HH", extra, offset)
        if kind == _ZIP64_EXTRA:
            return struct.unpack_from("<Q", extra, offset + 4)[0] if length >= 8 else 0
        offset += 4 + length
    return None
