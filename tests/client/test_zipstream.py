"""ganforge_client.zipstream reads ZIPs as the server streams them (service/serving/archives.py), a few bytes at a
time, and gives each entry's bytes as soon as they have arrived."""

import io
import zipfile

import numpy as np
import pytest
from ganforge_client.zipstream import entries

from service.serving.archives import streamed, write_array, write_bytes

# Bytes that look like a data descriptor's signature inside an entry's data: they must not end it.
TRICKY = b"\x89PNG" + b"PK\x07\x08" + bytes(12) + b"PK\x07\x08\x00\x00\x00\x00" + bytes(100)


def served(members: dict[str, bytes], arrays: dict[str, np.ndarray] | None = None) -> bytes:
    """An archive made as augment makes one: written to a stream that cannot seek, drained as it goes."""
    def writer(archive, samples, manifest):
        for name, data in members.items():
            write_bytes(archive, name, data)
            yield 1
        for name, array in (arrays or {}).items():
            write_array(archive, name, array)
            yield 0

    return b"".join(data for _, data in streamed(writer, None, None))


def in_pieces(data: bytes, size: int):
    return (data[i:i + size] for i in range(0, len(data), size))


@pytest.mark.parametrize("piece", [1, 3, 7, 4096, 1 << 20])
def test_the_entries_are_zipfiles_own_whatever_the_chunking(piece):
    members = {"3/000000.png": b"first", "3/000001.png": TRICKY, "7/000000.png": bytes(range(256)) * 300,
               "manifest.json": b'{"total": 3}'}
    archive = served(members)
    with zipfile.ZipFile(io.BytesIO(archive)) as whole:
        assert {info.filename: whole.read(info) for info in whole.infolist()} == members
    assert list(entries(in_pieces(archive, piece))) == list(members.items())


def test_an_entry_comes_before_the_rest_of_the_archive_has_arrived():
    archive = served({"a/000000.png": b"one", "a/000001.png": b"two" * 1000})
    received = []

    def chunks():
        for piece in in_pieces(archive, 16):
            received.append(len(piece))
            yield piece

    name, data = next(entries(chunks()))
    assert (name, data) == ("a/000000.png", b"one")
    assert sum(received) < 200 < len(archive)


def test_zip64_members_as_in_an_npz_are_read():
    images = np.arange(2 * 5 * 5, dtype=np.uint8).reshape(2, 5, 5)
    archive = served({}, {"images": images, "labels": np.array([3, 7])})
    read = dict(entries(in_pieces(archive, 5)))
    assert set(read) == {"images.npy", "labels.npy"}
    np.testing.assert_array_equal(np.load(io.BytesIO(read["images.npy"])), images)


def test_an_archive_written_to_a_seekable_file_is_read_too():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:  # sizes in the headers, no descriptors
        archive.writestr("x.png", TRICKY)
        archive.writestr("y.png", b"")
    assert list(entries(in_pieces(buffer.getvalue(), 10))) == [("x.png", TRICKY), ("y.png", b"")]


def test_an_empty_archive_has_no_entries():
    assert list(entries([served({})])) == []


def test_a_cut_short_archive_raises_after_its_whole_entries():
    archive = served({"a/000000.png": b"one", "a/000001.png": b"two"})
    cut = archive[:archive.index(b"two") + 1]
    read = entries([cut])
    assert next(read) == ("a/000000.png", b"one")
    with pytest.raises(ValueError, match="cut short"):
        next(read)


def test_a_compressed_entry_is_refused_with_the_reason():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.png", b"x" * 100)
    with pytest.raises(ValueError, match="'a.png' is compressed"):
        list(entries([buffer.getvalue()]))


def test_what_is_not_a_zip_is_refused():
    with pytest.raises(ValueError, match="not a ZIP archive"):
        list(entries([b'{"detail": "not found"}']))
