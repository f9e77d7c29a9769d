"""The model card: what a trained model is, takes and gives. Stored as JSON beside its weights and in the
registry; the service dispatches on it (kind, data kind, inputs), never on architecture names. A card is made by
its kind (core.kinds.Kind.card), from the inputs builders here."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.ids import utcnow
from models.gan import GANConfig


class CodeSizes(BaseModel):
    categorical: int = Field(0, description="Categories of the categorical code (0: none)")
    continuous: int = Field(0, description="Number of continuous codes, each in about [-1, 1]")


class StyleInputs(BaseModel):
    """A style-based generator's w inputs: what psi truncation, style mixing and `ws` inputs address."""

    num_ws: int = Field(description="How many ws the synthesis network takes, one per layer")
    w_dim: int = Field(description="Size of each w")
    layers: list[int] = Field(description="The resolution (px) that each w index drives")
    groups: dict[str, list[int]] = Field(description="The w indices of the coarse (4-8 px), middle (16-32 px) and "
                                                     "fine (64 px and above; the top resolution below 64 px) styles")


def style_groups(layers: list[int]) -> dict[str, list[int]]:
    """StyleGAN's coarse / middle / fine split by resolution (Karras et al. 2019: 4-8, 16-32, 64-1024 px). A model
    below 64 px has its top resolution as the fine styles, so that each group it can have is there."""
    top = max(layers)

    def group(resolution: int) -> str:
        if resolution >= 64 or resolution == top:
            return "fine"
        return "coarse" if resolution <= 8 else "middle"

    groups: dict[str, list[int]] = {"coarse": [], "middle": [], "fine": []}
    for index, resolution in enumerate(layers):
        groups[group(resolution)].append(index)
    return groups


class ModelInputs(BaseModel):
    """What a client may pass to generate from the model."""

    latent_dim: int
    labels: list[str] | None = Field(None, description="The class names a label may be (conditional models)")
    codes: CodeSizes | None = Field(None, description="InfoGAN models: the latent codes it takes")
    images: dict[str, list[int]] | None = Field(
        None, description="Translators: for each direction it translates (a2b, and b2a for CycleGAN), the "
                          "(C, H, W) an input image is brought to; augmenters: under `variations`")
    styles: StyleInputs | None = Field(None, description="Style-based models (stylegan2): their ws, for `psi`, "
                                                         "style-mix and `ws` inputs")


class DatasetRef(BaseModel):
    id: str
    checksum: str | None = None
    count: int | None = None
    held_out: bool = Field(False, description="The GAN never saw the data set's evaluation split (the job's "
                           "hold_out): the augmentation report's test images are new to it")


class ModelCard(BaseModel):
    model_config = ConfigDict(extra="allow")  # cards written by later versions keep their extra fields

    id: str
    kind: str = Field(
        "sampler", description="What it takes and gives (GET /v1/kinds lists the kinds): sampler: noise (+ labels, "
                               "codes) to a sample (/generate); translator: an image to an image (/translate); "
                               "augmenter: an image and noise to a variation of it (/variations)")
    data_kind: Literal["images", "points"] = Field(description="What it makes: images, or 2-D points")
    arch: str
    reference: str = ""
    config: dict[str, Any] = Field(description="The GANConfig that rebuilds the generator")
    latent_dim: int
    image_shape: list[int] = Field(description="(C, H, W) of an image, or (2,) for a point")
    classes: list[str] = Field(default_factory=list)
    inputs: ModelInputs
    job_id: str | None = None
    created_at: str = Field(default_factory=utcnow)
    dataset: DatasetRef | None = None
    training: dict[str, Any] = Field(default_factory=dict, description="The job's model spec and the resolved "
                                                                       "training settings")
    metrics: dict[str, Any] = Field(default_factory=dict)
    lineage: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _from_older_cards(cls, data: Any) -> Any:
        # Cards written before `kind` told samplers from translators used it for images/points.
        if isinstance(data, dict) and data.get("kind") in ("images", "points") and "data_kind" not in data:
            data = {**data, "data_kind": data["kind"], "kind": "sampler"}
        return data

    @property
    def gan(self) -> GANConfig:
        return GANConfig.from_dict(self.config)

    @property
    def conditional(self) -> bool:
        return bool(self.inputs.labels)

    def to_json(self) -> dict:
        return self.model_dump(mode="json")


def sampler_inputs(gan: GANConfig, classes: list[str]) -> ModelInputs:
    """Noise, and labels, codes or ws where the model takes them."""
    codes = CodeSizes(categorical=gan.cat_codes, continuous=gan.cont_codes) if gan.cat_codes + gan.cont_codes \
        else None
    styles = None
    if gan.family.style_layers is not None:
        layers = gan.family.style_layers(gan)
        styles = StyleInputs(num_ws=len(layers), w_dim=gan.latent_dim, layers=layers, groups=style_groups(layers))
    return ModelInputs(latent_dim=gan.latent_dim, labels=classes if gan.conditions_generator else None, codes=codes,
                       styles=styles)


def translator_inputs(gan: GANConfig, classes: list[str]) -> ModelInputs:
    """Images, one shape per direction; no noise."""
    shapes = {"a2b": list(gan.source_shape), "b2a": list(gan.data_shape)}
    return ModelInputs(latent_dim=0, images={d: shapes[d] for d in gan.family.directions})


def augmenter_inputs(gan: GANConfig, classes: list[str]) -> ModelInputs:
    """An image of the data's shape and `latent_dim` of noise (DAGAN)."""
    return ModelInputs(latent_dim=gan.latent_dim, images={"variations": list(gan.data_shape)})
