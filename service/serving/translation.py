"""POST /v1/models/{id}/translate: images in (one image, a ZIP or an NPZ as multipart or a raw body, or
base64 in JSON), the translator's outputs back as PNG, a grid, a ZIP, an NPZ or JSON.

Inputs go through the same decoder as data set uploads (the same caps against image and ZIP bombs), then
are brought to the model's input shape as an upload is: center-cropped to a square (or padded, with
`resize: pad`), resized with Lanczos, and made gray or RGB to match the model's channels.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import tempfile
import zipfile
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import torch
from fastapi import Request, Response
from pydantic import Field, ValidationError
from starlette.concurrency import run_in_threadpool

from core.card import ModelCard
from core.datasets import InvalidUpload, UploadLimits, UploadOptions, UploadTooLarge
from core.datasets.decode import NPY_MAGIC, ZIP_MAGIC, Decoded, decode_image_list, decode_images
from core.settings import Settings
from core.spec import StrictModel
from models.plots import picture
from models.sampling import as_shown, png_bytes
from service.api.problems import Problem
from service.api.schemas import exactly_one, json_rules
from service.api.uploads import UnparsedForm, receive_unparsed
from service.serving.formats import FORMATS, default_format, describe, either, formats_for, media_types, names

TranslateFormat = Literal[names("translate")]  # type: ignore[valid-type]
# From the format table; the route's OpenAPI responses (service/api/routers/models.py) read these two.
MEDIA_TYPES = media_types("translate")
FORMAT_DOC = f"{describe('translate')}. Default: png for one input, else grid"
EXAMPLE = "curl -F file=@horse.png -F direction=a2b .../v1/models/{id}/translate -o zebra.png"


# What /translate and /variations share: how an input is made square, and the JSON body's images.
Resize = Annotated[Literal["crop", "pad"], Field(description="How a non-square input becomes square: crop: "
                                                            "center-crop; pad: fit inside and pad with black")]
Base64Image = Annotated[str, Field(min_length=1)]
OneImage = Annotated[Base64Image | None, Field(description="One base64-encoded image")]
SeveralImages = Annotated[list[Base64Image] | None, Field(min_length=1, description="Several base64-encoded images")]


def request_body(options_model: type[StrictModel], json_model: type[StrictModel], file_doc: str) -> dict:
    """The OpenAPI request body of an image route: multipart `file` + the options, or the JSON model."""
    return {"requestBody": {"required": True, "content": {
        "multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {"file": {"type": "string", "format": "binary", "description": file_doc},
                           **options_model.model_json_schema()["properties"]}}},
        "application/json": {"schema": json_model.model_json_schema()},
    }}}


class TranslateOptions(StrictModel):
    direction: Literal["a2b", "b2a"] = Field("a2b", description="a2b: domain A to B; b2a (CycleGAN): B to A")
    format: TranslateFormat | None = Field(None, description=FORMAT_DOC)
    nrow: int | None = Field(None, ge=1, description="Images per row of a grid")
    pairs: bool = Field(False, description="grid: show each input (as the model saw it) beside its output")
    resize: Resize = "crop"


class TranslateRequest(TranslateOptions):
    """The JSON body: base64-encoded images (PNG, JPEG, ...; a `data:` URL prefix is fine) and the options."""

    model_config = json_rules(exactly_one("image", "images"))

    image: OneImage = None
    images: SeveralImages = None


REQUEST_BODY = request_body(TranslateOptions, TranslateRequest, "One image (PNG, JPEG, GIF, BMP, TIFF, WebP), a ZIP "
                            "of images or an NPZ with a uint8 `images` array")


def translate_limits(settings: Settings) -> UploadLimits:
    return UploadLimits(settings.max_uncompressed_bytes, settings.max_entry_bytes, settings.max_zip_entries,
                        settings.max_image_pixels, settings.max_images_per_request, settings.max_dataset_bytes,
                        "max_images_per_request", "send them in several requests")


async def read_request(request: Request, settings: Settings, options_model=TranslateOptions,
                       json_model=TranslateRequest, example: str = EXAMPLE):
    """(options, what holds the images: one uploaded file's bytes or a list of encoded images, the JSON body's
    other fields). Both bodies are capped at max_body_bytes and held in memory; decoding them is decode's work."""
    body = await receive(request, settings, example)
    # Parsing a form or a JSON document of up to max_body_bytes (and base64-decoding it) is CPU work: off the loop.
    return await run_in_threadpool(parse, body, settings.max_images_per_request, options_model, json_model)


async def receive(request: Request, settings: Settings, example: str = EXAMPLE) -> bytes | UnparsedForm:
    """The body, a JSON document's bytes or a multipart form held unparsed, for `parse` to read: the event loop
    looks at its media type only."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        return await request.body()
    if content_type == "multipart/form-data":
        return await receive_unparsed(request, settings.max_body_bytes, example)
    raise Problem(415, f"send the images as multipart/form-data with a `file` field ({example}), or as JSON "
                       "with base64 `image` / `images`")


def parse(body: bytes | UnparsedForm, cap: int, options_model=TranslateOptions, json_model=TranslateRequest):
    """read_request's answer for a body `receive` held: CPU work, for a worker thread."""
    if isinstance(body, UnparsedForm):
        return _from_form(body, options_model)
    return _from_json(body, cap, options_model, json_model)


def _from_form(body: UnparsedForm, options_model):
    upload = body.parse()
    fields = {k: v for k, v in upload.fields.items() if v != ""}
    try:
        # Form fields are text: lax validation reads "5" as 5 and "true" as True, as JSON would have them.
        options = options_model.model_validate(fields, strict=False)
    except ValidationError as exc:
        raise Problem(422, _errors(exc) + f" (form fields: {', '.join(options_model.model_fields)})") from None
    return options, upload.content, {}


def _from_json(raw: bytes, cap: int, options_model, json_model):
    try:
        body = json_model.model_validate_json(raw)
    except ValidationError as exc:
        raise Problem(422, _errors(exc)) from None
    if (body.image is None) == (body.images is None):
        raise Problem(422, "give exactly one of `image` (one base64 image) and `images` (a list of them)")
    texts = [body.image] if body.image is not None else body.images
    if len(texts) > cap:
        raise Problem(422, f"images: at most {cap} per request (the server's max_images_per_request); "
                           f"got {len(texts)}")
    options = options_model(**body.model_dump(include=set(options_model.model_fields)))
    rest = body.model_dump(exclude={"image", "images", *options_model.model_fields})
    return options, [image_bytes(text, i) for i, text in enumerate(texts)], rest


class Translation:
    """One request's work in its batch's thread (service.serving.batching): `prepare` reads its body (the form or
    the JSON document `receive` held) and decodes its images, `finish` encodes the outputs. The direction, a form
    field, is learnt there too: it goes with the inputs, and the batcher runs each direction's requests as one
    forward."""

    def __init__(self, body: bytes | UnparsedForm, card: ModelCard, settings: Settings):
        self.body, self.card = body, card
        self.cap, self.limits = settings.max_images_per_request, translate_limits(settings)
        self.options: TranslateOptions | None = None
        self.inputs: torch.Tensor | None = None

    def prepare(self) -> tuple[torch.Tensor, dict]:
        self.options, source, _ = parse(self.body, self.cap)
        self.inputs = decode(source, self.options, self.card, self.limits)
        check_format(self.options.format or "grid", self.inputs.shape[0])
        return self.inputs, {"direction": self.options.direction}

    def finish(self, outputs: torch.Tensor) -> Response:
        return respond(self.inputs, outputs, self.options, self.card)


def decode(source: bytes | list[bytes], options: TranslateOptions, card: ModelCard,
           limits: UploadLimits) -> torch.Tensor:
    """uint8 N x C x H x W in the shape the model's direction takes. Runs in a worker thread."""
    shapes = card.inputs.images or {}
    if options.direction not in shapes:
        raise Problem(422, f"direction: model {card.id} translates {either(list(shapes))} only; got "
                           f"{options.direction}")
    return torch.from_numpy(decode_inputs(source, shapes[options.direction], options.resize, limits).images)


def decode_inputs(source: bytes | list[bytes], shape: list[int], resize: str, limits: UploadLimits) -> Decoded:
    """Images (one uploaded file: an image, a ZIP or an NPZ; or a list of encoded images) brought to `shape`
    (C, H, W) as an upload's are, with the labels a ZIP's class folders or an NPZ's `labels` give (-1: none). Runs
    in a worker thread."""
    channels, size, _ = shape
    upload = UploadOptions(image_size=size, channels="gray" if channels == 1 else "rgb", resize=resize)
    try:
        if isinstance(source, list):
            decoded = decode_image_list(source, upload, limits)
        elif source.startswith(NPY_MAGIC) or source[:4] in ZIP_MAGIC:
            decoded = _decode_archive(source, upload, limits)
        elif len(source) > limits.max_entry_bytes:
            raise UploadTooLarge(f"the image is over {limits.max_entry_bytes:,} bytes (the server's max_entry_bytes)")
        else:
            decoded = decode_image_list([source], upload, limits)
    except UploadTooLarge as exc:
        raise Problem(413, str(exc)) from None
    except InvalidUpload as exc:
        raise Problem(422, str(exc)) from None
    if len(decoded.images) > limits.max_images:
        raise Problem(422, f"at most {limits.max_images} images per request; got {len(decoded.images)}")
    return decoded


def _decode_archive(content: bytes, upload: UploadOptions, limits: UploadLimits) -> Decoded:
    """A ZIP or NPZ: the decoder reads those from a file (in this worker thread, never on the event loop)."""
    with tempfile.NamedTemporaryFile(prefix="ganforge-translate-", suffix=".upload") as spooled:
        spooled.write(content)
        spooled.flush()
        return decode_images(Path(spooled.name), upload, limits)


def check_format(fmt: str, count: int) -> None:
    if FORMATS[fmt].holds_one and count != 1:
        others = [f.name for f in formats_for("translate") if not f.holds_one]
        raise Problem(422, f"format {fmt} holds one image; this request has {count} inputs: use {either(others)}")


def respond(inputs: torch.Tensor, outputs: torch.Tensor, options: TranslateOptions, card: ModelCard) -> Response:
    """Encodes the outputs (a worker thread: PNG and ZIP encoding take real CPU time)."""
    fmt = options.format or default_format(outputs.shape[0])
    check_format(fmt, outputs.shape[0])
    headers = {"X-Model-Id": card.id, "X-Image-Count": str(outputs.shape[0]), "X-Direction": options.direction}
    if FORMATS[fmt].attachment:
        headers["Content-Disposition"] = f'attachment; filename="{card.id}-{options.direction}.{fmt}"'
    if fmt in ("png", "grid"):
        body = png_bytes(picture(_with_inputs(inputs, outputs) if options.pairs else outputs, _nrow(options,
                                                                                                     outputs)))
    elif fmt == "zip":
        body = _zip(outputs, options, card)
    elif fmt == "npz":
        buffer = io.BytesIO()
        np.savez(buffer, images=outputs.permute(0, 2, 3, 1).numpy(), inputs=inputs.permute(0, 2, 3, 1).numpy())
        body = buffer.getvalue()
    else:
        body = json.dumps({"model_id": card.id, "direction": options.direction,
                           "images": [base64.b64encode(png_bytes(image)).decode() for image in outputs]}).encode()
    return Response(body, media_type=FORMATS[fmt].media_type, headers=headers)


def _nrow(options: TranslateOptions, outputs: torch.Tensor) -> int | None:
    if options.pairs:  # whole pairs per row: an even count
        return 2 * min(options.nrow or 4, outputs.shape[0])
    return min(options.nrow, outputs.shape[0]) if options.nrow else None


def _with_inputs(inputs: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
    shown = as_shown(inputs.float(), outputs.shape).round().to(torch.uint8)
    return torch.stack([shown, outputs], dim=1).flatten(0, 1)


def _zip(outputs: torch.Tensor, options: TranslateOptions, card: ModelCard) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for i, image in enumerate(outputs):
            archive.writestr(f"{i:05d}.png", png_bytes(image))
        archive.writestr("manifest.json", json.dumps({"model_id": card.id, "direction": options.direction,
                                                      "count": outputs.shape[0],
                                                      "files": "outputs in the order of the inputs"}))
    return buffer.getvalue()


def image_bytes(text: str, index: int) -> bytes:
    if text.startswith("data:"):
        text = text.split(",", 1)[-1]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise Problem(422, f"images[{index}] is not valid base64") from None


def _errors(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())
