"""A DirectRoute answers every request as FastAPI's own handler would, and refuses at start-up a route it could not
run that way (service/api/direct_route.py)."""

import asyncio
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from service.api.direct_route import DirectRoute


class Body(BaseModel):
    n: int = Field(1, ge=1, le=4)
    seed: int | None = None
    tags: list[str] = []


calls: list[str] = []
_bearer = HTTPBearer(auto_error=False)


async def guard(request: Request, _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]):
    calls.append("guard")


async def refusing(request: Request) -> None:
    if request.headers.get("x-forbid"):
        raise HTTPException(403, "forbidden")


async def state(request: Request) -> str:
    calls.append("state")
    return request.app.title


async def endpoint(model_id: str, body: Body, title: Annotated[str, Depends(state)]) -> Response:
    return Response(f"{title} {model_id} {body.model_dump_json()}", media_type="text/plain")


async def raw_endpoint(model_id: str, request: Request, title: Annotated[str, Depends(state)]) -> Response:
    return Response(f"{title} {model_id} {len(await request.body())}", media_type="text/plain")


def app(route_class: type | None) -> FastAPI:
    application = FastAPI(title="t")
    router = APIRouter(prefix="/v1/models", dependencies=[Depends(guard)])
    extra = {"route_class_override": route_class} if route_class else {}
    # The guard declared twice runs once per request, as FastAPI runs it.
    router.add_api_route("/{model_id}/generate", endpoint, methods=["POST"],
                         dependencies=[Depends(refusing), Depends(guard)], **extra)
    router.add_api_route("/{model_id}/raw", raw_endpoint, methods=["POST"], **extra)
    application.include_router(router)
    return application


REQUESTS = [
    {"json": {"n": 2, "seed": 7}},
    {"json": {"n": 9}},  # out of range
    {"json": {"n": "x", "tags": [1, {}]}},  # several errors
    {"json": [1, 2]},
    {"json": None},
    {"content": b""},
    {"content": b'{"n": 2', "headers": {"content-type": "application/json"}},  # cut short
    {"content": b'{"n": 2}', "headers": {"content-type": "application/vnd.x+json; charset=utf-8"}},
    {"content": b'{"n": 2}', "headers": {"content-type": "text/plain"}},
    {"content": b'{"n": 2}'},  # no media type
    {"content": b"\xff\xfe{", "headers": {"content-type": "application/json"}},  # not UTF-8
    {"content": b"[" * 100_000, "headers": {"content-type": "application/json"}},  # nested too deep
    {"json": {"n": 1}, "headers": {"x-forbid": "1"}},
]


def client(application: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://127.0.0.1")


@pytest.mark.parametrize("path", ["/v1/models/m1/generate", "/v1/models/m1/raw"])
def test_every_request_gets_what_fastapi_gives(path):
    async def compare():
        ran = 0
        async with client(app(None)) as plain, client(app(DirectRoute)) as direct:
            for request in REQUESTS:
                calls.clear()
                expected = await plain.post(path, **request)
                expected_calls = list(calls)
                calls.clear()
                got = await direct.post(path, **request)
                assert (got.status_code, got.headers.get("content-type"), got.content) == (
                    expected.status_code, expected.headers.get("content-type"), expected.content), request
                assert calls == expected_calls, request
                ran += bool(calls)
        assert ran >= 5  # the dependencies did run (not on a body that does not parse, as in FastAPI)

    asyncio.run(compare())


def test_direct_routes_keep_their_openapi():
    plain, direct = app(None).openapi(), app(DirectRoute).openapi()
    assert direct == plain
    assert "security" in direct["paths"]["/v1/models/{model_id}/generate"]["post"]


async def _query_endpoint(model_id: str, n: Annotated[int, Query()] = 1) -> Response:
    return Response()


async def _int_path(model_id: int) -> Response:
    return Response()


def _sync_dependency(request: Request) -> None:
    return None


async def _sync_dependant(model_id: str, _: Annotated[None, Depends(_sync_dependency)]) -> Response:
    return Response()


async def _uncached_dependant(model_id: str, _: Annotated[str, Depends(state, use_cache=False)]) -> Response:
    return Response()


@pytest.mark.parametrize("endpoint, why", [
    (_query_endpoint, "query"),
    (_int_path, "not a str"),
    (_sync_dependant, "not an async function"),
    (_uncached_dependant, "use_cache"),
])
def test_routes_it_cannot_run_as_fastapi_would_are_refused_at_start_up(endpoint, why):
    router = APIRouter()
    with pytest.raises(TypeError, match=why):
        router.add_api_route("/{model_id}/x", endpoint, methods=["POST"], route_class_override=DirectRoute)
