"""The OpenAPI document's account of failures: every status a request can meet, each as problem+json.

FastAPI documents a route's own responses and a 422 in its own error format. The layers in front of the
routes answer too (authentication, the cross-site guard, body limits, the Redis handler), and every error
here is an RFC 9457 problem document (service.api.problems), so the document is completed after FastAPI
builds it: a status each layer can give is added to every operation that layer guards.
"""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from core.settings import Settings
from service.api.host_guard import PROBES, checks_hosts
from service.api.problems import PROBLEM_JSON
from service.api.schema_rules import evaluation_rules, family_rules, integer_bounds, plain_form_fields, server_caps

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "What was wrong and how to put it right"},
        "instance": {"type": "string", "description": "The request's path"},
        "errors": {"type": "array", "description": "422: one entry per invalid field",
                   "items": {"type": "object", "properties": {"loc": {"type": "string"}, "msg": {"type": "string"},
                                                              "type": {"type": "string"}}}},
    },
    "additionalProperties": True,
}

# Route-specific statuses, for the decorators' `responses=`.
RATE_LIMITED = {429: {"description": "Over the key's requests per minute (see Retry-After)"}}
SUBMISSION = {429: {"description": "Over the key's submissions per minute (see Retry-After), or it already has "
                                   "the most unfinished jobs a key may have"}}


def _layer_statuses(path: str, operation: dict, keys: bool, hosts_checked: bool) -> dict[int, str]:
    statuses: dict[int, str] = {}
    if operation.get("security"):
        if keys:
            statuses[401] = "No API key, or an unknown one"
        statuses[403] = ("The key's scope does not allow this, or a browser request from another site" if keys
                         else "A browser request from another site")
    if hosts_checked and path not in PROBES:
        statuses[421] = "The Host header names a host this server does not answer to (GANFORGE_ALLOWED_HOSTS)"
    if "requestBody" in operation:
        statuses[400] = "The body could not be parsed"
        statuses[413] = "The body is over the server's limit for this route"
        statuses[415] = "The body's media type is not one this route reads"
    if "{" in path:
        statuses[404] = "Nothing with that id"
    if operation.get("parameters") or "requestBody" in operation:
        statuses[422] = "A parameter or the body is invalid; `errors` says which and why"
    if path.startswith("/v1/"):
        statuses[503] = "The job registry (Redis) is unreachable; retry after Retry-After seconds"
    if path == "/readyz":
        statuses[503] = "Not ready: Redis or the artifact store does not answer, or no worker is alive"
    return statuses


def _link_created(paths: dict) -> None:
    """OpenAPI links from each POST that creates something (201/202 with its `id`) to the operations on it,
    e.g. POST /v1/jobs to GET /v1/jobs/{job_id}: clients and the stateful fuzzer follow them."""
    for path, operations in paths.items():
        created = operations.get("post", {}).get("responses", {})
        status = next((s for s in ("201", "202") if s in created), None)
        if status is None:
            continue
        own = re.findall(r"{(\w+)}", path)
        links = {}
        for target, target_operations in paths.items():
            new = re.match(re.escape(path) + r"/{(\w+)}", target)
            if new is None:
                continue
            parameters = {name: f"$request.path.{name}" for name in own} | {new.group(1): "$response.body#/id"}
            for operation in target_operations.values():
                links[operation["operationId"]] = {"operationId": operation["operationId"], "parameters": parameters}
        if links:
            created[status]["links"] = links


def complete(document: dict, keys: bool = True, hosts_checked: bool = False,
             caps: tuple[int, int] | None = None) -> dict:
    """Adds the layers' statuses to each operation, makes every error response problem+json, and links each
    created resource to the operations on it, and states what the server enforces that FastAPI's schemas leave
    out (service.api.schema_rules). `keys`: whether the server has API keys; without them the document
    declares no security, so that a client made from it sends no credentials. `hosts_checked`: whether the Host
    guard refuses other names (421). `caps`: the server's max_images_per_request and max_augment_images."""
    document.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    schemas = document["components"]["schemas"]
    for name in ("HTTPValidationError", "ValidationError"):  # FastAPI's own 422 format, which no route sends
        schemas.pop(name, None)
    problem = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, description in _layer_statuses(path, operation, keys, hosts_checked).items():
                responses.setdefault(str(status), {})["description"] = description
            if not keys:
                operation.pop("security", None)
            for status, response in responses.items():
                if int(status) >= 400:
                    response["content"] = problem
    if not keys:
        document["components"].pop("securitySchemes", None)
    _link_created(document.get("paths", {}))
    plain_form_fields(document.get("paths", {}))
    family_rules(schemas)
    evaluation_rules(schemas)
    if caps is not None:
        server_caps(document, *caps)
    integer_bounds(document)
    return document


def install(app: FastAPI, settings: Settings) -> None:
    keys = bool(settings.api_keys)
    hosts_checked = checks_hosts(settings.allowed_hosts, keys)

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = complete(get_openapi(
                title=app.title, version=app.version, summary=app.summary, description=app.description,
                routes=app.routes), keys, hosts_checked,
                (settings.max_images_per_request, settings.max_augment_images))
        return app.openapi_schema

    app.openapi = openapi
