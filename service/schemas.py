"""Request and response bodies of the HTTP API (the job spec itself lives in worker.spec)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class JobOut(BaseModel):
    id: str
    status: str = Field(description="queued, running, cancelling, succeeded, failed or cancelled")
    spec: dict
    created_at: str
    updated_at: str
    started_at: str | None = None
    finished_at: str | None = None
    progress: dict | None = Field(None, description="step, total_steps, epoch, epochs, losses, D(x), "
                                                    "D(G(z)), images_per_s, eta_s")
    error: str | None = None
    model_id: str | None = None
    owner: str | None = Field(None, description="Name of the API key that submitted it")
    worker: str | None = Field(None, description="The worker that runs (or last ran) it")
    attempts: int | None = Field(None, description="Times a worker started (or resumed) it")
    requeues: int | None = Field(None, description="Times it was queued again after its worker vanished")
    enqueued_at: str | None = Field(None, description="When its task last reached the broker")


class JobEvent(BaseModel):
    id: str
    event: str = Field(description="status, progress, checkpoint, samples, resumed, requeued, retrying or log")
    data: dict


class JobEvents(BaseModel):
    events: list[JobEvent]


class JobList(BaseModel):
    jobs: list[JobOut]


class CodesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    categorical: int | list[int] | None = Field(None, description="One category for all images, or one per image")
    continuous: list[FiniteFloat] | list[list[FiniteFloat]] | None = Field(
        None, description="The continuous codes for all images, or one list per image; each in about [-1, 1]")


class GenerateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    latents: list[list[FiniteFloat]] | None = Field(
        None, min_length=1, description="Explicit latent vectors, each of the model's latent_dim")
    n: int | None = Field(None, ge=1, description="How many images to draw from `seed`")
    seed: int | None = Field(None, ge=0, lt=2**63, description="Seed for the latents; random when left out")
    nrow: int | None = Field(None, ge=1, description="Images per row of the grid")
    labels: int | str | list[int | str] | None = Field(
        None, description="Conditional models: one class (name or index) for all images, or one per image; "
                          "default: the classes in turn")
    codes: CodesIn | None = Field(None, description="InfoGAN models: the latent codes; default: categories in "
                                                    "turn, continuous codes 0")

    @model_validator(mode="after")
    def _one_source(self) -> GenerateRequest:
        if self.latents is not None and (self.n is not None or self.seed is not None):
            raise ValueError("give either latents, or n and seed; not both")
        return self
