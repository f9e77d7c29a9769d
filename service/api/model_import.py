"""A generator trained elsewhere made a model of ours: its weights read without running any of the file, fitted to
the network its model config builds, then published and registered with a card like a trained model's (its
lineage says it was imported; no job made it)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.artifacts import publish_generator
from core.card import DatasetRef, ModelCard
from core.datasets import DatasetCatalog
from core.kinds import card_for
from core.registry import Registry
from core.spec import ModelSpec, model_gan_config
from core.store import ArtifactStore
from models.gan import GANConfig, build_generator
from models.weights import RefusedWeights, fitted, is_safetensors, read_state_dict, renamed, safetensors_metadata
from service.api.problems import Problem

EXAMPLE = ("curl -F file=@netG.pth -F 'model={\"arch\": \"dcgan\", \"latent_dim\": 100, \"g_width\": 64}' "
           "-F 'image_shape=[3, 64, 64]' .../v1/models/import")
_JSON_FIELDS = ("model", "image_shape", "source_shape", "classes")
Dimension = Annotated[int, Field(ge=1, le=4096)]


class ImportOptions(BaseModel):
    """The form fields beside `file`; the JSON ones as JSON text."""

    model_config = ConfigDict(extra="forbid")

    model: ModelSpec | None = Field(None, description="The model config a training job takes (JSON); may be left out "
                                    "for a safetensors file that GANForge exported, whose header holds its card")
    image_shape: list[Dimension] | None = Field(None, min_length=1, max_length=3, description="(C, H, W) of an output "
                                          "image, or [2] for 2-D points (JSON)")
    source_shape: list[Dimension] | None = Field(None, min_length=3, max_length=3, description="Translators: (C, H, "
                                                 "W) of an input image; default: image_shape (srgan: shrunk by scale)")
    classes: list[str] = Field(default_factory=list, description="Conditional models: the class names, in label "
                               "order (JSON)")
    name: str | None = Field(None, max_length=200, description="A name for it, kept in the card's lineage")
    dataset: str | None = Field(None, max_length=200, description="A data set of the same images, named in the card "
                                "so that evaluations can score the model against it")

    @field_validator("image_shape", "source_shape")
    @classmethod
    def _square_images_or_points(cls, shape: list[int] | None) -> list[int] | None:
        if shape is not None and shape != [2] and (len(shape) != 3 or shape[1] != shape[2]):
            raise ValueError(f"give (C, H, W) of square images, e.g. [3, 64, 64], or [2] for 2-D points; got {shape}")
        return shape


def form_fields() -> dict:
    """The OpenAPI schemas of the form fields: the JSON ones as JSON text, the others with their bounds."""
    properties = ImportOptions.model_json_schema()["properties"]
    return {name: {"type": "string", "contentMediaType": "application/json", "description": field["description"]}
            if name in _JSON_FIELDS else field for name, field in properties.items()}


def parse_options(fields: dict[str, str]) -> ImportOptions:
    values: dict = {}
    for key, text in fields.items():
        if text == "":
            continue
        try:
            values[key] = json.loads(text) if key in _JSON_FIELDS else text
        except json.JSONDecodeError:
            raise Problem(422, f"{key}: not JSON ({text[:60]!r}); e.g. {EXAMPLE}") from None
    try:
        return ImportOptions.model_validate(values)
    except ValidationError as exc:
        detail = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'form'}: {e['msg']}" for e in exc.errors())
        raise Problem(422, f"{detail} (form fields: file, {', '.join(ImportOptions.model_fields)})") from None


def import_model(path: Path, filename: str | None, options: ImportOptions, registry: Registry, store: ArtifactStore,
                 catalog: DatasetCatalog) -> ModelCard:
    """Reads, fits, publishes and registers; a Problem (422) for a file or config that does not make a model."""
    try:
        tensors = read_state_dict(path)
        gan, classes = _config(path, options)
        with torch.device("meta"):  # the shapes alone: a config can ask for far more than the upload holds
            expected = _built(gan)
        tensors, foreign = renamed(tensors, gan.family.import_prefixes)
        tensors = fitted(expected, tensors)
    except RefusedWeights as exc:
        raise Problem(422, str(exc)) from None
    generator = _built(gan)
    generator.load_state_dict(tensors, strict=True)
    lineage = {"source": "imported", "file": filename, "sha256": _sha256(path),
               "layout": f"foreign: {foreign}* renamed to {gan.family.import_prefixes[foreign]}*" if foreign
               else "ganforge"}
    if options.name:
        lineage["name"] = options.name
    card = card_for(gan, classes, dataset=_dataset(options.dataset, gan, catalog), lineage=lineage,
                    training={"model": options.model.model_dump(exclude_none=True) if options.model else None})
    publish_generator(store, generator.eval(), card.to_json())
    registry.register_model(card)
    return card


def _config(path: Path, options: ImportOptions) -> tuple[GANConfig, list[str]]:
    if options.model is None:
        card = _exported_card(path)
        if card is None:
            raise Problem(422, f"model: give the model config (the `model` of a training job) and image_shape, e.g. "
                               f"{EXAMPLE}")
        try:
            gan, classes = GANConfig.from_dict(card["config"]), [str(c) for c in card.get("classes") or []]
        except (ValueError, TypeError) as exc:
            raise Problem(422, f"the card in the file's header does not rebuild a generator ({exc}); give `model`") \
                from None
        if gan.conditions_generator and len(classes) != gan.num_classes:
            raise Problem(422, f"the card in the file's header names {len(classes)} classes for a model of "
                               f"{gan.num_classes}; give `model` and `classes`")
        return gan, classes
    if options.image_shape is None:
        raise Problem(422, "image_shape: give (C, H, W) of the images the generator makes (JSON, e.g. [3, 64, 64]), "
                           "or [2] for 2-D points")
    model, classes = options.model, options.classes
    if model.is_conditional and len(classes) < 2:
        raise Problem(422, "classes: a conditional model needs its class names in label order (JSON list, at "
                           "least 2)")
    shape = tuple(options.image_shape)
    source = tuple(options.source_shape or ())
    if model.family.directions and not source and not model.family.upscales:
        source = shape  # a translator between images of one shape
    classes = classes if model.is_conditional else []
    try:
        return model_gan_config(model, shape, classes, source), classes
    except (IndexError, ValueError) as exc:  # e.g. srgan given 2-D points: no image to shrink
        raise Problem(422, f"image_shape {list(shape)} does not suit {model.arch}: {exc}") from None


def _exported_card(path: Path) -> dict | None:
    """The card a GANForge safetensors file carries in its header, if it is one."""
    if not is_safetensors(path):
        return None
    try:
        card = json.loads(safetensors_metadata(path).get("ganforge", "null"))
    except (json.JSONDecodeError, AttributeError):
        return None
    return card if isinstance(card, dict) and isinstance(card.get("config"), dict) else None


def _built(gan: GANConfig) -> torch.nn.Module:
    try:
        return build_generator(gan)
    except Exception as exc:  # a shape or option the family's nets do not take, in whatever way they refuse it
        raise Problem(422, f"the model config does not build a {gan.arch} generator: {exc}") from None


def _dataset(dataset_id: str | None, gan: GANConfig, catalog: DatasetCatalog) -> DatasetRef | None:
    if dataset_id is None:
        return None
    manifest = catalog.get(dataset_id)
    if manifest is None:
        raise Problem(422, f"dataset: no data set with id {dataset_id!r} (GET /v1/datasets lists them)")
    if manifest.get("kind") not in gan.family.data_kinds:
        raise Problem(422, f"dataset: {dataset_id} holds {manifest.get('kind')}; {gan.arch} models are scored on "
                           f"{' or '.join(gan.family.data_kinds)}")
    return DatasetRef(id=dataset_id, checksum=manifest.get("checksum"), count=manifest.get("count"))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(2**20):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()
