"""Synthetic data sets streamed out of a generator: a ZIP with a folder of PNGs per class, or an NPZ.

Images are made and sent a chunk at a time, so memory stays flat however many are asked for. Each
chunk draws its latents from a seed derived from the request's seed and the chunk's number, so the
same request (model, seed, truncation, counts) makes the same data set again.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from models.inputs import draw_codes
from models.sampling import latents_for_seed, png_bytes
from service.archives import open_array, write_array, write_bytes
from service.formats import channels_last
from service.generation import GeneratorInputs, label_index, new_seed
from service.generators import LoadedGenerator
from service.problems import Problem
from service.schemas import AugmentRequest
from worker.registry import utcnow

# Part of how a data set is made (which seed draws which image), so a constant, not a setting.
CHUNK_IMAGES = 256


def chunk_seed(seed: int, chunk: int) -> int:
    digest = hashlib.blake2b(f"{seed}:{chunk}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1  # below 2**63, as every seed we take


@dataclass(frozen=True)
class AugmentPlan:
    card: dict
    counts: tuple[int, ...]  # per class index, in class order; one entry for an unconditional model
    seed: int
    truncation: float | None

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def conditional(self) -> bool:
        return bool((self.card.get("inputs") or {}).get("labels"))

    def folders(self) -> list[str]:
        if not self.conditional:
            return ["images"]
        return [_safe_folder(name, i) for i, name in enumerate(self.card["classes"])]

    def labels(self, start: int, stop: int) -> torch.Tensor:
        """The class index of images start..stop-1: all of class 0 first, then class 1, and so on."""
        ends = torch.tensor(self.counts).cumsum(0)
        return torch.searchsorted(ends, torch.arange(start, stop), right=True)

    def chunks(self) -> Iterator[tuple[int, GeneratorInputs]]:
        """(first image index, inputs) of each chunk, in order."""
        codes = (self.card.get("inputs") or {}).get("codes") or {}
        for k, start in enumerate(range(0, self.total, CHUNK_IMAGES)):
            stop = min(start + CHUNK_IMAGES, self.total)
            seed = chunk_seed(self.seed, k)
            latents = latents_for_seed(stop - start, self.card["latent_dim"], seed, self.truncation)
            conditioning = {}
            if self.conditional:
                conditioning["labels"] = self.labels(start, stop)
            # InfoGAN: the categories in turn (continuing across chunks), continuous codes from their prior
            conditioning.update(draw_codes(stop - start, codes.get("categorical") or 0, codes.get("continuous") or 0,
                                           torch.Generator().manual_seed(seed ^ 1), cycle=True, offset=start))
            yield start, GeneratorInputs(latents, conditioning)

    def manifest(self, fmt: str) -> dict:
        names = self.card["classes"] if self.conditional else ["images"]
        return {"model_id": self.card["id"], "seed": self.seed, "truncation": self.truncation,
                "counts": dict(zip(names, self.counts, strict=True)), "total": self.total, "format": fmt,
                "chunk_images": CHUNK_IMAGES, "chunk_seeds": "blake2b-64 of '<seed>:<chunk>', shifted right by 1",
                "created_at": utcnow()}


def plan_augment(card: dict, request: AugmentRequest, cap: int) -> AugmentPlan:
    classes = (card.get("inputs") or {}).get("labels")
    if request.counts is not None:
        if not classes:
            raise Problem(422, f"counts: model {card['id']} is unconditional; ask for a total instead")
        counts = [0] * len(classes)
        for name, count in request.counts.items():
            index = label_index(classes, name)
            if counts[index]:
                raise Problem(422, f"counts: class {classes[index]!r} is given twice (by name and by index?)")
            counts[index] = count
    elif classes:  # balanced: the remainder goes to the first classes
        share, extra = divmod(request.total, len(classes))
        counts = [share + (i < extra) for i in range(len(classes))]
    else:
        counts = [request.total]
    total = sum(counts)
    if total == 0:
        raise Problem(422, "counts: ask for at least one image")
    if total > cap:
        raise Problem(422, f"augment: at most {cap} images per request (the server's max_augment_images); "
                           f"got {total}")
    seed = new_seed() if request.seed is None else request.seed
    return AugmentPlan(card, tuple(counts), seed, request.truncation)


def stream(plan: AugmentPlan, loaded: LoadedGenerator, fmt: str, on_images: Callable[[int], None]) -> Iterator[bytes]:
    """The archive's bytes as they are made (a sync generator: the server runs it in a thread)."""
    spool = _Spool()
    manifest = json.dumps(plan.manifest(fmt), indent=2)
    with zipfile.ZipFile(spool, "w", zipfile.ZIP_STORED) as archive:  # PNG and raw arrays gain little from deflate
        if fmt == "zip":
            for _ in _write_pngs(plan, loaded, archive, on_images):
                yield spool.drain()
            write_bytes(archive, "manifest.json", manifest)
        else:
            for _ in _write_arrays(plan, loaded, archive, on_images):
                yield spool.drain()
            write_array(archive, "manifest", np.array(manifest))  # every NPZ member must be an array
    yield spool.drain()


def _write_pngs(plan: AugmentPlan, loaded: LoadedGenerator, archive: zipfile.ZipFile, on_images) -> Iterator[None]:
    folders, first_of_class = plan.folders(), np.cumsum([0, *plan.counts])
    for start, inputs in plan.chunks():
        images = loaded.images(inputs.latents, inputs.conditioning)
        labels = plan.labels(start, start + len(images)).tolist()
        for offset, (image, label) in enumerate(zip(images, labels, strict=True)):
            name = f"{folders[label]}/{start + offset - first_of_class[label]:06d}.png"
            write_bytes(archive, name, png_bytes(image))
        on_images(len(images))
        yield


def _write_arrays(plan: AugmentPlan, loaded: LoadedGenerator, archive: zipfile.ZipFile, on_images) -> Iterator[None]:
    """NPZ members one after another, each written a chunk at a time (an NPZ is a ZIP of .npy files)."""
    channels, height, width = plan.card["image_shape"]
    with open_array(archive, "images", np.uint8, (plan.total, height, width, channels)) as entry:
        for _, inputs in plan.chunks():
            images = loaded.images(inputs.latents, inputs.conditioning)
            entry.write(channels_last(images).tobytes())
            on_images(len(images))
            yield
    # The other arrays are cheap to draw again chunk by chunk rather than keep.
    with open_array(archive, "latents", np.float32, (plan.total, plan.card["latent_dim"])) as entry:
        for _, inputs in plan.chunks():
            entry.write(inputs.latents.numpy().tobytes())
        yield
    first = next(plan.chunks())[1].conditioning
    for name, value in first.items():
        dtype = np.int64 if value.dtype == torch.long else np.float32
        with open_array(archive, name, dtype, (plan.total, *value.shape[1:])) as entry:
            for _, inputs in plan.chunks():
                entry.write(inputs.conditioning[name].numpy().astype(dtype).tobytes())
        yield
    if plan.conditional:
        write_array(archive, "classes", np.array(plan.card["classes"]))


def _safe_folder(name: str, index: int) -> str:
    cleaned = name.replace("/", "_").replace("\\", "_").strip()
    return cleaned if cleaned not in ("", ".", "..") else f"class_{index}"


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
