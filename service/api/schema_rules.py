"""What the server enforces, written into the OpenAPI document where FastAPI's generation leaves it out or blurs it.

- FastAPI passes every schema through its OpenAPI models, whose bounds are floats: an integer's `lt=2**63` comes
  out as `exclusiveMaximum: 9.223372036854776e+18`, a float no integer-only client or generator should have to
  round. Integer bounds are written back as inclusive integers.
- A multipart form field is a string or absent: it cannot be null, so a form field's null branch is dropped
  (leaving it out is how a client gives none).
- A job's model options and training options depend on its family (`model.blocks` is for cyclegan and srgan,
  `train.r1_gamma` for stylegan2, ...): the family rows say which, and each becomes a branch of the schema. The
  spec's other cross-field checks (ada_target needs augment, ...) follow, and an evaluation's report-only fields go
  with metrics ["augmentation_gain"] alone. tests/service/test_openapi_document.py holds each rule to its validator.
- The server's caps on one request (settings) bound the fields that ask for images.
"""

from __future__ import annotations

import math
from typing import Any, get_args

from core.kinds import _OFF, KIND_MODEL_OPTIONS, KIND_TRAIN_OPTIONS, family_kind
from core.spec import REPORT_ONLY, EvaluationRequest, Metric, ModelSpec, TrainSpec
from models.gan import FAMILIES, STANDARD_LOOP

DEFAULT_ARCH = ModelSpec.model_fields["arch"].default


def integer_bounds(node: Any) -> None:
    """Bounds of every `type: integer` schema under `node` as inclusive integers (exclusive bounds become the
    nearest integer inside them)."""
    if isinstance(node, list):
        for item in node:
            integer_bounds(item)
        return
    if not isinstance(node, dict):
        return
    if node.get("type") == "integer":
        if isinstance(node.get("exclusiveMaximum"), int | float):
            node["maximum"] = min(math.ceil(node.pop("exclusiveMaximum")) - 1, node.get("maximum", math.inf))
        if isinstance(node.get("exclusiveMinimum"), int | float):
            node["minimum"] = max(math.floor(node.pop("exclusiveMinimum")) + 1, node.get("minimum", -math.inf))
        if isinstance(node.get("maximum"), float):
            node["maximum"] = math.floor(node["maximum"])
        if isinstance(node.get("minimum"), float):
            node["minimum"] = math.ceil(node["minimum"])
    for value in node.values():
        integer_bounds(value)


def plain_form_fields(paths: dict) -> None:
    """Drops the null branch of each multipart form field: a form has strings, and no null among them."""
    for operations in paths.values():
        for operation in operations.values():
            form = operation.get("requestBody", {}).get("content", {}).get("multipart/form-data")
            for field in (form or {}).get("schema", {}).get("properties", {}).values():
                branches = [b for b in field.get("anyOf", ()) if b != {"type": "null"}]
                if len(branches) == 1 and len(field["anyOf"]) == 2:
                    del field["anyOf"]
                    field.update(branches[0])


_ABSENT = {"const": None}  # left out, or null


def _arch_is(arch: str) -> dict:
    """Matches a model spec of this family; the default family also when `arch` is left out."""
    return {"properties": {"arch": {"const": arch}}, **({} if arch == DEFAULT_ARCH else {"required": ["arch"]})}


def _model_branch(arch: str) -> dict:
    """The model options `arch` takes, as ModelSpec's model_validator checks them."""
    family, kind = FAMILIES[arch], family_kind(arch)
    family_options = {name for f in FAMILIES.values() for name in f.model_options}
    # `const: null`, not `type: null`: a type that differs from the base property's makes ReDoc warn of
    # incompatible types when it merges the branch, though a validator reads the two the same.
    rules: dict[str, dict] = {name: _ABSENT for name in sorted(family_options - set(family.model_options))}
    for name in KIND_MODEL_OPTIONS:
        if name not in kind.options:
            rules[name] = {"enum": [None, _OFF[name]]} if name in _OFF else _ABSENT
    rules["loss"] = {"enum": [None, *family.losses]}
    rules["image_size"] = {"enum": [None, *family.image_sizes]}
    if family.conditional != "optional":
        rules["conditional"] = {"enum": [None, family.conditional == "always"]}
    if family.takes_codes:  # at least one code: categorical and continuous may not both be 0
        rules["codes"] = {"not": {"required": ["categorical", "continuous"],
                                  "properties": {"categorical": {"const": 0}, "continuous": {"const": 0}}}}
    else:
        rules["codes"] = _ABSENT
    branch = _arch_is(arch)
    return {**branch, "properties": {**branch["properties"], **rules}}


def _train_rules(arch: str) -> dict | None:
    """The training options `arch` trains without: each at its default (what core.spec's compatibility check and
    the kind's rules refuse otherwise), and no ada_target outside the standard loop (JobSpec's validator)."""
    family, kind = FAMILIES[arch], family_kind(arch)
    refused = {name for f in FAMILIES.values() for name in f.train_options} - set(family.train_options)
    refused |= {name for name in KIND_TRAIN_OPTIONS if name not in kind.options}
    if family.trainer != STANDARD_LOOP:
        refused.add("ada_target")
    if not refused:
        return None
    fields = TrainSpec.model_fields
    chosen = {"properties": {"model": _arch_is(arch)}, **({} if arch == DEFAULT_ARCH else {"required": ["model"]})}
    return {"if": chosen,
            "then": {"properties": {"train": {"properties": {name: {"const": fields[name].default}
                                                             for name in sorted(refused)}}}}}


def _train_given(name: str, value: dict) -> dict:
    return {"required": ["train"], "properties": {"train": {"required": [name], "properties": {name: value}}}}


# JobSpec's validator, beyond the families: ada_target adapts train.augment's policies, keep_best picks among the
# per-epoch scores. (train.batch_size a multiple of train.devices x model.pack is said in the description: JSON
# Schema's multipleOf takes no other field.)
_JOB_RULES = [
    {"if": _train_given("ada_target", {"type": "number"}), "then": _train_given("augment", {"minItems": 1})},
    {"if": _train_given("keep_best", {"const": True}), "then": _train_given("eval_every_epochs", {"minimum": 1})},
]


def family_rules(schemas: dict) -> None:
    """Writes the family rules into ModelSpec (one branch per family) and JobSpec (train options per family), and
    the rest of JobSpec's and Resources' validators."""
    schemas["ModelSpec"]["oneOf"] = [_model_branch(arch) for arch in FAMILIES]
    schemas["ModelSpec"]["description"] = ("The networks to train. Each family takes its own options (see each "
                                           "branch): any other option must be left out")
    job = schemas["JobSpec"]
    job.setdefault("allOf", []).extend([*_JOB_RULES, *(rule for arch in FAMILIES if (rule := _train_rules(arch)))])
    job["description"] = (f"{job.get('description', '')} train.batch_size must be a multiple of train.devices x "
                          "model.pack (every device trains an equal share of whole packs).").strip()
    schemas["Resources"]["anyOf"] = [{"properties": {"gpu_memory_gb": _ABSENT}},
                                     {"required": ["device"], "properties": {"device": {"const": "gpu"}}}]


def evaluation_rules(schemas: dict) -> None:
    """augmentation_gain is asked alone, and only it takes the report's fields (at their defaults otherwise)."""
    others = [m for m in get_args(Metric) if m != "augmentation_gain"]
    defaults = {name: {"const": EvaluationRequest.model_fields[name].default} for name in REPORT_ONLY}
    schemas["EvaluationRequest"]["anyOf"] = [
        {"required": ["metrics"], "properties": {"metrics": {"const": ["augmentation_gain"]}}},
        {"properties": {"metrics": {"anyOf": [{"type": "null"}, {"type": "array", "items": {"enum": others}}]},
                        **defaults}},
    ]


def _cap(node: dict, json_type: str, keyword: str, value: int) -> None:
    """Sets `keyword` (at most `value`) on `node` and on each of its anyOf branches of `json_type`."""
    if node.get("type") == json_type:
        node[keyword] = min(node.get(keyword, value), value)
    for branch in node.get("anyOf", ()):
        _cap(branch, json_type, keyword, value)


def server_caps(document: dict, images: int, augment: int) -> None:
    """The server's caps on what one request asks for (settings max_images_per_request = `images`,
    max_augment_images = `augment`), where a single field states them; sums across fields stay in descriptions."""
    schemas = document["components"]["schemas"]
    for schema, name in (("GenerateRequest", "n"), ("InterpolateRequest", "steps"), ("TraverseRequest", "steps"),
                         ("TraverseRequest", "rows")):
        _cap(schemas[schema]["properties"][name], "integer", "maximum", images)
    for name in ("latents", "ws", "psi", "labels"):
        _cap(schemas["GenerateRequest"]["properties"][name], "array", "maxItems", images)
    _cap(schemas["AugmentRequest"]["properties"]["total"], "integer", "maximum", augment)
    for parameter in document["paths"]["/v1/models/{model_id}/images"]["get"]["parameters"]:
        if parameter["name"] == "n":
            _cap(parameter["schema"], "integer", "maximum", images)
