"""The formats outputs come back in, each described once in FORMATS: its media type, what it holds on each route
that takes it, and how it is written. The request schemas, the API docs, the OpenAPI response types and the checks
before any work are all read from that table: generate, images, interpolate, traverse, augment, translate and
variations alike."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import torch
from fastapi import Response

from core.card import ModelCard
from models.plots import picture
from models.sampling import grid, png_bytes, to_pil
from service.api.problems import Problem
from service.serving.archives import Samples, Writer, in_memory, write_arrays, write_pngs
from service.serving.inputs import GeneratorInputs

# Which routes take a format: generate and GET images (samples), interpolate and traverse (frames), augment
# (dataset: streamed, so only a format an archive writer can write chunk by chunk), translate and variations.
Use = Literal["samples", "frames", "dataset", "translate", "variations"]
Encoder = Callable[[torch.Tensor, GeneratorInputs, ModelCard, int | None], bytes]


@dataclass(frozen=True)
class Format:
    name: str
    media_type: str
    docs: Mapping[Use, str]  # per route that takes it: what a response in it holds, for the API docs
    # The whole response at once, for samples and frames. Translate and variations encode their own outputs
    # (inputs beside outputs, a row per input), so they take only the name, media type and flags from here.
    encode: Encoder | None = None
    holds_one: bool = False  # one image (or one plot of points): refused for several
    images_only: bool = False  # nothing to put in it for a model that makes 2-D points
    archive: Writer | None = None  # writes it member by member: what augment and variations stream

    def __post_init__(self):
        if "dataset" in self.uses and not self.archive:
            raise ValueError(f"format {self.name}: augment streams it, so it needs an archive writer")
        if {"samples", "frames"} & self.uses and not self.encode:
            raise ValueError(f"format {self.name}: generate answers in it, so it needs an encoder")

    @property
    def uses(self) -> frozenset[str]:
        return frozenset(self.docs)

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
    return "; ".join(f"{f.name}: {f.docs[use]}" for f in formats_for(use))


def media_types(use: Use) -> dict[str, str]:
    """Format name -> media type, for the formats a route takes."""
    return {f.name: f.media_type for f in formats_for(use)}


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


def _generated(doc: str) -> dict[str, str]:
    """The same account for generate's images and for interpolate's and traverse's frames."""
    return {"samples": doc, "frames": doc}


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("png", "image/png", {
        "samples": "one image",
        "translate": "one image (for one input)",
        "variations": "the one variation of one input with n 1",
    }, _picture, holds_one=True),
    Format("grid", "image/png", {
        **_generated("one PNG of all (`nrow` per row)"),
        "translate": "one PNG of all outputs, or with `pairs`, each input beside its output",
        "variations": "one PNG, a row per input: the input (as the model saw it), then its variations",
    }, _picture),
    Format("zip", "application/zip", {
        **_generated("one PNG per image + manifest.json"),
        "dataset": "a folder of PNGs per class + manifest.json",
        "translate": "one PNG per output + manifest.json",
        "variations": "a folder per class (`images` when unlabelled) of <input>-<variation>.png, manifest.json "
                      "last (streamed)",
    }, _zip, images_only=True, archive=write_pngs),
    Format("npz", "application/x-npz", {
        **_generated("uint8 images N x H x W x C with labels, latents and codes"),
        "dataset": "images N x H x W x C, labels, latents, codes, classes and the manifest",
        "translate": "uint8 `images` N x H x W x C and the `inputs` as the model saw them",
        "variations": "uint8 `images` N x H x W x C, `source` (the input of each), `latents`, and with labels "
                      "`labels` and `classes` (streamed)",
    }, _npz, archive=write_arrays),
    Format("json", "application/json", {
        **_generated("base64 PNGs with the latents, labels and codes used"),
        "translate": "base64 PNGs",
        "variations": "base64 PNGs, a list per input",
    }, _json),
    Format("gif", "image/gif", {"frames": "an animation of the frames"}, _gif, images_only=True),
)}
