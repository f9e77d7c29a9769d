"""Kinds of model: what a model takes and gives, and everything in the house that follows from it.

A `Kind` is one row of data. The card builder, the job spec's rules, the memory-footprint rule, the default scorer,
the routes that serve it and the dashboard's hints all read the row, so no module branches on a kind's name. The
scorer and the routes are named by import path ("module:attribute"): the worker imports the one and the API the
other, and neither loads the other's code. A plugin (a module named in GANFORGE_FAMILY_MODULES) adds a kind with
`register_kind` and its families with `models.gan.register_family`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.card import ModelCard, ModelInputs, augmenter_inputs, sampler_inputs, translator_inputs
from core.data_rules import same_shape_rules, translation_rules
from core.ids import new_id
from models import export, footprint
from models.gan import FAMILIES, Family, GANConfig

# The spec's options that only some kinds take: noise and sampler settings, and the per-epoch extras of the
# noise-to-image loop. A kind lists those it takes; a job of another kind that sets one is told so.
KIND_MODEL_OPTIONS = ("latent_dim", "hidden", "depth", "pack", "mbstd")
KIND_TRAIN_OPTIONS = ("augment", "eval_every_epochs", "keep_best", "unroll_steps")
_OFF = {"pack": 1, "mbstd": 0}  # values that leave an option off, as if it were not given

Rules = Callable[[Any, str, Any, Any, list[str]], list[str]]


@dataclass(frozen=True)
class Kind:
    name: str
    does: str  # what a model of this kind does, after its name: "translates images"
    route: str  # where its requests go: "/translate"
    inputs: Callable[[GANConfig, list[str]], ModelInputs]  # what the card says it takes
    scorer: str  # "module:function" the worker runs when training ends (worker/scoring.py has the signature)
    router: str  # "module:router", the FastAPI router that serves it
    options: tuple[str, ...] = ()  # of KIND_MODEL_OPTIONS and KIND_TRAIN_OPTIONS, the ones it takes
    data_rules: Rules = same_shape_rules  # what a data set asks of its jobs
    footprint: Callable = footprint.sample_pass  # one meta pass of its G and D (models/footprint.py)
    dashboard: dict[str, Any] = field(default_factory=dict)  # hints for the web page's model view
    evaluations: bool = False  # whether POST /v1/models/{id}/evaluations scores it (else only its job's figures)
    describe_inputs: Callable[[Family], str] = lambda family: "an image"  # for docs/models.md's table
    # Its generator as files with named inputs (models/export.py); None: GET /v1/models/{id}/export refuses it.
    graphs: Callable[[Any, GANConfig], list[export.Graph]] | None = None

    @property
    def article(self) -> str:
        return "an" if self.name[0] in "aeiou" else "a"

    def card(self, gan: GANConfig, classes: list[str] | tuple[str, ...], *, model_id: str | None = None,
             **fields: Any) -> ModelCard:
        """The card of a model of this kind: the one way a card is made, by a job, a benchmark or a test."""
        inputs = self.inputs(gan, list(classes))
        return ModelCard(id=model_id or new_id("model"), kind=self.name, data_kind=gan.data_kind, arch=gan.arch,
                         reference=gan.family.reference, config=gan.to_dict(), latent_dim=inputs.latent_dim,
                         image_shape=list(gan.data_shape), classes=list(classes), inputs=inputs, **fields)

    def refused_model_options(self, model: Any) -> list[str]:
        return [name for name in KIND_MODEL_OPTIONS
                if name not in self.options and getattr(model, name) not in (None, _OFF.get(name))]

    def refused_train_options(self, train: Any) -> list[str]:
        return [name for name in KIND_TRAIN_OPTIONS if name not in self.options and getattr(train, name)]

    def wrong_route(self, model_id: str, arch: str) -> str:
        """The 422 of a route that does not serve this kind."""
        return f"model {model_id} is {self.article} {self.name} ({arch}): it {self.does}; use {self.route}"


def load(path: str) -> Any:
    """The attribute named by "module:attribute"."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


KINDS: dict[str, Kind] = {}


def register_kind(kind: Kind) -> None:
    if kind.name in KINDS and KINDS[kind.name] is not kind:
        raise ValueError(f"a kind named {kind.name!r} is already registered")
    KINDS[kind.name] = kind


def kind_of(name: str) -> Kind:
    if name not in KINDS:
        raise ValueError(f"unknown kind of model {name!r} (a plugin not loaded here?); known: {', '.join(KINDS)}")
    return KINDS[name]


def family_kind(arch: str) -> Kind:
    return kind_of(FAMILIES[arch].kind)


def card_for(gan: GANConfig, classes: list[str] | tuple[str, ...], **fields: Any) -> ModelCard:
    """The card of a model of this config, made by its family's kind."""
    return family_kind(gan.arch).card(gan, classes, **fields)


def takers(option: str) -> str:
    """The kinds that take a kind-scoped option, in words ("samplers")."""
    return ", ".join(f"{kind.name}s" for kind in KINDS.values() if option in kind.options) or "no kind"


def _sampler_inputs_doc(family: Family) -> str:
    extra = {"never": "", "always": " + labels", "optional": " (+ labels)"}[family.conditional]
    return "latents / seed" + extra + (" + codes" if family.takes_codes else "")


register_kind(Kind(
    "sampler", "makes images (or 2-D points) from noise, labels and codes", "/generate", sampler_inputs,
    scorer="worker.scoring:score_sample_quality", router="service.api.routers.sampling:router",
    options=(*KIND_MODEL_OPTIONS, *KIND_TRAIN_OPTIONS), evaluations=True, dashboard={"playground": "latents"},
    describe_inputs=_sampler_inputs_doc, graphs=export.sampler_graphs))
register_kind(Kind(
    "translator", "translates images, and takes no noise or sampler options", "/translate", translator_inputs,
    scorer="worker.scoring:score_translation", router="service.api.routers.translating:router",
    data_rules=translation_rules, footprint=footprint.translate_pass,
    dashboard={"playground": "images", "route": "translate", "directions": True},
    describe_inputs=lambda family: "an image (" + " or ".join(family.directions) + ")",
    graphs=export.translator_graphs))
register_kind(Kind(
    "augmenter", "varies images, and takes no sampler options", "/variations", augmenter_inputs,
    scorer="worker.scoring:score_variations", router="service.api.routers.varying:router", options=("latent_dim",),
    footprint=footprint.vary_pass, dashboard={"playground": "images", "route": "variations", "seeded": True},
    describe_inputs=lambda family: "an image + seed (n variations)", graphs=export.augmenter_graphs))
