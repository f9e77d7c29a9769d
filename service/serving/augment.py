"""Synthetic data sets streamed out of a generator: a ZIP with a folder of PNGs per class, or an NPZ.

Images are made and sent a chunk at a time, so memory stays flat however many are asked for. Each
chunk draws its latents from a seed derived from the request's seed and the chunk's number, so the
same request (model, seed, truncation, counts) makes the same data set again.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import accumulate

import torch

from core.card import ModelCard
from core.ids import utcnow
from models.inputs import draw_codes
from models.sampling import latents_for_seed
from service.api.problems import Problem
from service.api.schemas import AugmentRequest
from service.serving.archives import Samples, streamed
from service.serving.formats import FORMATS
from service.serving.generation import label_index, new_seed, style_conditioning
from service.serving.generators import LoadedGenerator
from service.serving.inputs import GeneratorInputs

# Part of how a data set is made (which seed draws which image), so a constant, not a setting.
CHUNK_IMAGES = 256


def chunk_seed(seed: int, chunk: int) -> int:
    digest = hashlib.blake2b(f"{seed}:{chunk}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1  # below 2**63, as every seed we take


@dataclass(frozen=True)
class AugmentPlan:
    card: ModelCard
    counts: tuple[int, ...]  # per class index, in class order; one entry for an unconditional model
    seed: int
    truncation: float | None
    psi: float | None = None  # style-based models' truncation towards the mean w
    psi_cutoff: int | None = None

    @property
    def warning(self) -> str | None:
        """What the model's augmentation report measured of plain synthetic data, when it measured a loss."""
        report = self.card.metrics.get("augmentation") or {}
        verdict = report.get("synthetic_verdict")
        if not verdict:
            return None
        return (f"augmentation report {report['evaluation_id']} measured synthetic data from this model lowering "
                f"a classifier's balanced accuracy on {report['dataset']} (best plain row {verdict['row']}: "
                f"{100 * verdict['change']:+.1f} points); mix recommended gives the mix it recommends")

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def conditional(self) -> bool:
        return self.card.conditional

    def folders(self) -> list[str]:
        if not self.conditional:
            return ["images"]
        return [safe_folder(name, i) for i, name in enumerate(self.card.classes)]

    def labels(self, start: int, stop: int) -> torch.Tensor:
        """The class index of images start..stop-1: all of class 0 first, then class 1, and so on."""
        ends = torch.tensor(self.counts).cumsum(0)
        return torch.searchsorted(ends, torch.arange(start, stop), right=True)

    def chunks(self) -> Iterator[tuple[int, GeneratorInputs]]:
        """(first image index, inputs) of each chunk, in order."""
        codes = self.card.inputs.codes
        for k, start in enumerate(range(0, self.total, CHUNK_IMAGES)):
            stop = min(start + CHUNK_IMAGES, self.total)
            seed = chunk_seed(self.seed, k)
            latents = latents_for_seed(stop - start, self.card.latent_dim, seed, self.truncation)
            conditioning = {}
            if self.conditional:
                conditioning["labels"] = self.labels(start, stop)
            # InfoGAN: the categories in turn (continuing across chunks), continuous codes from their prior
            if codes:
                conditioning.update(draw_codes(stop - start, codes.categorical, codes.continuous,
                                               torch.Generator().manual_seed(seed ^ 1), cycle=True, offset=start))
            conditioning |= style_conditioning(self.card, self.psi, self.psi_cutoff, stop - start)
            yield start, GeneratorInputs(latents, conditioning)

    def manifest(self, fmt: str) -> dict:
        names = self.card.classes if self.conditional else ["images"]
        styles = {"psi": self.psi, "psi_cutoff": self.psi_cutoff} if self.card.inputs.styles else {}
        return {"model_id": self.card.id, "seed": self.seed, "truncation": self.truncation, **styles,
                "counts": dict(zip(names, self.counts, strict=True)), "total": self.total, "format": fmt,
                "chunk_images": CHUNK_IMAGES, "chunk_seeds": "blake2b-64 of '<seed>:<chunk>', shifted right by 1",
                **({"warning": self.warning} if self.warning else {}), "created_at": utcnow()}


def plan_augment(card: ModelCard, request: AugmentRequest, cap: int) -> AugmentPlan:
    classes = card.inputs.labels
    if request.counts is not None:
        if not classes:
            raise Problem(422, f"counts: model {card.id} is unconditional; ask for a total instead")
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
    style_conditioning(card, request.psi, request.psi_cutoff, 1)  # refused here, before the stream starts
    return AugmentPlan(card, tuple(counts), seed, request.truncation, request.psi, request.psi_cutoff)


def stream(plan: AugmentPlan, loaded: LoadedGenerator, fmt: str, on_images: Callable[[int], None]) -> Iterator[bytes]:
    """The archive's bytes as they are made (a sync generator: the server runs it in a thread)."""
    def make(inputs: GeneratorInputs) -> torch.Tensor:
        return loaded.images(inputs.latents, inputs.conditioning)

    samples = Samples(plan.card, plan.total, plan.chunks, make, _png_names(plan))
    for made, data in streamed(FORMATS[fmt].archive, samples, plan.manifest(fmt)):
        if made:
            on_images(made)
        yield data


def _png_names(plan: AugmentPlan) -> Callable[[int], str]:
    """Image i of the data set goes in its class's folder, numbered from 0 within the class."""
    folders, ends = plan.folders(), list(accumulate(plan.counts))

    def name(i: int) -> str:
        label = bisect_right(ends, i)
        return f"{folders[label]}/{i - (ends[label] - plan.counts[label]):06d}.png"
    return name


def safe_folder(name: str, index: int) -> str:
    cleaned = name.replace("/", "_").replace("\\", "_").strip()
    return cleaned if cleaned not in ("", ".", "..") else f"class_{index}"
