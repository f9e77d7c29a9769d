"""What a data set asks of a job, per kind of model: the rules a Kind applies when a job meets its data set (its
data kind, shapes and classes). They read the job spec's fields and import nothing of core.spec, so that the kinds
(core/kinds.py) and the spec can both use them."""

from __future__ import annotations

from typing import Any

from models.toy2d import MIXTURES


def same_shape_rules(spec: Any, data_kind: str, shape, source_shape, classes: list[str]) -> list[str]:
    """A model whose samples have the data's own shape (samplers, augmenters): points or images of a size the
    family takes, per-epoch scores that the data can give, labels for a conditional model."""
    model, family, errors = spec.model, spec.model.family, []
    if data_kind == "points":
        if model.image_size is not None:
            errors.append("model.image_size applies to images; this data set is 2-D points")
        if spec.train.augment:
            errors.append("train.augment applies to images; this data set is 2-D points")
    elif family.image_backbone == "conv" and model.image_size is None and shape[-1] not in family.image_sizes:
        sizes = ", ".join(map(str, family.image_sizes))
        errors.append(f"the data set's images are {shape[-1]}x{shape[-1]}; {model.arch} takes {sizes}: "
                      "set model.image_size")
    if spec.train.eval_every_epochs:
        if data_kind == "points" and spec.dataset not in MIXTURES:
            errors.append(f"train.eval_every_epochs scores 2-D points on the built-in mixtures "
                          f"({', '.join(MIXTURES)}); {spec.dataset} is not one of them")
        if data_kind == "images" and len(classes) < 2:
            errors.append("train.eval_every_epochs scores images with the data set's reference classifier, and this "
                          "data set has no labels (an Inception score every epoch would cost minutes on a CPU)")
    if model.is_conditional and len(classes) < 2:
        errors.append(f"{model.arch} conditions on class labels, and this data set has "
                      f"{'no labels' if not classes else 'a single class'}; use a labelled data set or an "
                      "unconditional arch")
    return errors


def translation_rules(spec: Any, data_kind: str, shape, source_shape, classes: list[str]) -> list[str]:
    """An image-to-image model: a size its nets take, and inputs and outputs of one size unless the family upscales
    (then 2x or 4x)."""
    model, family, errors = spec.model, spec.model.family, []
    if model.scale is not None and data_kind != "images":
        errors.append(f"model.scale is for {model.arch} on a plain image set; on pairs the factor is the sizes' ratio")
    side = model.image_size or shape[-1]
    if side not in family.image_sizes:
        errors.append(f"the data set's images are {shape[-1]}x{shape[-1]}; {model.arch} takes "
                      f"{', '.join(map(str, family.image_sizes))}: set model.image_size")
    if data_kind in ("paired", "unpaired") and source_shape:
        ratio = shape[-1] / source_shape[-1]
        if family.upscales and ratio not in (2, 4):
            errors.append(f"{model.arch} upscales 2x or 4x; this data set's B images are {ratio:g}x its A images")
        elif not family.upscales and ratio != 1 and model.image_size is None:
            errors.append(f"{model.arch} needs A and B images of one size; this data set's are {source_shape[-1]} "
                          f"and {shape[-1]} px: set model.image_size to resize both")
    return errors
