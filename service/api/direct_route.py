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

`HotRoutes` goes one step further for the routers it is given: a POST whose path is one of their DirectRoutes' goes
straight to that route, before FastAPI's router, which matches a request by walking every included router in turn
(and, in FastAPI 0.165, counts their routes on every request to see whether any changed).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.message import Message
from typing import Any, cast

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import request_body_to_args
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute, _effective_route_context_var, request_response
from fastapi.security.base import SecurityBase
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from starlette.exceptions import HTTPException
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send


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


class HotRoutes:
    """FastAPI's router, with the POST routes of some routers (their DirectRoutes) matched first, by this.

    The request then runs as FastAPI's router would run it: the route and its path parameters in the scope, the
    route's handler (the same plan, inside FastAPI's `request_response`), its exceptions answered by the app's
    handlers further out. Anything else, and a request under a root path, goes to the router. `include` includes
    the routers itself, as they are (no prefix or dependencies added by the inclusion), so that their routes are the
    app's exactly."""

    def __init__(self, router: ASGIApp, routes: list[APIRoute]):
        """`routes`: the routers' POST routes in the order FastAPI matches them. A request whose first match is not a
        DirectRoute goes to the router, as does one that matches none."""
        self.router = router
        self.routes = [(route, route.path_regex, route.param_convertors,
                        request_response(route.get_route_handler()) if isinstance(route, DirectRoute) else None)
                       for route in routes]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            for route, regex, convertors, handle in self.routes:
                if (match := regex.match(scope["path"])) is not None:
                    if handle is None:
                        break
                    scope.setdefault("router", self.router)
                    scope["route"], scope["endpoint"] = route, route.endpoint
                    scope["path_params"] = {**scope.get("path_params", {}), **{
                        name: convertors[name].convert(value) for name, value in match.groupdict().items()}}
                    await handle(scope, receive, send)
                    return
        await self.router(scope, receive, send)

    @staticmethod
    def include(app: FastAPI, routers: list[APIRouter]) -> None:
        """Includes `routers` in the app as they are, and puts HotRoutes for their DirectRoutes between the app's
        innermost middleware and its router when the app builds its middleware stack (on its first request)."""
        _check_hot(app, routers)
        for router in routers:
            app.include_router(router)
        routes = [route for router in routers for route in router.routes if _may_take_post(route)]
        if not any(isinstance(route, DirectRoute) for route in routes):
            return
        build = app.build_middleware_stack

        def build_with_hot_routes() -> ASGIApp:
            stack = build()
            layer = stack
            while getattr(layer, "app", None) is not app.router:
                layer = layer.app  # every middleware keeps the app it wraps as .app
            layer.app = HotRoutes(app.router, routes)
            return stack

        app.build_middleware_stack = build_with_hot_routes  # type: ignore[method-assign]


def _check_hot(app: FastAPI, routers: list[APIRouter]) -> None:
    """Refuses (TypeError) what would make a request's route or handler under HotRoutes differ from FastAPI's: a
    route the app would match first (one that may take a POST, included before), dependencies or a body limit the app
    adds to every route, and anything in the routers but plain routes (mounts, nested routers)."""
    def refuse(why: str) -> TypeError:
        return TypeError(f"HotRoutes: {why}; include the routers with app.include_router instead")

    for earlier in app.router.routes:
        if _may_take_post(earlier):
            raise refuse(f"the app already has a route that may take a POST ({getattr(earlier, 'path', earlier)!r})")
    if app.router.dependencies:
        raise refuse("the app adds dependencies to every route")
    if getattr(app.router, "max_body_size", None) is not None or getattr(app, "max_body_size", None) is not None:
        raise refuse("the app sets a body size limit on its routes")
    for router in routers:
        for route in router.routes:
            if not isinstance(route, Route):
                raise refuse(f"{route!r} is not a plain route")
            if getattr(route, "max_body_size", None) is not None:
                raise refuse(f"{route.path} has a body size limit of its own")


def _may_take_post(route: Any) -> bool:
    return "POST" in (getattr(route, "methods", None) or {"POST"})  # no methods: a mount, or a route for any method
