"""The training job spec: what a user POSTs, validated once, stored with the job, read by the worker."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal, get_args, get_origin, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator

from core.kinds import family_kind, takers
from core.queues import MEMORY_CLASSES_GB, queue_for
from models.config import TrainConfig
from models.gan import FAMILIES, LOSSES, STANDARD_LOOP, Family, GANConfig
from models.nets.dcgan import SUPPORTED_SIZES
from models.toy2d import MIXTURES

Loss = Literal[LOSSES]  # type: ignore[valid-type]
# Every side some family takes (each family checks its own): DCGAN's layouts, and the powers of two that the
# progressive and style-based nets grow through.
ImageSize = Literal[tuple(sorted({*SUPPORTED_SIZES, *(2 ** i for i in range(2, 9))}))]  # type: ignore[valid-type]


class StrictModel(BaseModel):
    """A request body: unknown fields and loose types are refused (`true` is not 1, "3" is not 3). A whole
    number written with a fraction (20.0) is the integer it equals, as JSON Schema counts it."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="before")
    @classmethod
    def _whole_numbers(cls, data):
        return _whole_numbers(data)


def _whole_numbers(value):
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(v) for v in value]
    return value


def _list_families(schema: dict) -> None:
    # Read when the schema is made, so families registered at start-up (plugins) are listed too.
    schema["enum"] = list(FAMILIES)


class Codes(StrictModel):
    categorical: int = Field(10, ge=0, le=100, description="Categories of InfoGAN's categorical code (0: none)")
    continuous: int = Field(2, ge=0, le=16, description="Number of InfoGAN's continuous codes, each in [-1, 1]")




class ModelSpec(StrictModel):
    arch: str = Field("dcgan", description="The GAN family; see docs/models.md", json_schema_extra=_list_families)
    loss: Loss | None = Field(None, description="Adversarial loss; default: the family's own")
    latent_dim: int | None = Field(None, ge=1, le=1024, description="Length of z; default: the recipe's, else "
                                                                    "100, or 2 for 2-D data")
    g_width: int | None = Field(None, ge=1, le=1024, description="conv nets: channels of G's last hidden layer "
                                "(ngf); default: the recipe's, else 64")
    d_width: int | None = Field(None, ge=1, le=1024, description="conv nets: channels of D's first layer (ndf); "
                                "default: the recipe's, else 64")
    hidden: int | None = Field(None, ge=1, le=4096, description="mlp nets: units per hidden layer; default: the "
                               "recipe's, else 256")
    depth: int | None = Field(None, ge=1, le=8, description="mlp nets: hidden layers; default: the recipe's, else 3")
    image_size: ImageSize | None = Field(None, description="Resize the images to this; default: native")
    conditional: bool | None = Field(
        None, description="Condition on class labels; default: whether the family always does (cgan, acgan). "
                          "Optional for sngan (projection D)")
    codes: Codes | None = Field(None, description="infogan only; default 10 categories + 2 continuous codes")
    pack: int | None = Field(None, ge=1, le=8, description="PacGAN (Lin et al. 2018): D judges this many samples "
                             "side by side, which makes a collapsed G easy to spot; 1: off. Default: the recipe's")
    mbstd: int | None = Field(None, ge=0, le=64, description="Minibatch standard deviation (Karras et al. 2018): "
                              "D sees the spread of groups of this many samples; 0: off. Default: the recipe's")
    mapping_layers: int | None = Field(None, ge=1, le=8, description="stylegan2: fully connected layers of the mapping "
                                       "network from z to w (the paper's 8); default: the recipe's, else 8")
    d_architecture: Literal["resnet", "orig"] | None = Field(
        None, description="stylegan2: D's blocks, resnet (the paper's config F: a 1x1 skip beside the convs) or orig "
        "(plain convs, stylegan2-ada's config for small images); default: the recipe's (orig), else resnet")
    blocks: int | None = Field(None, ge=1, le=32, description="Residual blocks of CycleGAN's generators (default 6 "
                               "below 256 px) and SRGAN's (default 16)")
    recipe: Literal["measured", "paper"] = Field(
        "measured", description="measured: what the job leaves out comes from the family's recipe for the data, "
        "measured on it (docs/models.md, Recipes); paper: from the family's row alone, the paper's optimiser, loss "
        "and critic steps, with the general defaults (widths 64, batch 16, 5 epochs) for the rest")
    scale: Literal[2, 4] | None = Field(None, description="srgan on a plain image set: the upscaling factor; its "
                                        "inputs are the images shrunk by it (antialiased bilinear). Default 2; on a "
                                        "paired set the factor is the sizes' ratio")

    @field_validator("arch")
    @classmethod
    def _known_family(cls, arch: str) -> str:
        if arch not in FAMILIES:
            raise ValueError(f"unknown arch {arch!r}; choose one of {', '.join(FAMILIES)}")
        return arch

    @model_validator(mode="after")
    def _fits_the_family(self) -> ModelSpec:
        family = self.family
        errors = family.refusals(conditional=self.is_conditional, codes=self.codes is not None, loss=self.loss)
        if errors:
            raise ValueError(f"{self.arch} " + f"; {self.arch} ".join(errors))
        if family.takes_codes and self.codes is not None and not (self.codes.categorical or self.codes.continuous):
            raise ValueError(f"{self.arch} needs at least one code: codes.categorical or codes.continuous > 0")
        refused = family_kind(self.arch).refused_model_options(self)
        if refused:
            raise ValueError(f"{self.arch} {family_kind(self.arch).does}: leave out {', '.join(refused)}")
        for option in sorted({name for f in FAMILIES.values() for name in f.model_options}):
            if getattr(self, option) is not None and option not in family.model_options:
                raise ValueError(f"model.{option} applies to {_families_taking('model_options', option)}; "
                                 f"{self.arch} takes no {option}")
        if self.image_size is not None and self.image_size not in family.image_sizes:
            raise ValueError(f"{self.arch} takes images of {', '.join(map(str, family.image_sizes))} px; "
                             f"got image_size {self.image_size}")
        return self

    @property
    def family(self) -> Family:
        return FAMILIES[self.arch]

    @property
    def is_conditional(self) -> bool:
        if self.conditional is None:
            return self.family.conditional == "always"
        return self.conditional

    @property
    def resolved_codes(self) -> Codes:
        return (self.codes or Codes()) if self.family.takes_codes else Codes(categorical=0, continuous=0)


class Resources(StrictModel):
    """What a job needs of the worker that runs it: it waits on the queue of workers that have it."""

    device: Literal["any", "cpu", "gpu"] = Field(
        "any", description="any: the first free worker (a GPU worker trains on its GPU); cpu: a CPU worker; gpu: a "
                           "worker with train.devices GPUs (it stays queued until one runs)")
    gpu_memory_gb: int | None = Field(
        None, ge=1, le=MEMORY_CLASSES_GB[-1], description="device gpu only: each GPU has at least this much memory, "
        f"rounded up to a memory class ({', '.join(map(str, MEMORY_CLASSES_GB))} GB)")

    @model_validator(mode="after")
    def _memory_needs_a_gpu(self) -> Resources:
        if self.gpu_memory_gb is not None and self.device != "gpu":
            raise ValueError(f"resources.gpu_memory_gb asks for a GPU: set resources.device to 'gpu' (it is "
                             f"{self.device!r}), or leave gpu_memory_gb out")
        return self


def _train_spec_fields() -> dict:
    """TrainSpec's fields: TrainConfig's API fields with their types, defaults and bounds, so each default
    is written once (in models/trainer.py)."""
    hints = get_type_hints(TrainConfig)
    specs = {}
    for f in dataclasses.fields(TrainConfig):
        if "api" not in f.metadata:
            continue
        annotation = hints[f.name]
        default = f.default
        policies = next((a for a in get_args(annotation) if get_origin(a) is tuple), None)
        if policies is not None:  # augment: JSON has lists of policies; None leaves them to the recipe
            annotation = list[get_args(policies)[0]] | None
        specs[f.name] = (annotation, Field(default, **f.metadata["api"]))
    specs["time_limit_s"] = (int | None, Field(None, ge=1, description="Fail the job after this long running; "
                                               "default and cap: the server's job_time_limit_s"))
    return specs


TrainSpec = create_model("TrainSpec", __base__=StrictModel, **_train_spec_fields())
TrainSpec.__doc__ = "How to train: every field of models.trainer.TrainConfig that a job may set."


# A built-in mixture can be scored after every few epochs at no real cost (2,500 points), and its late epochs can
# drop a mode that an earlier one had (mlp on grid25, seed 0: 23/25 at epoch 208, 25/25 at 192): a job on one
# serves its best-scoring epoch unless it says otherwise (docs/models.md, "Recipes"). Set at submit, so the stored
# spec says it.
MIXTURE_SCORING = {"eval_every_epochs": 8, "keep_best": True}


def train_config(spec: JobSpec) -> TrainConfig:
    """The trainer's config for a job: the spec's train fields, plus the model's loss."""
    train = spec.train.model_dump(exclude={"time_limit_s"})
    augment = None if train["augment"] is None else tuple(train["augment"])
    return TrainConfig(**{**train, "augment": augment, "loss": spec.model.loss})


class JobSpec(StrictModel):
    kind: Literal["training"] = Field("training", description="A training job (evaluations are POSTed to "
                                                               "/v1/models/{id}/evaluations)")
    dataset: str = Field(..., description="A data set id: a built-in (mnist, digits, ring8, grid25) or an upload's id",
                         examples=["mnist"])
    dataset_checksum: str | None = Field(None, description="Set by the server at submit: the checksum of the "
                                         "data set trained on. If you give it, the job is refused unless it matches")
    classes: list[str] | None = Field(
        None, min_length=1, description="Train on the images of these classes only (names from the data set's "
        "`classes`), e.g. DAGAN on digits 0-6, to make variations of 7, 8 and 9 it never saw. Default: all")
    hold_out: bool = Field(False, description="Labelled images: keep the data set's evaluation split (a fifth of "
                           "each class, drawn with a fixed seed: the images its reference classifier and the "
                           "augmentation report test on) out of training, so that the report measures synthetic "
                           "data on images the GAN never saw. The card's dataset.held_out records it")
    model: ModelSpec = Field(default_factory=ModelSpec)
    train: TrainSpec = Field(default_factory=TrainSpec)
    resources: Resources = Field(default_factory=Resources, description="What the job needs of its worker; picks "
                                 "the queue it waits on (GET /v1/workers lists them)")

    @property
    def queue(self) -> str:
        return queue_for(self.model_dump())

    @model_validator(mode="after")
    def _whole_packs(self) -> JobSpec:
        pack = self.model.pack or 1
        if self.train.batch_size is not None and self.train.batch_size % pack:
            raise ValueError(f"train.batch_size ({self.train.batch_size}) must be a multiple of model.pack ({pack}): "
                             "D judges whole packs")
        share = self.train.devices * pack
        if self.train.batch_size is not None and self.train.batch_size % share:
            raise ValueError(f"train.batch_size ({self.train.batch_size}) must be a multiple of train.devices x "
                             f"model.pack ({share}): every device trains an equal share of each batch")
        if self.train.keep_best and not self.train.eval_every_epochs:
            raise ValueError("train.keep_best picks the best of the per-epoch scores: set train.eval_every_epochs too")
        if self.train.ada_target is not None:
            # The loop first: only stylegan2's recipe gives augment, and its own loop takes no ADA either way.
            if self.model.family.trainer != STANDARD_LOOP:
                raise ValueError(f"train.ada_target reads D's outputs in the standard loop; {self.model.arch} trains "
                                 "with its own loop: use train.augment alone")
            if not self.train.augment:
                raise ValueError("train.ada_target adapts how often train.augment's policies apply: give "
                                 'train.augment too (e.g. ["translation", "cutout"])')
        if self.dataset in MIXTURES and not {"eval_every_epochs", "keep_best"} & self.train.model_fields_set:
            self.train = self.train.model_copy(update=MIXTURE_SCORING)
        return self


_NET_CHOICES = ("latent_dim", "g_width", "d_width", "hidden", "depth", "pack", "mbstd", "blocks", "mapping_layers",
               "d_architecture")


def gan_config(spec: JobSpec, shape: tuple[int, ...], classes: tuple[str, ...] | list[str],
               source_shape: tuple[int, ...] = ()) -> GANConfig:
    """The networks a job trains on data of this shape: what the spec says, else the family's recipe for
    the data, else GANConfig's defaults (with a 2-D latent for 2-D points). A translator also needs the
    shape of its inputs: domain A's, or for srgan on plain images, the images shrunk by `scale`."""
    return model_gan_config(spec.model, shape, classes, source_shape)


def model_gan_config(model: ModelSpec, shape: tuple[int, ...], classes: tuple[str, ...] | list[str],
                     source_shape: tuple[int, ...] = ()) -> GANConfig:
    """gan_config for a model spec alone: what an imported generator's config is read with."""
    probe = GANConfig(arch=model.arch, data_shape=shape, recipe=model.recipe)
    defaults = {**dataclasses.asdict(probe), "latent_dim": 100 if probe.is_image else 2,
                **model.family.net_defaults(probe.recipe_key)}
    chosen = {name: getattr(model, name) if getattr(model, name) is not None else defaults[name]
              for name in _NET_CHOICES}
    fixed = {name: value for name, value in model.family.net_defaults(probe.recipe_key).items()
             if name not in _NET_CHOICES}  # a recipe's net shape that a job does not choose (infogan's fc_stem)
    codes = model.resolved_codes
    if model.family.upscales and not source_shape:  # srgan on plain images
        scale = model.scale or 2
        source_shape = (shape[0], shape[1] // scale, shape[2] // scale)
    return GANConfig(arch=model.arch, data_shape=shape, num_classes=len(classes) if model.is_conditional else 0,
                     cat_codes=codes.categorical, cont_codes=codes.continuous, source_shape=tuple(source_shape),
                     recipe=model.recipe, **chosen, **fixed)


def compatibility_errors(spec: JobSpec, kind: str, shape: tuple[int, ...] | list[int], classes: list[str],
                         source_shape: tuple[int, ...] | list[int] = ()) -> list[str]:
    """What makes `spec` unfit for a data set of this kind ("images", "points", "paired" or "unpaired"),
    shape (domain B's for two domains; `source_shape` is domain A's) and classes."""
    errors = []
    model, family = spec.model, spec.model.family
    if kind not in family.data_kinds:
        able = ", ".join(name for name, f in FAMILIES.items() if kind in f.data_kinds)
        errors.append(f"{model.arch} does not train on {_KIND_WORDS[kind]}; families that do: {able}")
    for option in sorted({name for f in FAMILIES.values() for name in f.train_options}):
        if _set(spec.train, option) and option not in family.train_options:
            errors.append(f"train.{option} applies to {_families_taking('train_options', option)}; {model.arch} "
                          "trains without it")
    kind_of_model = family_kind(model.arch)
    refused = kind_of_model.refused_train_options(spec.train)
    if refused:
        errors.append(f"{', '.join('train.' + name for name in refused)} apply to {takers(refused[0])}; "
                      f"{model.arch} {kind_of_model.does}")
    if spec.hold_out and (kind != "images" or len(classes) < 2):
        errors.append("hold_out keeps a labelled image set's evaluation split out of training; this data set " +
                      ("has no labels" if kind == "images" else f"holds {_KIND_WORDS[kind]}"))
    if spec.classes is not None:
        errors += _class_choice_errors(spec.classes, kind, classes)
        classes = [name for name in classes if name in spec.classes]  # what the job trains on
    return errors + kind_of_model.data_rules(spec, kind, shape, source_shape, classes)


def _set(train: BaseModel, option: str) -> bool:
    """Whether a job gave a family's own option a value other than its default."""
    return option in train.model_fields_set and getattr(train, option) != type(train).model_fields[option].default


def _families_taking(options: str, option: str) -> str:
    return ", ".join(name for name, family in FAMILIES.items() if option in getattr(family, options))


_KIND_WORDS = {"images": "images", "points": "points", "paired": "paired images (two domains)",
               "unpaired": "unpaired images (two domains)"}


def _class_choice_errors(chosen: list[str], kind: str, classes: list[str]) -> list[str]:
    if kind != "images" or len(classes) < 2:
        return ["classes picks classes of a labelled image set; this data set " +
                ("has no labels" if kind == "images" else f"holds {_KIND_WORDS[kind]}")]
    unknown = sorted(set(chosen) - set(classes))
    if unknown:
        return [f"classes: {', '.join(map(repr, unknown))} not in the data set's classes ({', '.join(classes)})"]
    return []


Metric = Literal["mixture", "domain", "prdc", "kid", "fid", "cas", "augmentation_gain"]
METRICS_DOC = ("mixture: modes captured and % high-quality samples on a 2-D mixture (PacGAN's protocol); domain: "
               "the data set's reference classifier reads the samples (confidence, class coverage and entropy, "
               "conditional accuracy, classifier-feature Fréchet distance); prdc: precision, recall, density, "
               "coverage (Naeem et al. 2020); kid and fid on `features`; cas: a classifier trained on samples only, "
               "tested on held-out real images (Ravuri & Vinyals 2019); augmentation_gain (asked alone, class-"
               "conditional models): the augmentation report, a small classifier trained on the data set with and "
               "without classic and synthetic augmentation, tested on held-out real images, and the mix it "
               "recommends (docs/augmentation.md)")
REPORT_ONLY = ("dataset", "seeds", "rare_classes")


class EvaluationRequest(StrictModel):
    """How to score a model: which metrics, on how many samples, with which features and seed."""

    metrics: list[Metric] | None = Field(None, description=f"Default: what suits the model's data: {METRICS_DOC}")
    samples: int = Field(1000, ge=50, le=50_000, description="Generated samples to score (2-D mixtures: 2,500)")
    features: Literal["classifier", "inception"] = Field(
        "classifier", description="Feature space of kid, fid and prdc: the data set's reference classifier, or "
                                  "InceptionV3 pool features (the standard FID network; a few images/s on a CPU)")
    seed: int = Field(0, ge=0, lt=2**63, description="Seeds the samples and the metrics' own draws")
    dataset: str | None = Field(None, min_length=1, max_length=200, description="augmentation_gain: the labelled "
                                "data set to measure on (its classes named as the model's); default: the model's own")
    seeds: int = Field(3, ge=1, le=5, description="augmentation_gain: classifier seeds per row; a mix is recommended "
                       "only where its gain exceeds their spread (one seed: never)")
    rare_classes: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(
        None, min_length=1, max_length=1000, description="augmentation_gain: the classes whose recall is reported "
        "as rare-class recall; default: those with fewer than half the median class's images")

    @model_validator(mode="after")
    def _report_alone(self) -> EvaluationRequest:
        wanted = self.metrics or []
        if "augmentation_gain" in wanted and len(wanted) > 1:
            raise ValueError("ask for augmentation_gain alone: it trains classifiers on the data set rather than "
                             "scoring samples (send the other metrics in a second evaluation)")
        # Compared with the defaults, not by fields set: the stored spec is built with every field given.
        given = [name for name in REPORT_ONLY if getattr(self, name) != type(self).model_fields[name].default]
        if given and wanted != ["augmentation_gain"]:
            raise ValueError(f"{', '.join(given)} apply to metrics [\"augmentation_gain\"] only")
        return self


class EvaluationSpec(EvaluationRequest):
    """An evaluation job as stored: the request plus the model it scores."""

    kind: Literal["evaluation"] = "evaluation"
    model_id: str = ""

    def refusal(self, data_kind: str, classes: list[str]) -> str | None:
        """Why these metrics cannot score a model that makes `data_kind` from a data set with `classes`."""
        wanted = set(self.metrics or ())
        if data_kind == "points" and wanted - {"mixture"}:
            return f"metrics {', '.join(sorted(wanted - {'mixture'}))} score images; this model makes 2-D points: " \
                   "use mixture"
        if data_kind == "images" and "mixture" in wanted:
            return "metric mixture scores 2-D points; this model makes images"
        if "augmentation_gain" in wanted:
            return None  # the router checks the report's data set and model (service/api/routers/models.py)
        if len(classes) < 2 and (wanted & {"domain", "cas"} or (data_kind == "images" and
                                                                   self.features == "classifier")):
            return "the model's data set has no labels, so no reference classifier: domain and cas need one; " \
                   "use features 'inception' for kid, fid and prdc"
        return None


class ProjectionRequest(StrictModel):
    """An image to project into a style-based model: sent, or one of the model's training images."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"oneOf": [
        {"required": ["image"], "properties": {"image": {"not": {"type": "null"}}}},
        {"required": ["dataset_index"], "properties": {"dataset_index": {"not": {"type": "null"}}}}]})

    image: str | None = Field(None, min_length=1, max_length=4_000_000, description="The image, base64 (PNG, JPEG, "
                              "...; a `data:` URL prefix is fine); brought to the model's image shape by `resize`")
    dataset_index: int | None = Field(None, ge=0, lt=10**9, description="Or: the image at this index of the data "
                                      "set the model was trained on (at the model's size)")
    resize: Literal["crop", "pad"] = Field("crop", description="How a sent image that is not square is made square, "
                                                               "as for uploads")
    steps: int = Field(300, ge=10, le=5000, description="Optimiser steps")
    space: Literal["w", "w+"] = Field("w", description="w: one w for every layer (what the paper projects into: "
                                                       "stays editable); w+: one per layer (closer, edits less "
                                                       "cleanly)")
    seed: int = Field(0, ge=0, lt=2**63, description="Seeds the search's exploration noise")

    @model_validator(mode="after")
    def _one_image(self) -> ProjectionRequest:
        if (self.image is None) == (self.dataset_index is None):
            raise ValueError("give exactly one of image (base64) or dataset_index")
        return self


class ProjectionSpec(StrictModel):
    """A projection job as stored: the target already decoded to the model's shape (a base64 PNG), or the index
    of a training image, and the search's settings."""

    kind: Literal["projection"] = "projection"
    model_id: str
    target_png: str | None = None
    dataset_index: int | None = None
    steps: int
    space: Literal["w", "w+"]
    seed: int
