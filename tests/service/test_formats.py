"""The format table (service/formats.py) is what the API documents and accepts, route by route."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import torch

from core.kinds import card_for
from core.settings import Settings
from models.gan import GANConfig
from service.api.app import create_app
from service.serving.archives import Samples, in_memory, streamed, write_arrays, write_pngs
from service.serving.formats import formats_for
from service.serving.inputs import GeneratorInputs

ROUTES = {"samples": ["/v1/models/{model_id}/generate", "/v1/models/{model_id}/images"],
          "frames": ["/v1/models/{model_id}/interpolate", "/v1/models/{model_id}/traverse"],
          "dataset": ["/v1/models/{model_id}/augment"],
          "translate": ["/v1/models/{model_id}/translate"],
          "variations": ["/v1/models/{model_id}/variations"]}


@pytest.fixture(scope="module")
def openapi(tmp_path_factory) -> dict:
    # No lifespan runs, so no Redis is needed to read the schema.
    settings = Settings(redis_url="redis://127.0.0.1:1/0", data_dir=tmp_path_factory.mktemp("data"))
    return create_app(settings).openapi()


@pytest.mark.parametrize("use", ROUTES)
def test_every_route_lists_the_media_type_of_each_format_it_takes(openapi, use):
    for path in ROUTES[use]:
        (operation,) = openapi["paths"][path].values()
        content = operation["responses"]["200"]["content"]
        assert set(content) == {f.media_type for f in formats_for(use)}, path


@pytest.mark.parametrize(("schema", "use"), [("GenerateRequest", "samples"), ("InterpolateRequest", "frames"),
                                             ("TraverseRequest", "frames"), ("AugmentRequest", "dataset")])
def test_every_request_takes_exactly_the_formats_of_its_route(openapi, schema, use):
    field = openapi["components"]["schemas"][schema]["properties"]["format"]
    enum = next(s["enum"] for s in [field, *field.get("anyOf", [])] if "enum" in s)
    assert enum == [f.name for f in formats_for(use)]
    assert all(f"{f.name}: " in field["description"] for f in formats_for(use))


@pytest.mark.parametrize("use", ["translate", "variations"])
def test_an_image_route_takes_exactly_its_formats_in_either_body(openapi, use):
    """Translate and variations take their options as form fields or JSON: both bodies list the table's formats."""
    (operation,) = openapi["paths"][ROUTES[use][0]].values()
    for media, body in operation["requestBody"]["content"].items():
        field = body["schema"]["properties"]["format"]
        enum = next(s["enum"] for s in [field, *field.get("anyOf", [])] if "enum" in s)
        assert enum == [f.name for f in formats_for(use)], media
        assert all(f"{f.name}: {f.docs[use]}" in field["description"] for f in formats_for(use)), media


def test_a_one_shot_archive_and_a_streamed_one_hold_the_same_members():
    """Both go through the same writers; only the file underneath differs (seekable, or a drained spool)."""
    card = card_for(GANConfig(arch="cgan", num_classes=2), ["a", "b"], model_id="model_x")
    inputs = GeneratorInputs(torch.randn(5, 3), {"labels": torch.tensor([0, 1, 0, 1, 1])}, seed=1)
    images = torch.randint(0, 256, (5, 3, 4, 4), dtype=torch.uint8)
    halves = [(0, GeneratorInputs(inputs.latents[:3], {"labels": inputs.conditioning["labels"][:3]})),
              (3, GeneratorInputs(inputs.latents[3:], {"labels": inputs.conditioning["labels"][3:]}))]
    whole = Samples(card, 5, lambda: [(0, inputs)], lambda _: images)
    chunked = Samples(card, 5, lambda: halves, lambda chunk: images[:3] if len(chunk.latents) == 3 else images[3:])
    for writer in (write_pngs, write_arrays):
        one_shot = in_memory(writer, whole, {"seed": 1})
        stream = b"".join(data for _, data in streamed(writer, chunked, {"seed": 1}))
        assert _members(one_shot) == _members(stream), writer.__name__
    arrays = np.load(io.BytesIO(in_memory(write_arrays, whole, None)))
    assert arrays["images"].shape == (5, 4, 4, 3) and list(arrays["classes"]) == ["a", "b"]
    assert sum(made for made, _ in streamed(write_pngs, chunked, {})) == 5


def _members(archive: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        return {name: opened.read(name) for name in opened.namelist()}
