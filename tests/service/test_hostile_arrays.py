"""Hostile .npy and NPZ uploads on the decoder itself (issue 31): refused from their headers, at once, in bounded
memory, with a problem a caller can act on; never a numpy error (a 500) and never an allocation the size of a lie."""

from __future__ import annotations

import io
import time
import tracemalloc
import zipfile

import numpy as np
import pytest

from core.datasets import InvalidUpload, UploadLimits, UploadOptions, UploadTooLarge
from core.datasets.decode import decode_images, decode_upload
from core.settings import Settings
from tests.hostile_arrays import (
    lie_about_sizes,
    npy_header,
    npy_of_zeros,
    npz_of_zeros,
    npz_with,
    raw_header,
    zip_of_zeros,
)

DEFAULTS = Settings(redis_url="redis://localhost:6379/0")
UPLOADS = UploadLimits.from_settings(DEFAULTS)  # what POST /v1/datasets applies
TRANSLATE = UploadLimits(**{**UPLOADS.__dict__, "max_images": DEFAULTS.max_images_per_request})  # /translate's
SMALL = UploadLimits(max_uncompressed_bytes=8_000_000, max_entry_bytes=4_000_000, max_zip_entries=300,
                     max_image_pixels=1_000_000, max_images=2000, max_dataset_bytes=50_000_000)
MEMORY_BOUND = 16 * 2**20  # what a refusal from the header may allocate: nothing like the declared size
TIME_BOUND_S = 1.0


def refusal(path, limits: UploadLimits = UPLOADS, decode=decode_upload, **options) -> tuple[InvalidUpload, float, int]:
    """(the error, CPU seconds taken, peak bytes allocated) of decoding `path`, which must be refused. CPU time, not
    wall time: what a refusal must not do is work (inflate or read what the header declares), and a machine busy with
    other work stretches the wall clock (1.31 s once, for a refusal that takes milliseconds)."""
    tracemalloc.start()
    started = time.process_time()
    try:
        with pytest.raises(InvalidUpload) as caught:
            decode(path, UploadOptions(**options), limits)
        return caught.value, time.process_time() - started, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def write(tmp_path, content: bytes, name: str = "upload.bin"):
    path = tmp_path / name
    path.write_bytes(content)
    return path


@pytest.fixture(scope="module")
def npz_bomb(tmp_path_factory):
    """The issue's file: a 2 MB NPZ whose `images` is 128 x 4096 x 4096 zeros, every cap but one met exactly."""
    path = npz_of_zeros(tmp_path_factory.mktemp("bomb") / "x.npz", (128, 4096, 4096))
    assert path.stat().st_size < 2_200_000
    return path


@pytest.mark.parametrize("limits", [UPLOADS, TRANSLATE], ids=["datasets", "translate"])
@pytest.mark.parametrize("decode", [decode_upload, decode_images], ids=["upload", "images"])
def test_a_2_gib_npz_of_zeros_is_refused_from_its_header_at_once(npz_bomb, limits, decode):
    error, seconds, peak = refusal(npz_bomb, limits, decode, image_size=28)
    assert isinstance(error, UploadTooLarge)
    assert "[128, 4096, 4096]" in str(error) and "2,147,483,648 bytes" in str(error) and "max_entry_bytes" in str(error)
    assert seconds < TIME_BOUND_S and peak < MEMORY_BOUND


def test_a_2_gib_bare_npy_is_refused_from_its_header_at_once(tmp_path):
    error, seconds, peak = refusal(npy_of_zeros(tmp_path / "x.npy", (128, 4096, 4096)), image_size=28)
    assert isinstance(error, UploadTooLarge) and "max_entry_bytes" in str(error)
    assert seconds < TIME_BOUND_S and peak < MEMORY_BOUND


def test_absurd_dimensions_are_refused_by_the_caps_before_any_allocation(tmp_path):
    too_many = write(tmp_path, npz_with(images=npy_header("|u1", (10**12, 28, 28))))
    assert "1,000,000,000,000 images" in str(refusal(too_many)[0])
    too_wide = write(tmp_path, npz_with(images=npy_header("|u1", (1, 28, 10**15))))
    assert "max_image_pixels" in str(refusal(too_wide)[0])
    too_much_output = write(tmp_path, npz_with(images=npy_header("|u1", (2000, 200, 200))))
    assert "max_dataset_bytes" in str(refusal(too_much_output, SMALL, image_size=256)[0])


MALFORMED = {
    "void of zero bytes": (npy_header("|V0", (10**12, 28, 28)), "dtype |V0, whose items are 0 bytes"),
    "unicode of zero bytes": (npy_header("<U0", (1, 28, 28)), "dtype <U0, whose items are 0 bytes"),
    "negative dimensions": (npy_header("|u1", (-2, -28, 28)), "negative dimension in its shape [-2, -28, 28]"),
    "python objects": (npy_header("|O", (2, 4, 4)), "Python objects"),
    "structured dtype": (npy_header([("a", "|u1")], (2, 4, 4)), "structured dtype"),
    "floats": (npy_header("<f4", (2, 4, 4)) + bytes(128), "must be uint8"),
    "no pixels": (npy_header("|u1", (2, 0, 4)), "without pixels"),
    "five channels": (npy_header("|u1", (2, 4, 4, 5)), "C = 1, 3 or 4"),
    "truncated data": (npy_header("|u1", (2, 4, 4)) + bytes(10), "truncated"),
    "truncated header": (npy_header("|u1", (2, 4, 4))[:30], "truncated inside its .npy header"),
    "bad magic": (b"\x93NUMPZ\x01\x00" + npy_header("|u1", (2, 4, 4))[8:], "does not start with numpy's magic"),
    "version 3": (raw_header("{}", (3, 0)), "format version 3.0"),
    "a 4 GiB header": (raw_header("{", (2, 0), length=2**32 - 1), "header of 4,294,967,295 bytes"),
    "not a dict": (raw_header("[1, 2, 3]\n"), "malformed .npy header (Header is not a dictionary"),
    "not python": (raw_header("{'descr': '|u1', \n"), "malformed .npy header"),
    "wrong keys": (raw_header("{'descr': '|u1', 'shape': (1, 2, 2)}\n"), "malformed .npy header"),
    "shape of text": (raw_header("{'descr': '|u1', 'fortran_order': False, 'shape': ('a',)}\n"), "shape is not valid"),
    "unknown dtype": (raw_header("{'descr': 'zz9', 'fortran_order': False, 'shape': (1,)}\n"), "not a valid dtype"),
    "a 5000-digit dimension": (raw_header("{'descr': '|u1', 'fortran_order': False, 'shape': (" + "9" * 5000 + ",)}"),
                               "malformed .npy header"),
    "deep nesting": (raw_header("{'descr': " + "(" * 3000 + ")" * 3000 + "}"), "brackets nested 3,001 deep"),
}


# Without numpy's magic a bare file is not taken for a .npy at all (it is "neither a ZIP nor an NPZ").
@pytest.mark.parametrize(("case", "form"), [(c, f) for c in MALFORMED for f in ("npz", "npy")
                                            if (c, f) != ("bad magic", "npy")])
def test_a_malformed_or_unusable_header_is_an_invalid_upload_saying_what_is_wrong(tmp_path, case, form):
    content, fragment = MALFORMED[case]
    path = write(tmp_path, npz_with(images=content) if form == "npz" else content)
    for decode, limits in ((decode_upload, UPLOADS), (decode_images, TRANSLATE)):
        error, seconds, _ = refusal(path, limits, decode, image_size=28)
        assert type(error) is InvalidUpload and fragment in str(error), str(error)
        assert seconds < TIME_BOUND_S


@pytest.mark.parametrize(("labels", "fragment"), [
    (npy_header("<U0", (2,)), "0 bytes"),
    (npy_header("|V0", (2,)), "0 bytes"),
    (npy_header("<i8", (-2,)), "negative dimension"),
    (npy_header("<i8", (10**12,)), "one label per image, shape [2]"),
    (npy_header("<f8", (2,)), "integers or strings"),
    (npy_header("<U100000000", (2,)), "800,000,000 bytes"),
])
def test_malformed_labels_are_refused_before_their_data_is_read(tmp_path, labels, fragment):
    images = npy_header("|u1", (2, 4, 4)) + bytes(32)
    error, seconds, peak = refusal(write(tmp_path, npz_with(images=images, labels=labels)))
    assert fragment in str(error) and seconds < TIME_BOUND_S and peak < MEMORY_BOUND


def test_an_array_is_read_without_a_second_copy(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (64, 256, 256), dtype=np.uint8)  # 4 MiB
    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=images)
    path = write(tmp_path, buffer.getvalue())
    tracemalloc.start()
    try:
        decoded = decode_upload(path, UploadOptions(image_size=8), UPLOADS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert decoded.images.shape == (64, 1, 8, 8)
    assert peak < 1.5 * images.nbytes  # the array once, plus a chunk; reading into a bytearray then copying was 2x


def test_fortran_order_arrays_and_labels_still_decode(tmp_path):
    images = np.asfortranarray(np.arange(3 * 5 * 5, dtype=np.uint8).reshape(3, 5, 5))
    buffer = io.BytesIO()
    np.savez(buffer, images=images, labels=np.array(["b", "a", "b"]))
    decoded = decode_upload(write(tmp_path, buffer.getvalue()), UploadOptions(), UPLOADS)
    assert np.array_equal(decoded.images[:, 0], images) and decoded.classes == ["a", "b"]
    assert decoded.labels.tolist() == [1, 0, 1]


def test_a_bare_npy_decodes_as_before(tmp_path):
    images = np.full((2, 6, 6, 3), 200, np.uint8)
    buffer = io.BytesIO()
    np.save(buffer, images)
    decoded = decode_images(write(tmp_path, buffer.getvalue()), UploadOptions(channels="rgb"), TRANSLATE)
    assert decoded.format == "npy" and decoded.images.shape == (2, 3, 6, 6) and (decoded.images == 200).all()


def test_a_zip_whose_files_declare_too_much_is_refused_before_inflating(tmp_path):
    bomb = zip_of_zeros(tmp_path / "bomb.zip", 3, 4_000_000)  # each at the entry cap, together over the total
    error, seconds, peak = refusal(bomb, SMALL)
    assert isinstance(error, UploadTooLarge) and "unpacks to more than 8,000,000 bytes" in str(error)
    assert "declare 12,000,000" in str(error) and seconds < TIME_BOUND_S and peak < 1_000_000
    one_too_large = zip_of_zeros(tmp_path / "one.zip", 1, 4_000_001)
    error, seconds, peak = refusal(one_too_large, SMALL)
    assert "'00.png' unpacks to more than 4,000,000 bytes" in str(error) and peak < 1_000_000


def test_a_zip_that_lies_about_its_sizes_is_stopped_at_what_it_declared(tmp_path):
    bomb = zip_of_zeros(tmp_path / "bomb.zip", 1, 50_000_000)
    lying = write(tmp_path, lie_about_sizes(bomb.read_bytes(), 1_000), "lying.zip")
    assert zipfile.ZipFile(lying).infolist()[0].file_size == 1_000
    error, seconds, peak = refusal(lying, SMALL)
    assert type(error) is InvalidUpload and "'00.png' cannot be read" in str(error)
    assert seconds < TIME_BOUND_S and peak < 1_000_000
