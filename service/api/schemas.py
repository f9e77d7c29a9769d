"""Request and response bodies of the HTTP API (the job spec itself lives in core.spec)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.card import ModelCard
from core.spec import StrictModel
from core.states import JobStatus
from service.serving.formats import describe, names

# Latent components and codes: finite and bounded. A standard normal latent is almost never beyond +-6; far
# beyond, the arithmetic overflows (1e308 - -1e308 is inf) and the images are NaN.
FiniteFloat = Annotated[float, Field(allow_inf_nan=False, ge=-1000, le=1000)]


class JobOut(BaseModel):
    id: str
    status: JobStatus
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
    waiting: dict | None = Field(None, description="While queued, what it waits for: its data set's reference "
                                                   "classifier being trained ({for, dataset, epoch, epochs, eta_s}), "
                                                   "then a worker; gone once it runs")
    result: dict | None = Field(None, description="Evaluations: `rows`, one per figure with what defines it "
                                                  "(metric, features, sample counts, seed), and `scores`")


class JobEvent(BaseModel):
    id: str
    event: str = Field(description="status, progress, checkpoint, samples, evaluation (its phases and scores), "
                                   "resumed, requeued, retrying or log")
    data: dict


class JobEvents(BaseModel):
    events: list[JobEvent]


class JobList(BaseModel):
    jobs: list[JobOut]


class WorkerOut(BaseModel):
    name: str = Field(description="Celery node name, e.g. gpu0@host")
    host: str
    pid: int
    queues: list[str] = Field(description="The queues it takes jobs from (see `queues` beside)")
    devices: list[str] = Field(description='What it trains on: ["cpu"], or its GPUs, e.g. '
                                           '"cuda:0 (NVIDIA H100 80GB HBM3, 80 GB)"')
    current_job: str | None = Field(description="The job it trains now (updated with its heartbeat)")
    current_jobs: list[str] = Field(description="All it trains now: several with `--concurrency` above 1")
    started_at: str
    seen: str = Field(description="Its last heartbeat")


class WorkerList(BaseModel):
    workers: list[WorkerOut]
    queues: dict[str, int] = Field(description="Jobs waiting in each queue: celery (any device), cpu, gpu, "
                                               "gpu-<N>gb (a GPU of N GB or more), gpu-x<N> (N GPUs), and any other "
                                               "a live worker takes")
    broker_messages: dict[str, int] = Field(description="The broker's messages in the same queues: more than the "
                                                        "jobs, since they also hold reference-classifier tasks and "
                                                        "the tasks of jobs cancelled while queued (dropped when a "
                                                        "worker takes them)")


class ModelList(BaseModel):
    models: list[ModelCard]


class CodesIn(StrictModel):

    categorical: int | list[int] | None = Field(None, description="One category for all images, or one per image")
    continuous: list[FiniteFloat] | list[list[FiniteFloat]] | None = Field(
        None, description="The continuous codes for all images, or one list per image; each in about [-1, 1]")


# Pages of a list: far beyond any real list, yet small enough for Redis (whose ranges are 64-bit).
Offset = Annotated[int, Query(ge=0, le=1_000_000_000, description="Items to skip")]

# Both parts of a Redis stream id are below 2^64; 19 digits keep them there (a millisecond clock needs 13).
AfterEvent = Annotated[str, Query(pattern=r"^(-|\$|[0-9]{1,19}-[0-9]{1,19})$",
                                  description="Only events after this event id (`-`: from the first; `$`: only "
                                              "those still to come)")]

Label = int | str
Labels = Label | Annotated[list[Label], Field(min_length=1)]
Seed = Annotated[int, Field(ge=0, lt=2**63)]
Truncation = Annotated[float, Field(gt=0, le=10, description="Seeded latents only: every component with |z| "
                                    "above it is drawn again (the truncation trick); about 0.5-1 trades variety "
                                    "for fidelity")]
Psi = Annotated[float, Field(ge=-1, le=2, allow_inf_nan=False)]
PsiIn = Annotated[Psi | Annotated[list[Psi], Field(min_length=1)], Field(
    description="Style-based models: truncation towards the mean w, w_avg + psi (w - w_avg); 1 leaves w as it is, "
                "0 gives the mean image, about 0.5-0.7 trades variety for fidelity. One value for all images, or a "
                "list of one per image: as many as the images asked for (else 422)")]
PsiCutoff = Annotated[int, Field(ge=1, le=64, description="Style-based models: truncate only the first this many "
                                                          "ws (the coarse layers first); default: all")]
# One image's ws: a single w for every layer, or one w per layer (the card's inputs.styles.num_ws of them).
StyleVector = list[FiniteFloat] | list[list[FiniteFloat]]
ImageFormat = Literal[names("samples")]  # type: ignore[valid-type]
FrameFormat = Literal[names("frames")]  # type: ignore[valid-type]
DatasetFormat = Literal[names("dataset")]  # type: ignore[valid-type]


def _given(*fields: str) -> dict:
    return {"required": list(fields), "properties": {f: {"not": {"type": "null"}} for f in fields}}


def json_rules(*rules: dict) -> ConfigDict:
    """The checks of a model_validator written into the JSON schema, so clients (and the fuzzer) can know them."""
    return ConfigDict(json_schema_extra={"allOf": list(rules)})


def exactly_one(a: str, b: str) -> dict:
    return {"oneOf": [_given(a), _given(b)]}


def not_both(a: str, b: str) -> dict:
    return {"not": _given(a, b)}


class GenerateRequest(StrictModel):
    model_config = json_rules(not_both("latents", "n"), not_both("latents", "seed"), not_both("latents", "truncation"),
                              not_both("ws", "latents"), not_both("ws", "n"), not_both("ws", "seed"),
                              not_both("ws", "truncation"))

    latents: list[list[FiniteFloat]] | None = Field(
        None, min_length=1, description="Explicit latent vectors, each of the model's latent_dim")
    n: int | None = Field(None, ge=1, description="How many images to draw from `seed`")
    seed: Seed | None = Field(None, description="Seed for the latents; random when left out (see header X-Seed)")
    truncation: Truncation | None = None
    ws: list[StyleVector] | None = Field(
        None, min_length=1, description="Style-based models: explicit ws per image instead of latents (a w for "
                                        "every layer, or one per layer), e.g. from a projection or another model "
                                        "response")
    psi: PsiIn | None = None
    psi_cutoff: PsiCutoff | None = None
    nrow: int | None = Field(None, ge=1, description="Images per row of the grid")
    labels: Labels | None = Field(
        None, description="Conditional models: one class (name or index) for all images, or one per image; "
                          "default: the classes in turn")
    codes: CodesIn | None = Field(None, description="InfoGAN models: the latent codes; default: categories in "
                                                    "turn, continuous codes 0")
    format: ImageFormat | None = Field(None, description=f"Default: png for one image, grid for several. "
                                                         f"{describe('samples')}")

    @model_validator(mode="after")
    def _one_source(self) -> GenerateRequest:
        if self.latents is not None and (self.n is not None or self.seed is not None):
            raise ValueError("give either latents, or n and seed; not both")
        if self.latents is not None and self.truncation is not None:
            raise ValueError("truncation redraws seeded latents; explicit latents are used as given")
        if self.ws is not None and any(getattr(self, name) is not None for name in ("latents", "n", "seed",
                                                                                  "truncation")):
            raise ValueError("give either ws, or latents, or n and seed; ws are used as given")
        return self


class LatentPoint(StrictModel):
    model_config = json_rules({"oneOf": [_given("seed"), _given("latent"), _given("ws")]})

    seed: Seed | None = Field(None, description="The latent that `n=1` with this seed draws")
    latent: list[FiniteFloat] | None = Field(None, description="An explicit latent vector")
    ws: StyleVector | None = Field(None, description="Style-based models: explicit ws (one w, or one per layer)")

    @model_validator(mode="after")
    def _one_source(self) -> LatentPoint:
        if sum(value is not None for value in (self.seed, self.latent, self.ws)) != 1:
            raise ValueError("give exactly one of seed, latent or ws")
        return self


class _Exploration(StrictModel):

    steps: int = Field(8, ge=2, description="Images along the way, both ends included")
    truncation: Truncation | None = None
    psi: Psi | None = Field(None, description="Style-based models: truncation of every frame towards the mean w")
    psi_cutoff: PsiCutoff | None = None
    labels: Label | None = Field(None, description="Conditional models (required there): the class of every frame, "
                                                   "a name or index of the card's inputs.labels; unconditional "
                                                   "models take none")
    codes: CodesIn | None = Field(None, description="InfoGAN models: codes held fixed; default: category 0, "
                                                    "continuous codes 0")
    format: FrameFormat = Field("grid", description=describe("frames"))
    nrow: int | None = Field(None, ge=1, description="Images per row of the grid; default: `steps`")


class InterpolateRequest(_Exploration):
    start: LatentPoint
    end: LatentPoint
    method: Literal["slerp", "lerp"] = Field("slerp", description="slerp: along the great circle, keeping a "
                                                                  "typical latent's norm; lerp: a straight line. "
                                                                  "In w, always lerp")
    space: Literal["z", "w"] = Field("z", description="Where to interpolate: in the latents z, or (style-based "
                                                      "models) in the mapped w, which StyleGAN makes more linear")
    labels: Label | Annotated[list[Label], Field(min_length=2, max_length=2)] | None = Field(
        None, description="Conditional models (required there): the class of every frame, a name or index of the "
                          "card's inputs.labels; or, with space w, one per end ([start, end]): each end mapped with "
                          "its own class, the frames moving from one to the other. Unconditional models take none")


class StyleMixRequest(StrictModel):
    rows: list[LatentPoint] = Field(min_length=1, max_length=16, description="The sources down the left: every cell "
                                                                            "of a row takes this one's styles ...")
    columns: list[LatentPoint] = Field(min_length=1, max_length=16, description="... except the layers in "
                                                                               "`from_columns`, taken from its "
                                                                               "column's source (along the top)")
    # At least one index: an empty list would mix nothing and answer 200 with every cell its row's source.
    from_columns: Literal["coarse", "middle", "fine"] | Annotated[
        list[Annotated[int, Field(ge=0, le=63)]], Field(min_length=1, max_length=64)] = Field(
        "fine", description="Which ws a cell takes from its column: a group of the card's inputs.styles.groups, or "
                            "w indices (at least one)")
    truncation: Truncation | None = None
    psi: Psi | None = None
    psi_cutoff: PsiCutoff | None = None
    labels: Label | None = Field(None, description="Conditional models (required there, unless every source is ws): "
                                                   "the class of every source given as a seed or latent, a name or "
                                                   "index of the card's inputs.labels; unconditional models take none")
    format: FrameFormat = Field("grid", description="grid: the StyleGAN figure, the row sources down the left and the "
                                                    "column sources along the top; the other formats hold the mixed "
                                                    f"cells only, row by row. {describe('frames')}")


class TraverseRequest(_Exploration):
    model_config = json_rules(exactly_one("dimension", "code"), not_both("latent", "seed"),
                          not_both("latent", "truncation"),
                          {"not": {"required": ["latent", "rows"], "properties": {"latent": {"not": {"type": "null"}},
                                                                                  "rows": {"not": {"const": 1}}}}})
    seed: Seed | None = Field(None, description="Seed of the base latents, one per row; random when left out")
    latent: list[FiniteFloat] | None = Field(None, description="An explicit base latent (one row)")
    rows: int = Field(1, ge=1, description="Base latents drawn from `seed`, one row of the grid each; rows x steps "
                                           "images in all, at most the server's max_images_per_request")
    dimension: int | None = Field(None, ge=0, description="The latent dimension to sweep")
    code: str | None = Field(None, pattern=r"^(categorical|continuous:[0-9]{1,4})$",
                             description="InfoGAN: `continuous:<i>` sweeps continuous code i; `categorical` steps "
                                         "through every category (then `steps` is the number of categories)")
    low: FiniteFloat = Field(-2.0, description="First value of the swept dimension or code")
    high: FiniteFloat = Field(2.0, description="Last value of the swept dimension or code")

    @model_validator(mode="after")
    def _one_axis(self) -> TraverseRequest:
        if (self.dimension is None) == (self.code is None):
            raise ValueError("give exactly one of dimension (a latent index) or code")
        if self.latent is not None and (self.seed is not None or self.rows != 1):
            raise ValueError("give either latent (one row), or seed and rows; not both")
        if self.latent is not None and self.truncation is not None:
            raise ValueError("truncation redraws seeded latents; an explicit latent is used as given")
        return self


RECOMMENDED = {"properties": {"mix": {"const": "recommended"}}, "required": ["mix"]}


class AugmentRequest(StrictModel):
    model_config = json_rules({"if": RECOMMENDED, "then": {"not": {"anyOf": [_given("counts"), _given("total")]}},
                               "else": exactly_one("counts", "total")})

    mix: Literal["synthetic", "recommended"] = Field(
        "synthetic", description="synthetic: the generator's images only, `counts` or `total` of them; recommended: "
        "the mix the model's latest augmentation report recommends for its data set (the data set's own images "
        "plus what the recommended row adds; counts and total left out), with the report and its measured gain "
        "in the manifest and headers (409 without a report)")
    counts: dict[str, Annotated[int, Field(ge=0)]] | None = Field(
        None, min_length=1, description="Conditional models: images per class, by class name or index; at least "
                                        "one image in all, and in all at most the server's max_augment_images")
    total: int | None = Field(None, ge=1, description="Images in all, balanced across the classes if any")
    seed: Seed | None = Field(None, description="Random when left out; the response's manifest records it")
    truncation: Truncation | None = None
    psi: Psi | None = Field(None, description="Style-based models: truncation towards the mean w")
    psi_cutoff: PsiCutoff | None = None
    format: DatasetFormat = Field("zip", description=describe("dataset"))

    @model_validator(mode="after")
    def _one_size(self) -> AugmentRequest:
        if self.mix == "recommended":
            if self.counts is not None or self.total is not None:
                raise ValueError("mix recommended: the report decides the counts; leave out counts and total")
        elif (self.counts is None) == (self.total is None):
            raise ValueError("give exactly one of counts (per class) or total")
        return self
