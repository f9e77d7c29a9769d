"""The OpenAPI document tells a client every status and media type it can meet (the fuzzing in
tests/e2e/test_openapi_fuzz.py holds the server to it)."""

import re

import jsonschema_rs
import pytest
from pydantic import ValidationError

from core.settings import ApiKeyConfig, Settings
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
    try:
        model.model_validate(body)
        accepted = True
    except ValidationError:
        accepted = False
    assert jsonschema_rs.Draft202012Validator(model.model_json_schema()).is_valid(body) == accepted
