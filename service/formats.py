"""Generated samples as the bytes a caller asked for: PNG, a grid, a ZIP of PNGs, NPZ arrays, JSON, GIF."""

from __future__ import annotations

import base64
import io
import json
import zipfile

import numpy as np
import torch
from fastapi import Response

from models.plots import picture
from models.sampling import grid, png_bytes, to_pil
from service.archives import write_array, write_bytes
from service.generation import GeneratorInputs
from service.problems import Problem

MEDIA_TYPES = {"png": "image/png", "grid": "image/png", "gif": "image/gif", "zip": "application/zip",
               "npz": "application/x-npz", "json": "application/json"}
# Responses a client saves as a file rather than shows.
_ATTACHMENTS = {"zip", "npz"}


def default_format(count: int) -> str:
    return "png" if count == 1 else "grid"


def check_format(card: dict, fmt: str, count: int) -> None:
    """Refuses, before any work, a format that cannot hold what this request makes."""
    if fmt == "png" and count != 1:
        raise Problem(422, f"format png holds one image; this request makes {count}: use grid, zip, npz or json")
    if card.get("kind") == "points" and fmt in ("zip", "gif"):
        raise Problem(422, f"format {fmt}: model {card['id']} makes 2-D points, not images; use png (a scatter "
                           f"plot), npz or json")


def respond(samples: torch.Tensor, inputs: GeneratorInputs, card: dict, fmt: str, nrow: int | None) -> Response:
    """Runs in a worker thread: PNG and ZIP encoding take real CPU time."""
    body = _ENCODERS[fmt](samples, inputs, card, nrow)
    headers = inputs.headers(card["id"])
    if fmt in _ATTACHMENTS:
        headers["Content-Disposition"] = f'attachment; filename="{card["id"]}.{fmt}"'
    return Response(body, media_type=MEDIA_TYPES[fmt], headers=headers)


def channels_last(images: torch.Tensor) -> np.ndarray:
    """uint8 NCHW to N x H x W x C, the layout image libraries and our NPZ upload take."""
    return images.permute(0, 2, 3, 1).contiguous().numpy()


def how_made(inputs: GeneratorInputs, card: dict) -> dict:
    """What a caller needs to make the same samples again."""
    labels = inputs.conditioning.get("labels")
    return {"model_id": card["id"], "seed": inputs.seed, "truncation": inputs.truncation, "count": inputs.count,
            "labels": None if labels is None else [card["classes"][i] for i in labels.tolist()]}


def _picture(samples: torch.Tensor, inputs: GeneratorInputs, card: dict, nrow: int | None) -> bytes:
    return png_bytes(picture(samples, nrow))


def _zip(samples: torch.Tensor, inputs: GeneratorInputs, card: dict, nrow: int | None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:  # PNGs are compressed already
        for i, image in enumerate(samples):
            write_bytes(archive, f"{i:06d}.png", png_bytes(image))
        write_bytes(archive, "manifest.json", json.dumps(how_made(inputs, card), indent=2))
    return buffer.getvalue()


def _npz(samples: torch.Tensor, inputs: GeneratorInputs, card: dict, nrow: int | None) -> bytes:
    arrays = {"points": samples.numpy()} if samples.dim() == 2 else {"images": channels_last(samples)}
    arrays["latents"] = inputs.latents.numpy()
    for name, value in inputs.conditioning.items():
        arrays[name] = value.numpy()
    if "labels" in arrays:
        arrays["classes"] = np.array(card["classes"])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            write_array(archive, name, array)
    return buffer.getvalue()


def _json(samples: torch.Tensor, inputs: GeneratorInputs, card: dict, nrow: int | None) -> bytes:
    conditioning = {name: value.tolist() for name, value in inputs.conditioning.items()}
    codes = {k: conditioning[k] for k in ("categorical", "continuous") if k in conditioning}
    body = {"model_id": card["id"], "seed": inputs.seed, "truncation": inputs.truncation,
            "latents": inputs.latents.tolist(), "labels": conditioning.get("labels"), "codes": codes or None}
    if samples.dim() == 2:
        body["points"] = samples.tolist()
    else:
        body["images"] = [base64.b64encode(png_bytes(image)).decode() for image in samples]
    return json.dumps(body).encode()


def _gif(samples: torch.Tensor, inputs: GeneratorInputs, card: dict, nrow: int | None) -> bytes:
    """Frame k shows the k-th column of the grid: one image per frame for a single row."""
    columns = nrow or samples.shape[0]
    frames = [to_pil(grid(samples[k::columns], nrow=1) if samples.shape[0] > columns else samples[k])
              for k in range(columns)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=120, loop=0)
    return buffer.getvalue()


_ENCODERS = {"png": _picture, "grid": _picture, "zip": _zip, "npz": _npz, "json": _json, "gif": _gif}
