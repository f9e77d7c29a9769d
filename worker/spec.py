"""The training job spec: what a user POSTs, validated once, stored with the job, read by the worker."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.augment import POLICIES
from models.gan import ARCHITECTURES, FAMILIES, LOSSES

Arch = Literal[ARCHITECTURES]  # type: ignore[valid-type]
Loss = Literal[LOSSES]  # type: ignore[valid-type]
Policy = Literal[POLICIES]  # type: ignore[valid-type]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Codes(_Strict):
    categorical: int = Field(10, ge=0, le=100, description="Categories of InfoGAN's categorical code (0: none)")
    continuous: int = Field(2, ge=0, le=16, description="Number of InfoGAN's continuous codes, each in [-1, 1]")


class ModelSpec(_Strict):
    arch: Arch = Field("dcgan", description="The GAN family; see docs/models.md")
    loss: Loss | None = Field(None, description="Adversarial loss; default: the family's own")
    latent_dim: int | None = Field(None, ge=1, le=1024, description="Length of z; default 100, or 2 for 2-D data")
    g_width: int = Field(64, ge=1, le=1024, description="conv nets: channels of G's last hidden layer (ngf)")
    d_width: int = Field(64, ge=1, le=1024, description="conv nets: channels of D's first layer (ndf)")
    hidden: int = Field(256, ge=1, le=4096, description="mlp nets: units per hidden layer")
    depth: int = Field(3, ge=1, le=8, description="mlp nets: hidden layers")
    image_size: Literal[28, 32, 64] | None = Field(None, description="Resize the images to this; default: native")
    conditional: bool | None = Field(
        None, description="Condition on class labels: always for cgan/acgan, optional for sngan (projection D)")
    codes: Codes | None = Field(None, description="infogan only; default 10 categories + 2 continuous codes")

    @model_validator(mode="after")
    def _fits_the_family(self) -> ModelSpec:
        family = FAMILIES[self.arch]
        if self.loss is not None and self.loss not in family.losses:
            choices = ", ".join(family.losses)
            raise ValueError(f"loss {self.loss!r} does not go with {self.arch}; choose one of {choices}")
        if self.codes is not None and self.arch != "infogan":
            raise ValueError(f"codes are InfoGAN's latent codes; {self.arch} takes none (use arch 'infogan')")
        if self.arch == "infogan" and self.codes is not None and not (self.codes.categorical or self.codes.continuous):
            raise ValueError("infogan needs at least one code: codes.categorical or codes.continuous > 0")
        if self.conditional is not None and self.arch not in ("cgan", "acgan", "sngan"):
            raise ValueError(f"{self.arch} is not conditional; use cgan, acgan or sngan to condition on labels")
        if self.conditional is False and self.arch in ("cgan", "acgan"):
            raise ValueError(f"{self.arch} is conditional by definition; use dcgan for an unconditional GAN")
        return self

    @property
    def is_conditional(self) -> bool:
        return self.arch in ("cgan", "acgan") or (self.arch == "sngan" and bool(self.conditional))

    @property
    def resolved_codes(self) -> Codes:
        return (self.codes or Codes()) if self.arch == "infogan" else Codes(categorical=0, continuous=0)


class TrainSpec(_Strict):
    epochs: int = Field(5, ge=1, description="Passes over the data set")
    max_steps: int | None = Field(None, ge=1, description="Stop after this many G steps in total")
    batch_size: int = Field(16, ge=2, le=4096)
    lr_g: float | None = Field(None, gt=0, le=1, description="default: the family's")
    lr_d: float | None = Field(None, gt=0, le=1, description="default: the family's")
    beta1: float | None = Field(None, ge=0, lt=1, description="Adam beta1; default: the family's")
    beta2: float | None = Field(None, ge=0, lt=1, description="Adam beta2; default: the family's")
    d_steps: int | None = Field(None, ge=1, le=100, description="D steps per G step; default: the family's")
    optimizer: Literal["adam", "sgd"] = Field("adam", description="sgd: SGD with momentum (Goodfellow et al.)")
    momentum: float = Field(0.9, ge=0, lt=1, description="sgd only")
    gp_weight: float = Field(10.0, ge=0, description="lambda of the gradient penalty (wasserstein-gp)")
    info_weight: float = Field(1.0, ge=0, description="lambda of InfoGAN's mutual-information term")
    lr_decay: bool = Field(False, description="Decay learning rates linearly to 0 over the schedule")
    ema: float | None = Field(None, gt=0, lt=1, description="Keep an EMA of G with this decay and serve it")
    augment: list[Policy] = Field(default_factory=list, description="DiffAugment policies for small data sets")
    amp: Literal["auto", "off", "bf16", "fp16"] = Field("auto", description="Mixed precision; auto: bf16 on CUDA")
    channels_last: bool | None = Field(None, description="default: on for conv nets on CUDA")
    compile: bool = Field(False, description="torch.compile the nets (CUDA; slower start, faster steps)")
    seed: int = Field(0, ge=0, lt=2**63)
    sample_every_epochs: int = Field(1, ge=1)
    checkpoint_every_steps: int = Field(500, ge=1)
    time_limit_s: int | None = Field(None, ge=1, description="Fail the job after this long running; "
                                     "default and cap: the server's job_time_limit_s")


class JobSpec(_Strict):
    dataset: str = Field(..., description="A data set id: a built-in (mnist, digits, ring8, grid25) or an upload's id",
                         examples=["mnist"])
    dataset_checksum: str | None = Field(None, description="Set by the server at submit: the checksum of the "
                                         "data set trained on. If you give it, the job is refused unless it matches")
    model: ModelSpec = Field(default_factory=ModelSpec)
    train: TrainSpec = Field(default_factory=TrainSpec)


def compatibility_errors(spec: JobSpec, kind: str, shape: tuple[int, ...] | list[int], classes: list[str]) -> list[str]:
    """What makes `spec` unfit for a data set of this kind ("images" or "points"), shape and classes."""
    errors = []
    model = spec.model
    if kind == "points":
        if model.arch == "dcgan":
            errors.append("dcgan is convolutional and needs images; for 2-D points use mlp (or cgan, wgan-gp, ...)")
        if model.image_size is not None:
            errors.append("model.image_size applies to images; this data set is 2-D points")
        if spec.train.augment:
            errors.append("train.augment applies to images; this data set is 2-D points")
    elif model.arch != "mlp" and model.image_size is None and shape[-1] not in (28, 32, 64):
        errors.append(f"the data set's images are {shape[-1]}x{shape[-1]}; convolutional nets take 28, 32 or 64: "
                      "set model.image_size")
    if model.is_conditional and len(classes) < 2:
        errors.append(f"{model.arch} conditions on class labels, and this data set has "
                      f"{'no labels' if not classes else 'a single class'}; use a labelled data set or an "
                      "unconditional arch")
    return errors
