"""Turns a generation request into the generator's inputs, checking each against the model's card."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

import torch

from models.sampling import latents_for_seed
from service.problems import Problem
from service.schemas import GenerateRequest


@dataclass
class GeneratorInputs:
    latents: torch.Tensor
    labels: torch.Tensor | None = None
    categorical: torch.Tensor | None = None
    continuous: torch.Tensor | None = None
    seed: int | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def as_kwargs(self) -> dict:
        return {k: v for k, v in (("labels", self.labels), ("categorical", self.categorical),
                                  ("continuous", self.continuous)) if v is not None}


def resolve_inputs(card: dict, request: GenerateRequest, cap: int) -> GeneratorInputs:
    inputs = GeneratorInputs(_latents(card["latent_dim"], request, cap))
    n = inputs.latents.shape[0]
    if request.latents is None:
        inputs.seed = request.seed
    model_inputs = card.get("inputs") or {}
    inputs.labels = _labels(model_inputs.get("labels"), request.labels, n, card["id"])
    inputs.categorical, inputs.continuous = _codes(model_inputs.get("codes"), request.codes, n, card["id"])
    return inputs


def _latents(latent_dim: int, request: GenerateRequest, cap: int) -> torch.Tensor:
    if request.latents is not None:
        if len(request.latents) > cap:
            raise Problem(422, f"latents: at most {cap} vectors per request; got {len(request.latents)}")
        for i, vector in enumerate(request.latents):
            if len(vector) != latent_dim:
                raise Problem(422, f"latents[{i}] must have length {latent_dim} (the model's latent_dim); "
                                   f"got {len(vector)}")
        return torch.tensor(request.latents, dtype=torch.float32)
    n = request.n or 1
    if n > cap:
        raise Problem(422, f"n: at most {cap} images per request (the server's max_images_per_request); got {n}")
    if request.seed is None:
        request.seed = secrets.randbelow(2**63)
    return latents_for_seed(n, latent_dim, request.seed)


def _labels(classes: list[str] | None, asked, n: int, model_id: str) -> torch.Tensor | None:
    if not classes:
        if asked is not None:
            raise Problem(422, f"labels: model {model_id} is unconditional and takes no labels")
        return None
    if asked is None:  # one image per class in turn, so a grid shows every class
        return torch.arange(n) % len(classes)
    asked = asked if isinstance(asked, list) else [asked]
    if len(asked) not in (1, n):
        raise Problem(422, f"labels: give one label for all images or one per image ({n}); got {len(asked)}")
    indices = [_label_index(classes, label) for label in asked]
    return torch.tensor(indices * n if len(indices) == 1 else indices, dtype=torch.long)


def _label_index(classes: list[str], label: int | str) -> int:
    if isinstance(label, str) and label in classes:
        return classes.index(label)
    if isinstance(label, int) and 0 <= label < len(classes):
        return label
    if isinstance(label, str) and label.isdigit() and int(label) < len(classes):
        return int(label)
    raise Problem(422, f"labels: unknown label {label!r}; the model's classes are {classes} "
                       f"(or their indices 0..{len(classes) - 1})")


def _codes(spec: dict | None, asked, n: int, model_id: str):
    if not spec:
        if asked is not None:
            raise Problem(422, f"codes: model {model_id} is not an InfoGAN and takes no codes")
        return None, None
    asked_cat = asked.categorical if asked is not None else None
    asked_cont = asked.continuous if asked is not None else None
    categorical = None
    if spec["categorical"]:
        if asked_cat is None:  # each category in turn
            categorical = torch.arange(n) % spec["categorical"]
        else:
            values = asked_cat if isinstance(asked_cat, list) else [asked_cat]
            if len(values) not in (1, n) or any(not 0 <= v < spec["categorical"] for v in values):
                raise Problem(422, f"codes.categorical: one index in 0..{spec['categorical'] - 1} for all images "
                                   f"or one per image ({n}); got {asked_cat}")
            categorical = torch.tensor(values * n if len(values) == 1 else values, dtype=torch.long)
    elif asked_cat is not None:
        raise Problem(422, "codes.categorical: this model has no categorical code")
    continuous = None
    if spec["continuous"]:
        width = spec["continuous"]
        if asked_cont is None:  # the centre of the code's range
            continuous = torch.zeros(n, width)
        else:
            rows = asked_cont if isinstance(asked_cont[0], list) else [asked_cont]
            if len(rows) not in (1, n) or any(len(row) != width for row in rows):
                raise Problem(422, f"codes.continuous: {width} values for all images, or one such list per image "
                                   f"({n}); got {asked_cont}")
            continuous = torch.tensor(rows * n if len(rows) == 1 else rows, dtype=torch.float32)
    elif asked_cont is not None:
        raise Problem(422, "codes.continuous: this model has no continuous codes")
    return categorical, continuous
