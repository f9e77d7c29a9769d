"""Turns a request into the generator's inputs, checking each against the model's card."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import torch
from fastapi import Response

from core.card import CodeSizes, ModelCard, StyleInputs
from models.sampling import Conditioning, interpolate, latents_for_seed
from service.api.problems import Problem
from service.api.schemas import CodesIn, GenerateRequest, InterpolateRequest, LatentPoint, TraverseRequest
from service.serving.formats import check_format, default_format, respond
from service.serving.inputs import GeneratorInputs

# A style-based generator's mapping network: latents (and labels) in, ws (N x num_ws x w_dim) out.
Mapper = Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]


def new_seed() -> int:
    return secrets.randbelow(2**63)


def resolve_inputs(card: ModelCard, request: GenerateRequest, cap: int) -> GeneratorInputs:
    if request.ws is not None:
        if len(request.ws) > cap:
            raise Problem(422, f"ws: at most {cap} images per request; got {len(request.ws)}")
        if request.labels is not None or request.codes is not None:
            raise Problem(422, "labels: ws already hold what the mapping made of the labels; leave labels out")
        ws = explicit_ws(card, request.ws, "ws")
        return GeneratorInputs(torch.empty(len(ws), 0), style_conditioning(card, request.psi, request.psi_cutoff,
                                                                           len(ws)), ws=ws)
    if request.latents is not None:
        if len(request.latents) > cap:
            raise Problem(422, f"latents: at most {cap} vectors per request; got {len(request.latents)}")
        inputs = GeneratorInputs(_explicit(card.latent_dim, request.latents, "latents"))
    else:
        n = request.n or 1
        if n > cap:
            raise Problem(422, f"n: at most {cap} images per request (the server's max_images_per_request); "
                               f"got {n}")
        seed = new_seed() if request.seed is None else request.seed
        inputs = GeneratorInputs(latents_for_seed(n, card.latent_dim, seed, request.truncation), seed=seed,
                                 truncation=request.truncation)
    inputs.conditioning = conditioning(card, request.labels, request.codes, inputs.count) | \
        style_conditioning(card, request.psi, request.psi_cutoff, inputs.count)
    return inputs


class Generation:
    """A generate request's work in its batch's thread (service.serving.batching): `prepare` draws its latents and
    checks them against the card, `finish` encodes its images. Not for ws requests (they batch apart)."""

    def __init__(self, card: ModelCard, request: GenerateRequest, cap: int):
        self.card, self.request, self.cap = card, request, cap
        # Images it asks for, to size the batch before its inputs exist.
        self.size = len(request.latents) if request.latents is not None else request.n or 1
        self.inputs: GeneratorInputs | None = None
        self.format = request.format

    def prepare(self) -> tuple[torch.Tensor, Conditioning]:
        self.inputs = resolve_inputs(self.card, self.request, self.cap)
        self.format = self.request.format or default_format(self.inputs.count)
        check_format(self.card, self.format, self.inputs.count)
        return self.inputs.latents, self.inputs.conditioning

    def finish(self, samples: torch.Tensor) -> Response:
        return respond(samples, self.inputs, self.card, self.format, self.request.nrow)


def interpolation_inputs(card: ModelCard, request: InterpolateRequest, cap: int,
                         mapper: Mapper | None = None) -> GeneratorInputs:
    """The frames' inputs: latents along a path in z, or (`space: w`, style-based models, needing the model's
    `mapper`) ws along a straight line between the ends' mapped ws."""
    _check_steps(request.steps, cap)
    styled = style_conditioning(card, request.psi, request.psi_cutoff, request.steps)
    if request.space == "w":
        styles_of(card, "space")
        points = (request.start, "start"), (request.end, "end")
        ends = [point_ws(card, point, request.truncation, labels, mapper, name)
                for (point, name), labels in zip(points, _end_labels(card, request), strict=True)]
        t = torch.linspace(0, 1, request.steps).view(-1, 1, 1)
        ws = torch.lerp(ends[0].unsqueeze(0), ends[1].unsqueeze(0), t)
        ws[0], ws[-1] = ends  # the ends exactly, as in z
        return GeneratorInputs(torch.empty(request.steps, 0), styled, truncation=request.truncation, ws=ws)
    if request.start.ws is not None or request.end.ws is not None:
        raise Problem(422, "ws ends are points in w: set space to w to interpolate between them")
    start = _point(card.latent_dim, request.start, request.truncation, "start")
    end = _point(card.latent_dim, request.end, request.truncation, "end")
    latents = interpolate(start, end, request.steps, request.method)
    return GeneratorInputs(latents, _fixed(card, request, request.steps) | styled, truncation=request.truncation)


def point_ws(card: ModelCard, point: LatentPoint, truncation: float | None, labels: torch.Tensor | None,
              mapper: Mapper, name: str) -> torch.Tensor:
    """One point's ws (num_ws x w_dim): given, or its latent (or seed's) through the mapping."""
    if point.ws is not None:
        return explicit_ws(card, [point.ws], f"{name}.ws")[0]
    return mapper(_point(card.latent_dim, point, truncation, name).unsqueeze(0), labels)[0]


def traversal_inputs(card: ModelCard, request: TraverseRequest, cap: int) -> GeneratorInputs:
    """`rows` base latents, each repeated along one swept latent dimension or InfoGAN code."""
    latent_dim, codes = card.latent_dim, card.inputs.codes
    steps = request.steps
    if request.code == "categorical":
        if not codes or not codes.categorical:
            raise Problem(422, f"code: model {card.id} has no categorical code to step through")
        steps = codes.categorical
    rows = 1 if request.latent is not None else request.rows
    count = rows * steps
    _check_steps(steps, cap, count)  # before drawing anything: rows alone may ask for millions of latents
    seed = None
    if request.latent is not None:
        base = _explicit(latent_dim, [request.latent], "latent")
    else:
        seed = new_seed() if request.seed is None else request.seed
        base = latents_for_seed(rows, latent_dim, seed, request.truncation)
    latents = base.repeat_interleave(steps, dim=0)
    sweep = torch.linspace(request.low, request.high, steps).repeat(base.shape[0])
    fixed = _fixed(card, request, count)
    if request.dimension is not None:
        if request.dimension >= latent_dim:
            raise Problem(422, f"dimension: the model's latents have {latent_dim} dimensions (0..{latent_dim - 1}); "
                               f"got {request.dimension}")
        latents[:, request.dimension] = sweep
    elif request.code == "categorical":
        fixed["categorical"] = torch.arange(steps).repeat(base.shape[0])
    else:
        index = int(request.code.split(":")[1])
        width = codes.continuous if codes else 0
        if index >= width:
            raise Problem(422, f"code: model {card.id} has {width} continuous codes; got continuous:{index}")
        fixed["continuous"][:, index] = sweep
    fixed |= style_conditioning(card, request.psi, request.psi_cutoff, count)
    return GeneratorInputs(latents, fixed, seed=seed, truncation=request.truncation)


def conditioning(card: ModelCard, labels, codes: CodesIn | None, n: int, cycle: bool = True) -> Conditioning:
    """Labels and codes for `n` images; what is left out cycles through the classes and categories (a grid
    shows each), or with `cycle` off holds the first."""
    result = {}
    if (label_tensor := _labels(card.inputs.labels, labels, n, card.id, cycle)) is not None:
        result["labels"] = label_tensor
    categorical, continuous = _codes(card.inputs.codes, codes, n, card.id, cycle)
    if categorical is not None:
        result["categorical"] = categorical
    if continuous is not None:
        result["continuous"] = continuous
    return result


def label_index(classes: list[str], label: int | str) -> int:
    if isinstance(label, str) and label in classes:
        return classes.index(label)
    if isinstance(label, int) and 0 <= label < len(classes):
        return label
    if isinstance(label, str) and label.isdigit() and int(label) < len(classes):
        return int(label)
    raise Problem(422, f"labels: unknown label {label!r}; the model's classes are {classes} "
                       f"(or their indices 0..{len(classes) - 1})")


def _fixed(card: ModelCard, request: InterpolateRequest | TraverseRequest, n: int) -> Conditioning:
    """The labels and codes of every frame. A conditional model is told its class: a silent first class would pass
    for what the model draws."""
    if card.inputs.labels and request.labels is None:
        raise Problem(422, _labels_needed(card, request))
    if card.inputs.labels and isinstance(request.labels, list):
        raise Problem(422, "labels: one per end needs space w (a style-based model maps each end with its own "
                           "class); here give one label for every frame")
    return conditioning(card, request.labels, request.codes, n, cycle=False)


def _end_labels(card: ModelCard, request: InterpolateRequest) -> list[torch.Tensor | None]:
    """Interpolation in w: the labels each end's latent is mapped with (None for an end given as ws, which holds
    what the mapping made of its class already)."""
    asked, mapped = request.labels, [point.ws is None for point in (request.start, request.end)]
    if not card.inputs.labels:
        if asked is not None:
            raise Problem(422, f"labels: model {card.id} is unconditional and takes no labels")
        return [None, None]
    if not any(mapped):
        if asked is not None:
            raise Problem(422, "labels: both ends are ws, which hold what the mapping made of their classes; "
                               "leave labels out")
        return [None, None]
    if asked is None:
        raise Problem(422, _labels_needed(card, request))
    if isinstance(asked, list) and not all(mapped):
        raise Problem(422, f"labels[{mapped.index(False)}]: that end is ws, which hold its class already; give one "
                           "label (for the other end)")
    per_end = asked if isinstance(asked, list) else [asked, asked]
    return [conditioning(card, label, None, 1, cycle=False)["labels"] if end else None
            for label, end in zip(per_end, mapped, strict=True)]


def _labels_needed(card: ModelCard, request: InterpolateRequest | TraverseRequest) -> str:
    per_end = (" or, with space w, one per end ([start, end])" if isinstance(request, InterpolateRequest)
               and card.inputs.styles is not None else "")
    return labels_needed(card, f"the frames{per_end}")


def labels_needed(card: ModelCard, what: str) -> str:
    """The 422 detail for a conditional model asked for images without their class: it names the classes."""
    classes = card.inputs.labels
    shown = classes if len(classes) <= 12 else [*classes[:12], "…"]
    return (f"labels: model {card.id} is conditional: give the class of {what}, a name of {shown} or an index "
            f"0..{len(classes) - 1}")


def _check_steps(steps: int, cap: int, count: int | None = None) -> None:
    if steps > cap:
        raise Problem(422, f"steps: at most {cap} (the server's max_images_per_request); got {steps}")
    if count is not None and count > cap:
        raise Problem(422, f"rows x steps: at most {cap} images (the server's max_images_per_request); got {count}")


def _explicit(latent_dim: int, vectors: list[list[float]], name: str) -> torch.Tensor:
    for i, vector in enumerate(vectors):
        if len(vector) != latent_dim:
            where = f"{name}[{i}]" if name == "latents" else name
            raise Problem(422, f"{where} must have length {latent_dim} (the model's latent_dim); got {len(vector)}")
    return torch.tensor(vectors, dtype=torch.float32)


def _point(latent_dim: int, point: LatentPoint, truncation: float | None, name: str) -> torch.Tensor:
    if point.ws is not None:
        raise Problem(422, f"{name}.ws: this request takes latents or seeds here")
    if point.latent is not None:
        return _explicit(latent_dim, [point.latent], f"{name}.latent")[0]
    return latents_for_seed(1, latent_dim, point.seed, truncation)[0]


def _labels(classes: list[str] | None, asked, n: int, model_id: str, cycle: bool) -> torch.Tensor | None:
    if not classes:
        if asked is not None:
            raise Problem(422, f"labels: model {model_id} is unconditional and takes no labels")
        return None
    if asked is None:
        return torch.arange(n) % len(classes) if cycle else torch.zeros(n, dtype=torch.long)
    asked = asked if isinstance(asked, list) else [asked]
    if len(asked) not in (1, n):
        raise Problem(422, f"labels: give one label for all images or one per image ({n}); got {len(asked)}")
    indices = [label_index(classes, label) for label in asked]
    return torch.tensor(indices * n if len(indices) == 1 else indices, dtype=torch.long)


def _codes(spec: CodeSizes | None, asked: CodesIn | None, n: int, model_id: str, cycle: bool):
    if not spec:
        if asked is not None:
            raise Problem(422, f"codes: model {model_id} is not an InfoGAN and takes no codes")
        return None, None
    asked_cat = asked.categorical if asked is not None else None
    asked_cont = asked.continuous if asked is not None else None
    categorical = None
    if spec.categorical:
        if asked_cat is None:
            categorical = torch.arange(n) % spec.categorical if cycle else torch.zeros(n, dtype=torch.long)
        else:
            values = asked_cat if isinstance(asked_cat, list) else [asked_cat]
            if len(values) not in (1, n) or any(not 0 <= v < spec.categorical for v in values):
                raise Problem(422, f"codes.categorical: one index in 0..{spec.categorical - 1} for all images "
                                   f"or one per image ({n}); got {asked_cat}")
            categorical = torch.tensor(values * n if len(values) == 1 else values, dtype=torch.long)
    elif asked_cat is not None:
        raise Problem(422, "codes.categorical: this model has no categorical code")
    continuous = None
    if spec.continuous:
        width = spec.continuous
        if asked_cont is None:  # the centre of the code's range
            continuous = torch.zeros(n, width)
        else:
            rows = asked_cont if asked_cont and isinstance(asked_cont[0], list) else [asked_cont]
            if len(rows) not in (1, n) or any(len(row) != width for row in rows):
                raise Problem(422, f"codes.continuous: {width} values for all images, or one such list per image "
                                   f"({n}); got {asked_cont}")
            continuous = torch.tensor(rows * n if len(rows) == 1 else rows, dtype=torch.float32)
    elif asked_cont is not None:
        raise Problem(422, "codes.continuous: this model has no continuous codes")
    return categorical, continuous


def styles_of(card: ModelCard, asked: str) -> StyleInputs:
    if card.inputs.styles is None:
        raise Problem(422, f"{asked}: model {card.id} ({card.arch}) is not style-based; its card has no "
                           "inputs.styles (use truncation to narrow its latents)")
    return card.inputs.styles


def style_conditioning(card: ModelCard, psi: float | list[float] | None, cutoff: int | None,
                       n: int) -> Conditioning:
    """A style-based model's per-image truncation (psi 1 everywhere when none is asked, so that requests with
    and without psi share a batch); nothing for other models, which refuse psi."""
    if card.inputs.styles is None:
        if psi is not None or cutoff is not None:
            styles_of(card, "psi" if psi is not None else "psi_cutoff")
        return {}
    styles = card.inputs.styles
    values = [1.0] if psi is None else (psi if isinstance(psi, list) else [psi])
    if len(values) not in (1, n):
        raise Problem(422, f"psi: give one value for all images or one per image ({n}); got {len(values)}")
    if cutoff is not None and cutoff > styles.num_ws:
        raise Problem(422, f"psi_cutoff: the model has {styles.num_ws} ws; got {cutoff}")
    return {"psi": torch.tensor(values * n if len(values) == 1 else values, dtype=torch.float32),
            "cutoff": torch.full((n,), cutoff or styles.num_ws, dtype=torch.long)}


def explicit_ws(card: ModelCard, vectors: list, name: str) -> torch.Tensor:
    """N x num_ws x w_dim from a list of per-image ws, each one w (used for every layer) or one per layer."""
    styles = styles_of(card, name)
    rows = []
    for i, vector in enumerate(vectors):
        per_layer = vector if vector and isinstance(vector[0], list) else [vector] * styles.num_ws
        if len(per_layer) != styles.num_ws or any(len(w) != styles.w_dim for w in per_layer):
            raise Problem(422, f"{name}[{i}]: give one w of {styles.w_dim} values, or {styles.num_ws} of them (one "
                               f"per layer: the card's inputs.styles)")
        rows.append(per_layer)
    return torch.tensor(rows, dtype=torch.float32)
