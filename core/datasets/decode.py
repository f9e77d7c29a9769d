"""Uploads to arrays: a ZIP of images (class folders or flat), an NPZ or a bare .npy, read once.

Nothing is ever extracted to disk: ZIP members are read into memory one at a time. What an archive or an array
declares (the ZIP's file sizes, a .npy header's shape and dtype) is checked against the caps before anything is
inflated or allocated, so a bomb is refused at once; and every byte that comes out of a decompressor is still
counted as it flows, so neither declared sizes nor names in the archive are trusted.
"""

from __future__ import annotations

import io
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from core.datasets.convert import fit, is_gray, to_array, to_rgb
from core.datasets.errors import InvalidUpload, UploadTooLarge
from core.datasets.npy import NPY_MAGIC, ArrayHeader, check_images, check_labels, read_data, read_header
from core.datasets.options import UploadLimits, UploadOptions

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
IMAGE_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP", "PPM")
_CHUNK = 1 << 16
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError)
_EXAMPLES_KEPT = 20
HOW_TO = "send a ZIP of images (one folder per class, or flat) or an NPZ with a uint8 `images` array"


@dataclass
class Decoded:
    format: str  # zip, npz or npy
    images: np.ndarray  # uint8 N x C x S x S
    labels: np.ndarray  # int64 N; -1 for unlabelled images
    classes: list[str]
    skipped: int = 0
    skipped_files: list[dict] = field(default_factory=list)  # the first few, with the reason
    warnings: list[str] = field(default_factory=list)
    # Two domains (layout domains or side-by-side): A's images, B's images, and whether a[i] pairs with b[i].
    domains: tuple[np.ndarray, np.ndarray, bool] | None = None


class _Budget:
    """Counts bytes as they come out of a decompressor; refuses past the cap (a ZIP or NPZ bomb)."""

    def __init__(self, limits: UploadLimits):
        self.limits, self.used = limits, 0

    def spend(self, n: int) -> None:
        self.used += n
        if self.used > self.limits.max_uncompressed_bytes:
            raise UploadTooLarge(f"the upload unpacks to more than {self.limits.max_uncompressed_bytes:,} bytes "
                                 "(the server's max_uncompressed_bytes); split it into smaller data sets")


class _Collector:
    """Converts images one by one into the data set's shape, holding only the converted (small) arrays."""

    def __init__(self, options: UploadOptions, limits: UploadLimits):
        self.options, self.limits = options, limits
        self.size = options.image_size
        self.fill = 0 if options.background == "black" else 255
        self.one_channel = options.channels != "rgb"  # while True, every image so far is stored gray
        self.arrays: list[np.ndarray] = []
        self.sources: list[str] = []

    def add(self, image: Image.Image, where: str) -> None:
        if len(self.arrays) >= self.limits.max_images:
            raise UploadTooLarge(f"the upload holds more than {self.limits.max_images:,} images (the server's "
                                 f"{self.limits.images_setting}); {self.limits.split_advice}")
        rgb = to_rgb(image, self.fill)
        if self.options.image_size is None:
            self._check_native_size(rgb, where)
        else:
            rgb = fit(rgb, self.size, self.options.resize, self.fill)
        if self.options.channels == "gray":
            array = np.asarray(rgb.convert("L"), dtype=np.uint8)[None].copy()
        else:
            array = to_array(rgb)
            if self.one_channel and is_gray(array):
                array = array[:1].copy()
            elif self.one_channel:  # the first colour image: the whole set becomes RGB
                self.one_channel = False
                self.arrays = [np.repeat(a, 3, axis=0) for a in self.arrays]
        stored = (len(self.arrays) + 1) * array.nbytes
        if stored > self.limits.max_dataset_bytes:
            raise UploadTooLarge(f"the data set would exceed {self.limits.max_dataset_bytes:,} bytes (the server's "
                                 "max_dataset_bytes); choose a smaller image_size or split the upload")
        self.arrays.append(array)
        self.sources.append(where)

    def _check_native_size(self, image: Image.Image, where: str) -> None:
        w, h = image.size
        if self.size is None:
            if w != h:
                raise InvalidUpload(f"{where} is {w}x{h}, not square; give image_size (e.g. 64) to crop or pad "
                                    "the images to squares of that size")
            self.size = w
        elif (w, h) != (self.size, self.size):
            raise InvalidUpload(f"{where} is {w}x{h} but {self.sources[0]} is {self.size}x{self.size}; give "
                                "image_size (e.g. 64) to bring all images to one size")

    def stack(self) -> np.ndarray:
        return np.stack(self.arrays) if self.arrays else np.zeros((0, 1, 1, 1), np.uint8)


def decode_upload(path: Path, options: UploadOptions, limits: UploadLimits) -> Decoded:
    """Reads the upload at `path` once and returns its images; raises InvalidUpload or UploadTooLarge."""
    with open(path, "rb") as f:
        head = f.read(8)
    if not head:
        raise InvalidUpload(f"the upload is empty; {HOW_TO}")
    if head.startswith(NPY_MAGIC):
        with open(path, "rb") as f:
            images = _read_images(f, options, limits, _Budget(limits), "the .npy file")
        return _from_arrays("npy", images, None, options, limits, [])
    if head[:4] not in ZIP_MAGIC:
        raise InvalidUpload(f"the upload is neither a ZIP nor an NPZ (it starts with {head[:4]!r}); {HOW_TO}")
    try:
        archive = zipfile.ZipFile(path)
    except (*_ZIP_ERRORS, ValueError) as exc:
        raise InvalidUpload(f"the upload is a corrupt ZIP ({exc}); {HOW_TO}") from None
    with archive:
        entries = archive.infolist()
        if len(entries) > limits.max_zip_entries:
            raise UploadTooLarge(f"the ZIP has {len(entries):,} entries, more than {limits.max_zip_entries:,} (the "
                                 "server's max_zip_entries); split it into smaller data sets")
        for entry in entries:
            _refuse_unsafe_name(entry.filename)
        names = {entry.filename for entry in entries}
        if "images.npy" in names:
            return _from_npz(archive, names, options, limits)
        return _from_zip(archive, entries, options, limits)


_DRIVE = re.compile(r"^[A-Za-z]:")


def _refuse_unsafe_name(name: str) -> None:
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or _DRIVE.match(name) or ".." in parts or "\0" in name:
        raise InvalidUpload(f"ZIP entry {name!r} points outside the archive (an absolute path or '..'); "
                            "refusing the whole upload: zip the folder from inside it, with relative paths")


def _skip_reason(entry: zipfile.ZipInfo, parts: list[str]) -> str | None:
    if parts[0] == "__MACOSX" or any(p.startswith(".") for p in parts):
        return "hidden or system file"
    if stat.S_ISLNK(entry.external_attr >> 16):
        return "symbolic link"
    return None


def _from_zip(archive: zipfile.ZipFile, entries: list[zipfile.ZipInfo], options: UploadOptions,
              limits: UploadLimits) -> Decoded:
    budget, collector = _Budget(limits), _Collector(options, limits)
    skipped: list[dict] = []
    folders: list[list[str]] = []
    files = [(entry, entry.filename.replace("\\", "/").split("/")) for entry in entries if not entry.is_dir()]
    _check_declared_sizes([entry for entry, parts in files if _skip_reason(entry, parts) is None], limits)
    for entry, parts in files:
        reason = _skip_reason(entry, parts)
        image = None
        if reason is None:
            image, reason = _open_image(_read_entry(archive, entry, budget, limits), entry.filename, options, limits)
        if image is None:
            skipped.append({"name": entry.filename, "reason": reason})
            continue
        if options.layout == "side-by-side":
            for half, name in _halves(image, entry.filename):
                collector.add(half, name)
                folders.append(parts[:-1])
        else:
            collector.add(image, entry.filename)
            folders.append(parts[:-1])
    images = collector.stack()
    if options.layout == "side-by-side" and len(images):
        decoded = Decoded("zip", images, np.full(len(images), -1, np.int64), [], len(skipped), skipped[:_EXAMPLES_KEPT])
        decoded.domains = images[0::2], images[1::2], True
        return decoded
    labels, classes, outside = _labels_from_folders(folders)
    domain_folders = _domain_folders(classes, options.layout)
    if domain_folders is not None and len(images):
        return _two_domains(images, labels, classes, domain_folders, collector.sources, skipped)
    if outside:
        keep = labels >= 0
        skipped += [{"name": collector.sources[i], "reason": "outside the class folders"} for i in outside]
        images, labels = images[keep], labels[keep]
    if len(images) == 0:
        reasons = sorted({s["reason"] for s in skipped})
        what = f"; skipped {len(skipped)} file(s): {', '.join(reasons)}" if skipped else ""
        raise InvalidUpload(f"the ZIP holds no images{what}; {HOW_TO} (PNG, JPEG, GIF, BMP, TIFF or WebP)")
    decoded = Decoded("zip", images, labels, classes, len(skipped), skipped[:_EXAMPLES_KEPT])
    if skipped:
        decoded.warnings.append(f"skipped {len(skipped)} file(s) that are not usable images (see skipped_files)")
    return decoded


def _halves(image: Image.Image, name: str) -> list[tuple[Image.Image, str]]:
    """pix2pix's side-by-side image: A on the left, B on the right, each a square."""
    width, height = image.size
    if width != 2 * height:
        raise InvalidUpload(f"{name} is {width}x{height}; layout side-by-side needs images twice as wide as high "
                            "(A on the left, B on the right)")
    return [(image.crop((0, 0, height, height)), f"{name}#A"), (image.crop((height, 0, width, height)), f"{name}#B")]


def _domain_folders(classes: list[str], layout: str | None) -> tuple[str, str] | None:
    """The folders holding domains A and B, when the layout is (or, by default, looks like) two domains."""
    lower = {name.lower(): name for name in classes}
    for a, b in (("a", "b"), ("traina", "trainb")):
        if a in lower and b in lower:
            rest = set(lower) - {a, b} - ({"testa", "testb"} if a == "traina" else set())
            if layout == "domains" or (layout is None and not rest):
                return lower[a], lower[b]
    if layout == "domains":
        raise InvalidUpload(f"layout domains needs folders A/ and B/ (or trainA/ and trainB/); the ZIP's folders are "
                            f"{', '.join(classes) or 'none'}")
    return None


def _two_domains(images: np.ndarray, labels: np.ndarray, classes: list[str], folders: tuple[str, str],
                 sources: list[str], skipped: list[dict]) -> Decoded:
    """Domain A's and B's images; paired (B in A's order) when both folders hold the same file names."""
    a_index, b_index = (np.flatnonzero(labels == classes.index(name)) for name in folders)
    ignored = len(images) - len(a_index) - len(b_index)
    if len(a_index) == 0 or len(b_index) == 0:
        empty = folders[0] if len(a_index) == 0 else folders[1]
        raise InvalidUpload(f"folder {empty}/ holds no images; a translator needs images of both domains")
    names_a = [sources[i].rsplit("/", 1)[-1] for i in a_index]
    names_b = {sources[i].rsplit("/", 1)[-1]: i for i in b_index}
    paired = len(names_a) == len(names_b) == len(set(names_a)) and set(names_a) == set(names_b)
    if paired:
        b_index = np.array([names_b[name] for name in names_a])
    decoded = Decoded("zip", images, np.full(len(images), -1, np.int64), [], len(skipped), skipped[:_EXAMPLES_KEPT])
    decoded.domains = images[a_index], images[b_index], paired
    if not paired:
        decoded.warnings.append(f"{folders[0]}/ and {folders[1]}/ do not hold the same file names, so the set is "
                                "unpaired (for CycleGAN); give both folders the same names to pair them (pix2pix)")
    if ignored:
        decoded.warnings.append(f"skipped {ignored} image(s) outside {folders[0]}/ and {folders[1]}/ (e.g. testA/, "
                                "testB/): upload them as their own data set to score a model on them")
    return decoded


def _labels_from_folders(folders: list[list[str]]) -> tuple[np.ndarray, list[str], list[int]]:
    """Folder under the common root = class (ImageFolder's convention); flat means unlabelled.

    Returns (labels, classes, indices of images at the root of a class layout)."""
    common = 0
    while folders and all(len(f) > common for f in folders) and len({f[common] for f in folders}) == 1:
        common += 1  # a ZIP of the folder itself wraps everything in one top folder: look inside it
    names = [f[common] if len(f) > common else None for f in folders]
    if all(name is None for name in names):
        return np.full(len(folders), -1, dtype=np.int64), [], []
    classes = sorted({name for name in names if name is not None})
    index = {name: i for i, name in enumerate(classes)}
    labels = np.array([index.get(name, -1) for name in names], dtype=np.int64)
    return labels, classes, [i for i, name in enumerate(names) if name is None]


def _check_declared_sizes(entries: list[zipfile.ZipInfo], limits: UploadLimits) -> None:
    """Refuses a ZIP whose own directory says it is too large, before inflating anything. The sizes may lie
    low: _read_entry counts what actually comes out too (and zipfile stops at the declared size)."""
    for entry in entries:
        if entry.file_size > limits.max_entry_bytes:
            raise UploadTooLarge(f"ZIP entry {entry.filename!r} unpacks to more than {limits.max_entry_bytes:,} "
                                 f"bytes (the server's max_entry_bytes; it declares {entry.file_size:,})")
    total = sum(entry.file_size for entry in entries)
    if total > limits.max_uncompressed_bytes:
        raise UploadTooLarge(f"the upload unpacks to more than {limits.max_uncompressed_bytes:,} bytes (the "
                             f"server's max_uncompressed_bytes; its files declare {total:,}); split it into smaller "
                             "data sets")


def _read_entry(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, budget: _Budget, limits: UploadLimits) -> bytes:
    out = bytearray()
    try:
        with archive.open(entry) as stream:
            while chunk := stream.read(_CHUNK):
                out += chunk
                budget.spend(len(chunk))
                if len(out) > limits.max_entry_bytes:
                    raise UploadTooLarge(f"ZIP entry {entry.filename!r} unpacks to more than "
                                         f"{limits.max_entry_bytes:,} bytes (the server's max_entry_bytes)")
    except _ZIP_ERRORS as exc:
        raise InvalidUpload(f"ZIP entry {entry.filename!r} cannot be read ({exc}); the ZIP is corrupt, "
                            "encrypted or uses an unsupported compression: zip it again") from None
    return bytes(out)


def _open_image(data: bytes, where: str, options: UploadOptions,
                limits: UploadLimits) -> tuple[Image.Image | None, str | None]:
    """(image, None), or (None, why it was skipped). Refuses image bombs before decoding their pixels."""
    Image.MAX_IMAGE_PIXELS = limits.max_image_pixels  # Pillow's own bomb check, at the server's limit
    try:
        image = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
        width, height = image.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UploadTooLarge(f"{where} declares more than {limits.max_image_pixels:,} pixels (the server's "
                             "max_image_pixels): refused as a possible decompression bomb") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None, "not an image"
    if width * height > limits.max_image_pixels:
        raise UploadTooLarge(f"{where} is {width}x{height} = {width * height:,} pixels, over the server's "
                             f"max_image_pixels of {limits.max_image_pixels:,}; shrink it first")
    if width < 1 or height < 1:
        return None, "image without pixels"
    try:
        if options.image_size:
            image.draft("RGB", (options.image_size, options.image_size))  # JPEG: decode at a reduced scale
        image.load()
        return ImageOps.exif_transpose(image), None
    except (OSError, SyntaxError, ValueError, zlib.error) as exc:
        return None, f"unreadable image ({exc})"


def _from_npz(archive: zipfile.ZipFile, names: set[str], options: UploadOptions, limits: UploadLimits) -> Decoded:
    budget = _Budget(limits)
    images = _read_npz_member(archive, "images", lambda s: _read_images(s, options, limits, budget))
    labels = None
    if "labels.npy" in names:
        labels = _read_npz_member(archive, "labels", lambda s: _read_labels(s, len(images), limits, budget))
    ignored = sorted(name.removesuffix(".npy") for name in names - {"images.npy", "labels.npy"})
    warnings = [f"ignored arrays other than images and labels: {', '.join(ignored)}"] if ignored else []
    return _from_arrays("npz", images, labels, options, limits, warnings)


def _read_npz_member(archive: zipfile.ZipFile, name: str, read) -> np.ndarray:
    try:
        with archive.open(f"{name}.npy") as stream:
            return read(stream)
    except _ZIP_ERRORS as exc:
        raise InvalidUpload(f"the NPZ is corrupt: `{name}` cannot be read ({exc}); save it again with "
                            "numpy.savez or numpy.savez_compressed") from None


def _read_images(stream, options: UploadOptions, limits: UploadLimits, budget: _Budget,
                 what: str = "`images`") -> np.ndarray:
    """Parses a .npy by hand instead of np.load, whose header is trusted: everything the header declares is checked
    against the caps before a byte of data is read or allocated."""
    header = read_header(stream, what)
    check_images(header, options, limits)
    _check_bytes(header, what, limits, budget)
    return read_data(stream, header, what, budget.spend)


def _read_labels(stream, n: int, limits: UploadLimits, budget: _Budget) -> np.ndarray:
    header = read_header(stream, "`labels`")
    check_labels(header, n)
    _check_bytes(header, "`labels`", limits, budget)
    return read_data(stream, header, "`labels`", budget.spend)


def _check_bytes(header: ArrayHeader, what: str, limits: UploadLimits, budget: _Budget) -> None:
    """The declared size against the caps: an array is read whole, so it is held to one ZIP entry's cap too."""
    if budget.used + header.nbytes > limits.max_uncompressed_bytes:
        budget.spend(header.nbytes)  # refuses with the usual message
    if header.nbytes > limits.max_entry_bytes:
        raise UploadTooLarge(f"{what} declares shape {list(header.shape)} of {header.dtype}, {header.nbytes:,} "
                             f"bytes: more than {limits.max_entry_bytes:,} (the server's max_entry_bytes); "
                             "split it into smaller uploads")


def _from_arrays(fmt: str, images: np.ndarray, labels: np.ndarray | None, options: UploadOptions,
                 limits: UploadLimits, warnings: list[str]) -> Decoded:
    """Arrays whose header check_images passed, brought image by image to the data set's shape."""
    if images.ndim == 3:
        images = images[..., None]
    n, channels = images.shape[0], images.shape[-1]
    label_ids, classes = _labels_from_array(labels, n)
    collector = _Collector(options, limits)
    for i in range(n):
        pixels = images[i, :, :, 0] if channels == 1 else images[i]
        collector.add(Image.fromarray(np.ascontiguousarray(pixels)), f"images[{i}]")
    return Decoded(fmt, collector.stack(), label_ids, classes, warnings=warnings)


def _labels_from_array(labels: np.ndarray | None, n: int) -> tuple[np.ndarray, list[str]]:
    if labels is None:
        return np.full(n, -1, dtype=np.int64), []
    values = labels.astype(str) if labels.dtype.kind == "S" else labels
    unique, inverse = np.unique(values, return_inverse=True)
    return inverse.astype(np.int64).reshape(n), [str(u) for u in unique]


def decode_images(path: Path, options: UploadOptions, limits: UploadLimits) -> Decoded:
    """A translator's input: one image file, or a ZIP or NPZ of images (labels and layout are ignored)."""
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(NPY_MAGIC) or head[:4] in ZIP_MAGIC:
        return decode_upload(path, options.model_copy(update={"layout": "classes"}), limits)
    if path.stat().st_size > limits.max_entry_bytes:
        raise UploadTooLarge(f"the image is over {limits.max_entry_bytes:,} bytes (the server's max_entry_bytes)")
    return decode_image_list([path.read_bytes()], options, limits)


def decode_image_list(blobs: list[bytes], options: UploadOptions, limits: UploadLimits) -> Decoded:
    """Encoded images (PNG, JPEG, ...) in the same shape an upload's are brought to; refuses any that is not one."""
    if len(blobs) > limits.max_images:
        raise UploadTooLarge(f"{len(blobs)} images, more than {limits.max_images} per request")
    collector = _Collector(options, limits)
    for i, blob in enumerate(blobs):
        where = "the image" if len(blobs) == 1 else f"image {i}"
        image, reason = _open_image(blob, where, options, limits)
        if image is None:
            raise InvalidUpload(f"{where} is not a usable image ({reason}); send PNG, JPEG, GIF, BMP, TIFF or WebP")
        collector.add(image, where)
    images = collector.stack()
    return Decoded("images", images, np.full(len(images), -1, np.int64), [])
