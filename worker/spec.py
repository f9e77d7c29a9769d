"""The training job spec: what a user POSTs, validated once, stored with the job, read by the worker."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelSpec(_Strict):
    arch: Literal["dcgan"] = "dcgan"
    latent_dim: int = Field(100, ge=1, le=1024, description="Length of the latent vector z")
    g_width: int = Field(64, ge=1, le=1024, description="Channels of G's last hidden layer (ngf)")
    d_width: int = Field(64, ge=1, le=1024, description="Channels of D's first layer (ndf)")
    image_size: Literal[28, 32, 64] | None = Field(None, description="Resize the data to this; default: native")


class TrainSpec(_Strict):
    epochs: int = Field(5, ge=1, description="Passes over the data set")
    max_steps: int | None = Field(None, ge=1, description="Stop after this many steps in total")
    batch_size: int = Field(16, ge=2, le=4096)
    lr_g: float = Field(2e-4, gt=0, le=1)
    lr_d: float = Field(2e-4, gt=0, le=1)
    beta1: float = Field(0.5, ge=0, lt=1)
    beta2: float = Field(0.999, ge=0, lt=1)
    seed: int = Field(0, ge=0, lt=2**63)
    sample_every_epochs: int = Field(1, ge=1)
    checkpoint_every_steps: int = Field(500, ge=1)
    time_limit_s: int | None = Field(None, ge=1, description="Fail the job after this long running; "
                                     "default and cap: the server's job_time_limit_s")


class JobSpec(_Strict):
    dataset: str = Field(..., description="A data set id, e.g. mnist or digits", examples=["mnist"])
    model: ModelSpec = Field(default_factory=ModelSpec)
    train: TrainSpec = Field(default_factory=TrainSpec)
