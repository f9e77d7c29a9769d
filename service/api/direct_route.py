"""Serving routes that FastAPI documents but does not run.

FastAPI's general request handler costs the event loop about 0.1 ms per request before a route's own code starts:
it solves each dependency afresh (cache keys, scopes, signature checks), then negotiates and validates the
response. On `POST /generate` that was about 40 % of the loop's CPU per request (issue 33; docs/benchmarks.md).
A `DirectRoute` is built by FastAPI as usual (its OpenAPI, its dependant), then runs its requests with a plan made
once at start-up: the guards called in FastAPI's order, the JSON body read and validated by FastAPI's own
functions, the endpoint called, its Response returned as it is.

It takes only routes it can run exactly as FastAPI would, and refuses any other at start-up (`TypeError`): path
parameters that are strings, at most one JSON body (a model, not embedded), no query, header or cookie
parameters, and dependencies that are `async` functions of the `Request` alone. A dependency's own sub-dependencies
may only be security schemes, which document how to authenticate: `KeyGate` has identified the caller before the
route is reached, so they are given None, as FastAPI gives them when no credentials are sent.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.message import Message
from typing import Any, cast

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import request_body_to_args
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute, _effective_route_context_var
from fastapi.security.base import SecurityBase
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from starlette.exceptions import HTTPException


@dataclass(frozen=True)
class _Dependency:
    call: Callable[..., Awaitable[Any]]
    arguments: dict[str, Any]  # the security schemes' parameters, given None
    request_name: str
    result_name: str | None  # the endpoint's parameter it fills; None for a guard (`dependencies=`)


@dataclass(frozen=True)
class _Plan:
    endpoint: Callable[..., Awaitable[Any]]
    dependencies: tuple[_Dependency, ...]
    path_names: tuple[str, ...]
    body: Any  # FastAPI's ModelField of the body, or None
    request_name: str | None
    strict_content_type: bool

    async def __call__(self, request: Request) -> Response:
        # In FastAPI's order: the body is read and parsed first (a parse error stops the request there), the
        # dependencies run, and then the body is validated.
        body = await self._read_body(request) if self.body is not None else None
        arguments: dict[str, Any] = {name: request.path_params[name] for name in self.path_names}
        if self.request_name:
            arguments[self.request_name] = request
        results: dict[Callable, Any] = {}  # FastAPI runs a dependency declared twice once per request
        for dependency in self.dependencies:
            if dependency.call not in results:
                results[dependency.call] = await dependency.call(
                    **{dependency.request_name: request}, **dependency.arguments)
            if dependency.result_name:
                arguments[dependency.result_name] = results[dependency.call]
        if self.body is not None:
            values, errors = await request_body_to_args([self.body], body, False)
            if errors:
                raise RequestValidationError(errors)
            arguments |= values
        response = await self.endpoint(**arguments)
        if not isinstance(response, Response):
            raise TypeError(f"{self.endpoint.__qualname__} is a DirectRoute: it must return a Response")
        return response

    async def _read_body(self, request: Request) -> Any:
        """The body as FastAPI hands it to validation: missing when empty, parsed when its media type is JSON
        (or absent, for a route that is not strict about it), else the bytes themselves, which fail validation."""
        try:
            raw = await request.body()
            if not raw:
                return PydanticUndefined
            return json.loads(raw) if self._is_json(request.headers.get("content-type")) else raw
        except json.JSONDecodeError as e:
            raise RequestValidationError([{"type": "json_invalid", "loc": ("body", e.pos), "msg": "JSON decode error",
                                           "input": {}, "ctx": {"error": e.msg}}]) from e
        except HTTPException:  # a body over the limit (service.api.limits.BodySizeLimit)
            raise
        except Exception as e:  # not UTF-8, nested too deep, or the client left
            raise HTTPException(400, "There was an error parsing the body") from e

    def _is_json(self, content_type: str | None) -> bool:
        if content_type is None:
            return not self.strict_content_type
        message = Message()
        message["content-type"] = content_type
        subtype = message.get_content_subtype()
        return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


class DirectRoute(APIRoute):
    """Use as `route_class_override` (or a router's `route_class`) on a hot route; see the module's docstring."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        # Included in an app, a route is handled under its inclusion's context (its prefix and dependencies).
        context = _effective_route_context_var.get()
        route = context if context is not None and context.original_route is self else self
        return _plan(cast(APIRoute, route).dependant, route.body_field, route.strict_content_type, self.path)


def _plan(dependant: Dependant, body_field: Any, strict_content_type: Any, path: str) -> _Plan:
    def refuse(why: str) -> TypeError:
        return TypeError(f"DirectRoute {path}: {why}; declare it as a plain FastAPI route instead")

    if dependant.query_params or dependant.header_params or dependant.cookie_params:
        raise refuse("it has query, header or cookie parameters")
    if len(dependant.body_params) > 1:
        raise refuse("it has more than one body parameter")
    if dependant.body_params and not _is_model(dependant.body_params[0].field_info):
        raise refuse("its body is not a pydantic model")
    for field in dependant.path_params:
        if field.field_info.annotation is not str:
            raise refuse(f"path parameter {field.name!r} is not a str")
    _check_special(dependant, refuse)
    if not inspect.iscoroutinefunction(dependant.call):
        raise refuse("its endpoint is not async")
    dependencies = tuple(_dependency(sub, refuse) for sub in dependant.dependencies)
    strict = getattr(strict_content_type, "value", strict_content_type)
    return _Plan(dependant.call, dependencies, tuple(field.name for field in dependant.path_params),
                 body_field if dependant.body_params else None, dependant.request_param_name, bool(strict))


def _dependency(sub: Dependant, refuse: Callable[[str], TypeError]) -> _Dependency:
    name = getattr(sub.call, "__qualname__", repr(sub.call))
    if not inspect.iscoroutinefunction(sub.call):
        raise refuse(f"dependency {name} is not an async function")
    if sub.path_params or sub.query_params or sub.header_params or sub.cookie_params or sub.body_params:
        raise refuse(f"dependency {name} reads more than the Request")
    if not sub.request_param_name:
        raise refuse(f"dependency {name} does not take the Request")
    if not sub.use_cache:
        raise refuse(f"dependency {name} asks to run each time it is declared (use_cache=False)")
    _check_special(sub, refuse)
    arguments = {}
    for scheme in sub.dependencies:
        if not isinstance(scheme.call, SecurityBase) or scheme.dependencies:
            raise refuse(f"dependency {name} depends on more than a security scheme")
        arguments[scheme.name] = None
    return _Dependency(sub.call, arguments, sub.request_param_name, sub.name)


def _check_special(dependant: Dependant, refuse: Callable[[str], TypeError]) -> None:
    if (dependant.websocket_param_name or dependant.http_connection_param_name or dependant.response_param_name
            or dependant.background_tasks_param_name or dependant.security_scopes_param_name):
        raise refuse("it takes a WebSocket, HTTPConnection, Response, BackgroundTasks or SecurityScopes")


def _is_model(info: FieldInfo) -> bool:
    return inspect.isclass(info.annotation) and hasattr(info.annotation, "model_validate")
