"""POST /v1/models/{id}/variations: a variation model (DAGAN) makes `n` seeded variations of each image sent.

The images come in as /translate's do (one image, a ZIP or an NPZ as multipart, or base64 in JSON) and are
brought to the model's input shape the same way. A ZIP with a folder per class, an NPZ with `labels`, or JSON
`labels` make a labelled set: each variation keeps its input's label. As zip or npz the variations stream out
as a data set, a chunk at a time, in augment's layouts (a folder per class; images, labels, latents and the
index of each variation's input) - the augment mode that grows a small labelled set into a larger one.

Input j's variations use the noise latents_for_seed(n, latent_dim, seed + j): an image sent again at the
same place with the same seed gets the same variations.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import torch
from pydantic import Field, model_validator

from core.card import ModelCard
from core.datasets.decode import Decoded
from core.ids import utcnow
from core.spec import StrictModel
from models.plots import picture
from models.sampling import png_bytes, variation_latents
from service.api.problems import Problem
from service.api.schemas import exactly_one, json_rules
from service.serving.archives import Samples, streamed
from service.serving.augment import safe_folder
from service.serving.formats import FORMATS, describe, either, formats_for, media_types, names
from service.serving.inputs import GeneratorInputs
from service.serving.translation import OneImage, Resize, SeveralImages, request_body

VariationFormat = Literal[names("variations")]  # type: ignore[valid-type]
# From the format table; the route (service/api/routers/models.py) reads these two.
MEDIA_TYPES = media_types("variations")
FORMAT_DOC = f"{describe('variations')}. Default: grid"
STREAMED = tuple(f.name for f in formats_for("variations") if f.archive)  # a data set, a chunk at a time
EXAMPLE = "curl -F file=@my_digits.zip -F n=10 -F format=zip .../v1/models/{id}/variations -o more_digits.zip"
CHUNK_INPUTS = 16  # inputs per chunk of a streamed archive


class VariationOptions(StrictModel):
    n: int = Field(4, ge=1, le=256, description="Variations of each input")
    seed: int = Field(0, ge=0, lt=2**63, description="Input j's variations use the noise of seed + j")
    format: VariationFormat | None = Field(None, description=FORMAT_DOC)
    resize: Resize = "crop"


class VariationRequest(VariationOptions):
    """The JSON body: base64-encoded images, optionally their labels, and the options."""

    model_config = json_rules(exactly_one("image", "images"))

    image: OneImage = None
    images: SeveralImages = None
    labels: list[str] | None = Field(None, min_length=1, description="The class of each image (a labelled set: "
                                     "each variation keeps its input's class)")

    @model_validator(mode="after")
    def _one_label_per_image(self) -> VariationRequest:
        # Checked before any image is decoded; a body with both or neither of image/images is refused elsewhere.
        count = 1 if self.images is None else len(self.images)
        if self.labels is not None and (self.image is None) != (self.images is None) and len(self.labels) != count:
            raise ValueError(f"labels: one per image; got {len(self.labels)} for {count} images")
        return self


REQUEST_BODY = request_body(VariationOptions, VariationRequest, "One image, a ZIP of images (a folder per class "
                            "makes a labelled set) or an NPZ with a uint8 `images` array (and `labels`)")


@dataclass(frozen=True)
class VariationPlan:
    card: ModelCard
    inputs: torch.Tensor  # uint8 N x C x H x W, as the model takes them
    labels: torch.Tensor | None  # int64 N, indices into classes; None: unlabelled
    classes: list[str]
    options: VariationOptions

    @property
    def n(self) -> int:
        return self.options.n

    @property
    def total(self) -> int:
        return self.inputs.shape[0] * self.n

    @property
    def format(self) -> str:
        return self.options.format or "grid"

    def chunks(self) -> Iterator[tuple[int, GeneratorInputs]]:
        """(first variation's index, its inputs) per chunk: the source images, their noise and labels."""
        for first in range(0, self.inputs.shape[0], CHUNK_INPUTS):
            last = min(first + CHUNK_INPUTS, self.inputs.shape[0])
            source = torch.arange(first, last).repeat_interleave(self.n)
            latents = torch.cat([variation_latents(1, self.n, self.card.latent_dim, self.options.seed + j)
                                 for j in range(first, last)])
            conditioning = {"source": source}
            if self.labels is not None:
                conditioning["labels"] = self.labels[source]
            yield first * self.n, GeneratorInputs(latents, conditioning)

    def png_name(self, i: int) -> str:
        j, k = divmod(i, self.n)
        folder = "images" if self.labels is None else safe_folder(self.classes[self.labels[j]], int(self.labels[j]))
        return f"{folder}/{j:05d}-{k:03d}.png"

    def manifest(self) -> dict:
        counts = {}
        if self.labels is not None:
            counts = {name: int((self.labels == i).sum()) * self.n for i, name in enumerate(self.classes)}
        return {"model_id": self.card.id, "seed": self.options.seed, "variations_per_input": self.n,
                "inputs": self.inputs.shape[0], "total": self.total, "counts": counts or {"images": self.total},
                "format": self.format, "names": "<class>/<input>-<variation>.png; inputs in the order sent",
                "noise": "input j: latents_for_seed(n, latent_dim, seed + j)", "created_at": utcnow()}


def plan(card: ModelCard, decoded: Decoded, options: VariationOptions, json_labels: list[str] | None,
         max_images: int, max_archive_images: int) -> VariationPlan:
    inputs = torch.from_numpy(decoded.images)
    labels, classes = _labels(decoded, json_labels)
    fmt, total = options.format or "grid", inputs.shape[0] * options.n
    cap, what = (max_archive_images, "max_augment_images") if fmt in STREAMED else (max_images,
                                                                                     "max_images_per_request")
    if total > cap:
        raise Problem(422, f"{inputs.shape[0]} inputs x n {options.n} = {total} variations; format {fmt} holds at "
                           f"most {cap} (the server's {what})" +
                           ("" if fmt in STREAMED else f"; {' and '.join(STREAMED)} stream more"))
    if FORMATS[fmt].holds_one and total != 1:
        others = [f.name for f in formats_for("variations") if not f.holds_one]
        raise Problem(422, f"format {fmt} holds one image; this request makes {total}: use {either(others)}")
    return VariationPlan(card, inputs, labels, classes, options)


def _labels(decoded: Decoded, json_labels: list[str] | None) -> tuple[torch.Tensor | None, list[str]]:
    if json_labels is not None:  # as many as the images: VariationRequest checked
        classes = list(dict.fromkeys(json_labels))
        return torch.tensor([classes.index(name) for name in json_labels]), classes
    labels = torch.from_numpy(decoded.labels)
    if not decoded.classes or bool((labels < 0).any()):
        return None, []
    return labels, list(decoded.classes)


def respond(plan: VariationPlan, variations: torch.Tensor) -> tuple[bytes, str]:
    """The whole body of an in-memory format (png, grid, json) and its media type. A worker thread's work."""
    fmt = plan.format
    if fmt == "png":
        return png_bytes(variations[0]), FORMATS[fmt].media_type
    if fmt == "grid":
        rows = torch.cat([plan.inputs.unsqueeze(1), variations.view(plan.inputs.shape[0], plan.n,
                                                                    *variations.shape[1:])], dim=1)
        return png_bytes(picture(rows.flatten(0, 1), plan.n + 1)), FORMATS[fmt].media_type
    per_input = variations.view(plan.inputs.shape[0], plan.n, *variations.shape[1:])
    body = {"model_id": plan.card.id, "seed": plan.options.seed,
            "variations": [[base64.b64encode(png_bytes(image)).decode() for image in row] for row in per_input]}
    if plan.labels is not None:
        body["labels"] = [plan.classes[i] for i in plan.labels]
    return json.dumps(body).encode(), FORMATS[fmt].media_type


def archive(plan: VariationPlan, make: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
            on_images: Callable[[int], None]) -> Iterator[bytes]:
    """A zip or npz of the variations, streamed chunk by chunk (a sync generator: the server runs it in a
    thread). `make(images, latents)` runs the model."""
    card = plan.card.model_copy(update={"classes": plan.classes})  # the npz's `classes`: the inputs' classes
    samples = Samples(card, plan.total, plan.chunks,
                      lambda inputs: make(plan.inputs[inputs.conditioning["source"]], inputs.latents), plan.png_name)
    for made, data in streamed(FORMATS[plan.format].archive, samples, plan.manifest()):
        if made:
            on_images(made)
        yield data
