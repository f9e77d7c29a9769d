"""A new kind of model that exists only in the tests, as a plugin (`GANFORGE_FAMILY_MODULES='["tests.inpainter"]'`):
an inpainter, which fills the hole in the middle of an image. This package brings the kind (its card, rules,
footprint, scorer, route and dashboard hints), a family of it (two tiny nets) and the family's own training loop; it
trains, is scored, carded and served over HTTP without an edit to any file of the product
(tests/e2e/test_kind_plugin.py). As for built-in kinds, the loop, the scorer and the route are named by import path,
so the API never loads the loop and the worker never loads the route."""

from __future__ import annotations

import torch
from torch import nn

from core.card import ModelInputs
from core.data_rules import same_shape_rules
from core.kinds import Kind, register_kind
from models.family import Family, GANConfig, register_family
from tests.inpainter.nets import HoleFiller, PatchCritic

KIND, ARCH = "inpainter", "toy-inpainter"


def inpainter_inputs(gan: GANConfig, classes: list[str]) -> ModelInputs:
    return ModelInputs(latent_dim=0, images={"inpaint": list(gan.data_shape)})


def inpaint_pass(g: nn.Module, d: nn.Module, gan: GANConfig, batch: int) -> None:
    d(g(torch.empty(batch, *gan.data_shape)))


register_kind(Kind(KIND, "fills the hole in the middle of an image", "/inpaint", inpainter_inputs,
                   scorer="tests.inpainter.training:score", router="tests.inpainter.serving:router",
                   data_rules=same_shape_rules, footprint=inpaint_pass,
                   dashboard={"playground": "images", "route": "inpaint"},
                   describe_inputs=lambda family: "an image with a hole"))
register_family(ARCH, Family("GANForge test suite", "a conv encoder-decoder G filling a centred hole, a patch critic",
                             "least-squares", ("least-squares",), 3e-3, 3e-3, (0.5, 0.999), d_norm="none",
                             data_kinds=("images",), image_sizes=(28,), kind=KIND,
                             trainer="tests.inpainter.training:InpaintTrainer",
                             build_generator=HoleFiller, build_discriminator=PatchCritic))
