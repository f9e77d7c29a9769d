"""The formats samples come back in, each described once in FORMATS: its media type, what it holds, which
routes take it and how it is written. The request schemas, the API docs, the OpenAPI response types and
the checks before any work are all read from that table."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import torch
from fastapi import Response

from core.card import ModelCard
from models.plots import picture
from models.sampling import grid, png_bytes, to_pil
from service.api.problems import Problem
from service.serving.archives import Samples, Writer, in_memory, write_arrays, write_pngs

if TYPE_CHECKING:
    from service.serving.generation import GeneratorInputs

# Which routes take a format: generate and GET images (samples), interpolate and traverse (frames),
# augment (dataset: streamed, so only a format an archive writer can write chunk by chunk).
Use = Literal["samples", "frames", "dataset"]
Encoder = Callable[[torch.Tensor, "GeneratorInputs", dict, int | None], bytes]


@dataclass(frozen=True)
class Format:
    name: str
    media_type: str
    doc: str  # what a response in it holds, for the API docs
    encode: Encoder  # the whole response at once (generate, interpolate, traverse)
    uses: frozenset[str] = frozenset({"samples", "frames"})
    holds_one: bool = False  # one image (or one plot of points): refused for several
    images_only: bool = False  # nothing to put in it for a model that makes 2-D points
    archive: Writer | None = None  # writes it member by member: what augment streams
    dataset_doc: str | None = None  # what augment's archive in it holds

    def __post_init__(self):
        if "dataset" in self.uses and not (self.archive and self.dataset_doc):
            raise ValueError(f"format {self.name}: augment streams it, so it needs an archive writer and a dataset_doc")

    @property
    def attachment(self) -> bool:
        """An archive is a file to save, not something to show: it comes with a file name."""
        return self.archive is not None


def formats_for(use: Use) -> tuple[Format, ...]:
    return tuple(f for f in FORMATS.values() if use in f.uses)


def names(use: Use) -> tuple[str, ...]:
    """For the request schemas' Literal types."""
    return tuple(f.name for f in formats_for(use))


def describe(use: Use) -> str:
    """`name: what it holds; ...` for a format field's description."""
    return "; ".join(f"{f.name}: {f.dataset_doc if use == 'dataset' else f.doc}" for f in formats_for(use))


def responses(use: Use, what: str) -> dict:
    """The OpenAPI `responses` of a route answering in these formats: every media type it may send."""
    by_type: dict[str, list[str]] = {}
    for f in formats_for(use):
        by_type.setdefault(f.media_type, []).append(f.name)
    per_format = "; ".join(f"{either(fmts)}: {media}" for media, fmts in by_type.items())
    return {200: {"content": {media: {} for media in by_type}, "description": f"{what}, per `format`: {per_format}"}}


def either(words: list[str] | tuple[str, ...]) -> str:
    """'a', 'a or b', 'a, b or c'."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def default_format(count: int) -> str:
    return "png" if count == 1 else "grid"


def check_format(card: ModelCard, fmt: str, count: int) -> None:
    """Refuses, before any work, a format that cannot hold what this request makes."""
    spec = FORMATS[fmt]
    if spec.holds_one and count != 1:
        others = [f.name for f in formats_for("samples") if not f.holds_one]
        raise Problem(422, f"format {fmt} holds one image; this request makes {count}: use {either(others)}")
    if card.data_kind == "points" and spec.images_only:
        others = [f.name for f in FORMATS.values() if not f.images_only]
        raise Problem(422, f"format {fmt}: model {card.id} makes 2-D points, not images; use {either(others)} "
                           f"(a picture of points is a scatter plot)")


def respond(samples: torch.Tensor, inputs: GeneratorInputs, card: ModelCard, fmt: str, nrow: int | None) -> Response:
    """Runs in a worker thread: PNG and ZIP encoding take real CPU time. A grid is never wider than its
    images: a larger `nrow` is taken as "all in one row" (else a huge nrow would size a huge canvas)."""
    spec = FORMATS[fmt]
    nrow = min(nrow, samples.shape[0]) if nrow else nrow
    headers = inputs.headers(card.id)
    if spec.attachment:
        headers["Content-Disposition"] = f'attachment; filename="{card.id}.{fmt}"'
    return Response(spec.encode(samples, inputs, card, nrow), media_type=spec.media_type, headers=headers)


def how_made(inputs: GeneratorInputs, card: ModelCard) -> dict:
    """What a caller needs to make the same samples again."""
    labels = inputs.conditioning.get("labels")
    return {"model_id": card.id, "seed": inputs.seed, "truncation": inputs.truncation, "count": inputs.count,
            "labels": None if labels is None else [card.classes[i] for i in labels.tolist()]}


def _made(samples: torch.Tensor, inputs: GeneratorInputs, card: ModelCard) -> Samples:
    """Samples already made, as one chunk."""
    return Samples(card, inputs.count, lambda: [(0, inputs)], lambda _: samples)


def _picture(samples: torch.Tensor, inputs: GeneratorInputs, card: ModelCard, nrow: int | None) -> bytes:
    return png_bytes(picture(samples, nrow))


def _zip(samples: torch.Tensor, inputs: GeneratorInputs, card: ModelCard, nrow: int | None) -> bytes:
    return in_memory(write_pngs, _made(samples, inputs, card), how_made(inputs, card))


def _npz(samples: torch.Tensor, inputs: GeneratorInputs, card: ModelCard, nrow: int | None) -> bytes:
    return in_memory(write_arrays, _made(samples, inputs, card), None)


def _json(samples: torch.Tensor, inputs: GeneratorInputs, card: ModelCard, nrow: int | None) -> bytes:
    conditioning = {name: value.tolist() for name, value in inputs.conditioning.items()}
    codes = {k: conditioning[k] for k in ("categorical", "continuous") if k in conditioning}
    body = {"model_id": card.id, "seed": inputs.seed, "truncation": inputs.truncation,
            "latents": inputs.latents.tolist(), "labels": conditioning.get("labels"), "codes": codes or None}
    if "psi" in conditioning:
        body |= {"psi": conditioning["psi"], "psi_cutoff": conditioning["cutoff"]}
    if inputs.ws is not None:
        body["ws"] = inputs.ws.tolist()
    if samples.dim() == 2:
        body["points"] = samples.tolist()
    else:
        body["images"] = [base64.b64encode(png_bytes(image)).decode() for image in samples]
    return json.dumps(body).encode()


def _gif(samples: torch.Tensor, inputs: GeneratorInputs, card: ModelCard, nrow: int | None) -> bytes:
    """Frame k shows the k-th column of the grid: one image per frame for a single row."""
    columns = nrow or samples.shape[0]
    frames = [to_pil(grid(samples[k::columns], nrow=1) if samples.shape[0] > columns else samples[k])
              for k in range(columns)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=120, loop=0)
    return buffer.getvalue()


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("png", "image/png", "one image", _picture, uses=frozenset({"samples"}), holds_one=True),
    Format("grid", "image/png", "one PNG of all (`nrow` per row)", _picture),
    Format("zip", "application/zip", "one PNG per image + manifest.json", _zip, images_only=True,
           uses=frozenset({"samples", "frames", "dataset"}), archive=write_pngs,
           dataset_doc="a folder of PNGs per class + manifest.json"),
    Format("npz", "application/x-npz", "uint8 images N x H x W x C with labels, latents and codes", _npz,
           uses=frozenset({"samples", "frames", "dataset"}), archive=write_arrays,
           dataset_doc="images N x H x W x C, labels, latents, codes, classes and the manifest"),
    Format("json", "application/json", "base64 PNGs with the latents, labels and codes used", _json),
    Format("gif", "image/gif", "an animation of the frames", _gif, uses=frozenset({"frames"}), images_only=True),
)}
