"""A DirectRoute answers every request as FastAPI's own handler would, and refuses at start-up a route it could not
run that way; HotRoutes, which hands such routes their requests before FastAPI's router, answers as the router would
(service/api/direct_route.py)."""

import asyncio
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from service.api.direct_route import DirectRoute, HotRoutes


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


async def shadowing_endpoint(model_id: str) -> Response:
    return Response(f"declared first {model_id}", media_type="text/plain")


def app(route_class: type | None, hot: bool = False) -> FastAPI:
    application = FastAPI(title="t")
    router = APIRouter(prefix="/v1/models", dependencies=[Depends(guard)])
    extra = {"route_class_override": route_class} if route_class else {}
    # The guard declared twice runs once per request, as FastAPI runs it.
    router.add_api_route("/{model_id}/generate", endpoint, methods=["POST"],
                         dependencies=[Depends(refusing), Depends(guard)], **extra)
    router.add_api_route("/{model_id}/raw", raw_endpoint, methods=["POST"], **extra)
    # A plain route declared before a DirectRoute on the same path: FastAPI's router answers with the first.
    router.add_api_route("/{model_id}/shadowed", shadowing_endpoint, methods=["POST"])
    router.add_api_route("/{model_id}/shadowed", raw_endpoint, methods=["POST"], **extra)
    if hot:
        HotRoutes.include(application, [router])
    else:
        application.include_router(router)
    routes_seen.clear()

    @application.middleware("http")
    async def note_route(request: Request, call_next):  # what the API's metrics label a request with
        response = await call_next(request)
        routes_seen.append(getattr(request.scope.get("route"), "path", None))
        return response

    return application


routes_seen: list[str | None] = []


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


@pytest.mark.parametrize("method, path, options", [
    *[("POST", "/v1/models/m1/generate", request) for request in REQUESTS],
    ("POST", "/v1/models/m%201/raw", {"content": b"abc"}),  # a path parameter that was percent-encoded
    ("POST", "/v1/models/m1/shadowed", {"content": b"abc"}),  # the plain route declared first answers
    ("GET", "/v1/models/m1/generate", {}),  # 405, from the router
    ("POST", "/v1/models/m1/generate/", {"json": {"n": 1}}),  # not the route's path: the router's answer
    ("POST", "/v1/models/m1/nothing", {"json": {"n": 1}}),
])
def test_hot_routes_answer_as_the_router_would(method, path, options):
    async def compare():
        answers = []
        for hot in (False, True):
            calls.clear()
            async with client(app(DirectRoute, hot)) as api:
                answer = await api.request(method, path, **options)
            answers.append((answer.status_code, dict(answer.headers), answer.content, list(calls), list(routes_seen)))
        assert answers[1] == answers[0]
        return answers[0]

    status, _, content, _, routes = asyncio.run(compare())
    if path.endswith("shadowed"):
        assert content == b"declared first m1"
    if status == 200:  # the route template, as the API's metrics label a request
        assert routes == ["/v1/models/{model_id}/" + path.rsplit("/", 1)[1]]


def test_hot_routes_take_the_direct_routes_requests():
    """The hot path is taken (not only equivalent): the router is not asked for a DirectRoute's request."""
    async def run():
        application = app(DirectRoute, hot=True)
        asked: list[str] = []
        router_handle = type(application.router).__call__

        async def counting(self, scope, receive, send):
            asked.append(scope["path"])
            await router_handle(self, scope, receive, send)

        type(application.router).__call__ = counting
        try:
            async with client(application) as api:
                assert (await api.post("/v1/models/m1/generate", json={"n": 2})).status_code == 200
                assert (await api.post("/v1/models/m1/shadowed", content=b"x")).status_code == 200
        finally:
            type(application.router).__call__ = router_handle
        return asked

    assert asyncio.run(run()) == ["/v1/models/m1/shadowed"]


def _hot_router() -> APIRouter:
    router = APIRouter(prefix="/v1/models")
    router.add_api_route("/{model_id}/generate", endpoint, methods=["POST"], route_class_override=DirectRoute)
    return router


def _mounted() -> APIRouter:
    router = _hot_router()
    router.mount("/files", FastAPI())
    return router


def _limited() -> APIRouter:
    router = _hot_router()
    router.add_api_route("/{model_id}/big", endpoint, methods=["POST"], max_body_size=10)
    return router


@pytest.mark.parametrize("application, routers, why", [
    (lambda: FastAPI(dependencies=[Depends(refusing)]), _hot_router, "dependencies"),
    (lambda: _with_route(FastAPI(), "/v1/models/{model_id}/{action}", ["POST"]), _hot_router, "already has a route"),
    (lambda: FastAPI(max_body_size=10), _hot_router, "body size limit"),
    (FastAPI, _limited, "body size limit of its own"),
    (FastAPI, _mounted, "not a plain route"),
])
def test_hot_routes_refuse_an_app_whose_router_would_answer_otherwise(application, routers, why):
    with pytest.raises(TypeError, match=why):
        HotRoutes.include(application(), [routers()])


def test_a_route_for_any_method_among_the_routers_is_answered_as_the_router_would():
    async def any_method(scope, receive, send):
        await Response(b"any method", media_type="text/plain")(scope, receive, send)

    def application(hot: bool) -> FastAPI:
        router = APIRouter(prefix="/v1/models")
        router.add_route("/{model_id}/generate", any_method)  # an ASGI app: a route for every method, declared first
        router.add_api_route("/{model_id}/generate", endpoint, methods=["POST"], route_class_override=DirectRoute)
        app = FastAPI(title="t")
        if hot:
            HotRoutes.include(app, [router])
        else:
            app.include_router(router)
        return app

    async def post(hot: bool):
        async with client(application(hot)) as api:
            return (await api.post("/v1/models/m1/generate", json={"n": 1})).content

    assert asyncio.run(post(True)) == asyncio.run(post(False))


def test_hot_routes_leave_earlier_routes_that_take_no_post_alone():
    application = _with_route(FastAPI(), "/v1/models/{model_id}/generate", ["GET"])
    HotRoutes.include(application, [_hot_router()])  # GET-only: FastAPI would pass it over for a POST


def _with_route(application: FastAPI, path: str, methods: list[str]) -> FastAPI:
    application.add_api_route(path, shadowing_endpoint, methods=methods)
    return application


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
