"""Errors as RFC 9457 problem details (application/problem+json)."""

from __future__ import annotations

import logging
import re
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from kombu.exceptions import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from core.store import StoreError

PROBLEM_JSON = "application/problem+json"
REDIS_RETRY_AFTER_S = 5
REDIS_UNREACHABLE = "the job registry (Redis) is unreachable; retry shortly"
log = logging.getLogger("ganforge.api")

# Details quote what the client sent ("unknown data set 'x'"); a body of megabytes must not come back whole.
QUOTE_LIMIT = 200  # characters of one unbroken word (an id, a name, a number) a detail quotes
DETAIL_LIMIT = 1000  # characters of a whole detail: bounds input with spaces in it too
MAX_ERRORS = 20  # validation errors listed; a list of a million bad items would make a million
_LONG_WORD = re.compile(rf"(['\"]?)([^\s'\"]{{{QUOTE_LIMIT + 1},}})\1")


class Problem(Exception):
    """Raise from anywhere below a route to answer with a problem document."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None, **extra):
        super().__init__(detail)
        self.status, self.detail, self.headers, self.extra = status, detail, headers, extra


def shortened(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def bounded(text: str) -> str:
    """The text with each word over QUOTE_LIMIT characters cut (its quotes kept, its length said), then cut to
    DETAIL_LIMIT characters."""
    text = _LONG_WORD.sub(lambda m: f"{m[1]}{m[2][:QUOTE_LIMIT]}…{m[1]} ({len(m[2])} characters)", text)
    return shortened(text, DETAIL_LIMIT)


def problem_json(status: int, detail: str, instance: str, headers=None, **extra) -> JSONResponse:
    body = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status, "detail": bounded(detail),
            "instance": instance, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def problem_response(request: Request, status: int, detail: str, headers=None, **extra) -> JSONResponse:
    return problem_json(status, detail, request.url.path, headers, **extra)


def _location(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


def _allowed_methods(request: Request) -> str:
    """Every method the path takes. Starlette's own 405 names only the first route that matched the path,
    and a path here often has one route per method."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if route.matches(request.scope)[0] is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return ", ".join(sorted(methods))


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem):
        return problem_response(request, exc.status, exc.detail, exc.headers, **exc.extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": _allowed_methods(request)}
        return problem_response(request, exc.status_code, detail, headers)

    # Redis down or too slow: answer at once and tell the client when to try again, rather than hang.
    @app.exception_handler(RedisConnectionError)
    @app.exception_handler(RedisTimeoutError)
    @app.exception_handler(OperationalError)
    async def _redis_down(request: Request, exc: Exception):
        log.warning("Redis unreachable: %s", exc)
        if (outage := getattr(request.app.state, "redis_outage", None)) is not None:
            outage.noticed()  # the requests after this one are answered at once (service.api.redis_outage)
        return problem_response(request, 503, REDIS_UNREACHABLE, {"Retry-After": str(REDIS_RETRY_AFTER_S)})

    # The artifact store down, refusing us, or inconsistent: the same, with what it said.
    @app.exception_handler(StoreError)
    async def _store_failed(request: Request, exc: StoreError):
        log.warning("artifact store failed: %s", exc)
        return problem_response(request, 503, f"artifact store: {exc}",
                                {"Retry-After": str(REDIS_RETRY_AFTER_S)})

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        found = exc.errors()
        # A field's name may be the client's too (an unknown key), and a validator's message may quote its value.
        errors = [{"loc": bounded(_location(e["loc"])), "msg": bounded(e["msg"]), "type": e["type"]}
                  for e in found[:MAX_ERRORS]]
        detail = "; ".join(f"{e['loc']}: {e['msg']}" for e in errors)
        if len(found) > MAX_ERRORS:
            detail += f"; and {len(found) - MAX_ERRORS} more errors"
        return problem_response(request, 422, detail, errors=errors)
