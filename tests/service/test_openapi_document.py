"""The OpenAPI document tells a client every status and media type it can meet (the fuzzing in
tests/e2e/test_openapi_fuzz.py holds the server to it)."""

import json
import re

import jsonschema_rs
import pytest
from pydantic import ValidationError

from core.settings import ApiKeyConfig, Settings
from core.spec import EvaluationRequest, JobSpec, compatibility_errors
from service.api.app import create_app
from service.api.problems import PROBLEM_JSON, Problem
from service.api.schemas import AugmentRequest, GenerateRequest, InterpolateRequest, TraverseRequest
from service.serving.model_selection import FILTER_PATTERN, ModelSelection


@pytest.fixture(scope="module")
def document(tmp_path_factory) -> dict:
    """The document of a server with API keys (what the fuzzer reads)."""
    keys = [ApiKeyConfig(name="k", sha256="0" * 64, scope="admin")]
    settings = Settings(redis_url="redis://127.0.0.1:1/0", data_dir=tmp_path_factory.mktemp("data"), api_keys=keys)
    return create_app(settings).openapi()


@pytest.fixture(scope="module")
def keyless_document(tmp_path_factory) -> dict:
    settings = Settings(redis_url="redis://127.0.0.1:1/0", data_dir=tmp_path_factory.mktemp("data"))
    return create_app(settings).openapi()


def test_without_keys_the_document_asks_for_no_credentials_and_says_the_host_guard_refuses(keyless_document):
    # A client generated from it would otherwise send a key the server never asks for.
    assert "securitySchemes" not in keyless_document["components"]
    ops = list(operations(keyless_document))
    assert not [(path, method) for path, method, operation in ops if "security" in operation]
    assert not [(path, method) for path, method, operation in ops if "401" in operation["responses"]]
    assert all("421" in operation["responses"] for path, _, operation in ops if path not in ("/healthz", "/readyz"))
    assert "421" not in keyless_document["paths"]["/healthz"]["get"]["responses"]


def test_with_keys_the_document_declares_bearer_auth_and_no_host_refusal(document):
    assert document["components"]["securitySchemes"]
    assert all("421" not in operation["responses"] for _, _, operation in operations(document))


def operations(document: dict):
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def test_every_error_response_is_a_problem_document(document):
    errors = [(path, method, status, response) for path, method, operation in operations(document)
              for status, response in operation["responses"].items() if int(status) >= 400]
    assert len(errors) > 100
    for path, method, status, response in errors:
        assert list(response["content"]) == [PROBLEM_JSON], (path, method, status)
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_the_layers_in_front_of_the_routes_are_documented_where_they_apply(document):
    ops = {(path, method): set(operation["responses"]) for path, method, operation in operations(document)}
    assert {"400", "401", "403", "404", "413", "415", "422", "429", "503"} <= ops[("/v1/models/{model_id}/generate",
                                                                                    "post")]
    assert {"401", "403", "422", "503"} <= ops[("/v1/jobs", "get")] and "404" not in ops[("/v1/jobs", "get")]
    assert {"409", "429"} <= ops[("/v1/jobs", "post")]
    assert ops[("/healthz", "get")] == {"200"}  # no key, no Redis, no parameters


@pytest.mark.parametrize("text", ["arch=cgan", "dataset!=mnist", "confidence>=0.9", "kid<5e-2", "kindx>=1",
                                  "arch>=3", "x>=abc", "x>=1e999", "x>=.5", "arch=x\n", "x>=1\n", "", "Arch=x",
                                  "x" * 65 + ">1", "fid<=-12.5E+3"])
def test_the_documented_filter_pattern_accepts_exactly_what_the_server_does(text):
    try:
        ModelSelection.parse(None, [text])
        accepted = True
    except Problem:
        accepted = False
    assert (re.fullmatch(FILTER_PATTERN, text) is not None) == accepted


RULED_BODIES = [
    (GenerateRequest, {"n": 2, "seed": 1}), (GenerateRequest, {"latents": [[0.0]]}),
    (GenerateRequest, {"latents": [[0.0]], "seed": 1}), (GenerateRequest, {"latents": [[0.0]], "n": None}),
    (GenerateRequest, {"latents": [[0.0]], "truncation": 0.5}),
    (InterpolateRequest, {"start": {"seed": 1}, "end": {"latent": [0.5]}}),
    (InterpolateRequest, {"start": {"seed": 1, "latent": [0.5]}, "end": {"seed": 2}}),
    (InterpolateRequest, {"start": {"seed": None, "latent": [0.5]}, "end": {}}),
    (TraverseRequest, {"dimension": 0}), (TraverseRequest, {"code": "categorical", "seed": 3, "rows": 4}),
    (TraverseRequest, {}), (TraverseRequest, {"dimension": 0, "code": "categorical"}),
    (TraverseRequest, {"dimension": 0, "latent": [0.0], "rows": 1}),
    (TraverseRequest, {"dimension": 0, "latent": [0.0], "rows": 2}),
    (TraverseRequest, {"dimension": 0, "latent": [0.0], "seed": 1}),
    (TraverseRequest, {"dimension": 0, "latent": [0.0], "truncation": 1.0}),
    (AugmentRequest, {"total": 5}), (AugmentRequest, {"counts": {"0": 1}}), (AugmentRequest, {}),
    (AugmentRequest, {"total": 5, "counts": {"0": 1}}), (AugmentRequest, {"total": None, "counts": {"0": 1}}),
]


@pytest.mark.parametrize(("model", "body"), RULED_BODIES)
def test_the_documented_body_rules_accept_exactly_what_the_validators_do(model, body):
    assert jsonschema_rs.Draft202012Validator(model.model_json_schema()).is_valid(body) == _accepts(model, body)


def _accepts(model, body: dict) -> bool:
    try:
        model.model_validate(body)
    except ValidationError:
        return False
    return True


def test_integer_bounds_are_inclusive_integers(document):
    # FastAPI's OpenAPI models write bounds as floats: lt=2**63 came out as exclusiveMaximum 9.223372036854776e+18.
    integers = [node for node in nodes(document) if node.get("type") == "integer"]
    assert not [node for node in integers if {"exclusiveMinimum", "exclusiveMaximum"} & set(node)]
    assert not [node for node in integers for bound in ("minimum", "maximum")
                if bound in node and not isinstance(node[bound], int)]
    seed = document["components"]["schemas"]["GenerateRequest"]["properties"]["seed"]["anyOf"][0]
    assert (seed["minimum"], seed["maximum"]) == (0, 2**63 - 1)


def nodes(value):
    if isinstance(value, dict):
        yield value
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            yield from nodes(item)


def test_multipart_fields_are_never_null_and_the_file_is_binary_and_required(document):
    forms = [operation["requestBody"]["content"]["multipart/form-data"]["schema"]
             for _, _, operation in operations(document)
             if "multipart/form-data" in operation.get("requestBody", {}).get("content", {})]
    assert len(forms) == 4  # datasets, import, translate, variations
    for form in forms:
        assert form["required"] == ["file"] and form["properties"]["file"] == {**form["properties"]["file"],
                                                                                "type": "string", "format": "binary"}
        assert not [name for name, field in form["properties"].items() if "null" in json.dumps(field)]


def test_readiness_declares_its_503(keyless_document):
    assert "503" in keyless_document["paths"]["/readyz"]["get"]["responses"]


def test_the_server_caps_on_one_request_are_stated(tmp_path):
    settings = Settings(redis_url="redis://127.0.0.1:1/0", data_dir=tmp_path, max_images_per_request=64,
                        max_augment_images=256)
    document = create_app(settings).openapi()
    schemas = document["components"]["schemas"]
    generate = schemas["GenerateRequest"]["properties"]
    assert generate["n"]["anyOf"][0]["maximum"] == 64 and generate["latents"]["anyOf"][0]["maxItems"] == 64
    assert schemas["AugmentRequest"]["properties"]["total"]["anyOf"][0]["maximum"] == 256
    n = next(p for p in document["paths"]["/v1/models/{model_id}/images"]["get"]["parameters"] if p["name"] == "n")
    assert n["schema"]["maximum"] == 64


JOBS = [
    {"model": {"blocks": 3}}, {"model": {"arch": "dcgan", "blocks": 3}}, {"model": {"arch": "cyclegan", "blocks": 3}},
    {"model": {"arch": "srgan", "scale": 4}}, {"model": {"arch": "cyclegan", "scale": 4}},
    {"model": {"arch": "stylegan2", "mapping_layers": 4}}, {"model": {"mapping_layers": 4}},
    {"model": {"arch": "stylegan2", "d_architecture": "resnet"}}, {"model": {"d_architecture": "orig"}},
    {"model": {"arch": "cgan", "conditional": False}}, {"model": {"arch": "sngan", "conditional": True}},
    {"model": {"conditional": True}}, {"model": {"arch": "infogan", "codes": {"categorical": 0, "continuous": 0}}},
    {"model": {"arch": "infogan", "codes": {"categorical": 0}}}, {"model": {"codes": {}}},
    {"model": {"arch": "wgan-gp", "loss": "hinge"}}, {"model": {"arch": "mlp", "loss": "wasserstein-gp"}},
    {"model": {"arch": "progan", "image_size": 128}}, {"model": {"image_size": 128}},
    {"model": {"arch": "pix2pix", "latent_dim": 8}}, {"model": {"arch": "pix2pix", "pack": 1}},
    {"model": {"arch": "pix2pix", "pack": 2}}, {"model": {"arch": "dagan", "latent_dim": 8}},
    {"train": {"r1_gamma": 10}}, {"model": {"arch": "stylegan2"}, "train": {"r1_gamma": 10}},
    {"train": {"r1_every": 16}}, {"model": {"arch": "pix2pix"}, "train": {"augment": ["translation"]}},
    {"model": {"arch": "pix2pix"}, "train": {"keep_best": False}},
    {"model": {"arch": "dagan"}, "train": {"unroll_steps": 2}},
    {"train": {"ada_target": 0.6}}, {"train": {"ada_target": 0.6, "augment": ["translation"]}},
    {"model": {"arch": "stylegan2"}, "train": {"ada_target": 0.6, "augment": ["translation"]}},
    {"train": {"keep_best": True}}, {"train": {"keep_best": True, "eval_every_epochs": 2}},
    {"resources": {"gpu_memory_gb": 16}}, {"resources": {"device": "gpu", "gpu_memory_gb": 16}},
]


@pytest.mark.parametrize("job", JOBS, ids=json.dumps)
def test_the_documented_family_rules_accept_exactly_what_the_server_does(document, job):
    body = {"dataset": "digits", **job}
    try:
        spec = JobSpec.model_validate(body)
        # The training options a family takes are checked at submit, with the data set (core.spec): a labelled one.
        errors = compatibility_errors(spec, "images", [1, 28, 28], ["0", "1"])
        accepted = not [error for error in errors if error.startswith("train.")]
    except ValidationError:
        accepted = False
    schema = {"$ref": "#/components/schemas/JobSpec", "components": document["components"]}
    assert jsonschema_rs.Draft202012Validator(schema).is_valid(body) == accepted


EVALUATIONS = [{}, {"metrics": ["fid", "kid"]}, {"metrics": ["augmentation_gain"]},
               {"metrics": ["augmentation_gain", "fid"]}, {"metrics": ["augmentation_gain"], "seeds": 5},
               {"seeds": 5}, {"seeds": 3}, {"metrics": ["fid"], "dataset": "digits"}, {"rare_classes": ["0"]},
               {"metrics": ["augmentation_gain"], "dataset": "digits", "rare_classes": ["0"]}]


@pytest.mark.parametrize("body", EVALUATIONS, ids=json.dumps)
def test_the_documented_evaluation_rules_accept_exactly_what_the_validator_does(document, body):
    schema = {"$ref": "#/components/schemas/EvaluationRequest", "components": document["components"]}
    assert jsonschema_rs.Draft202012Validator(schema).is_valid(body) == _accepts(EvaluationRequest, body)
