"""An API with keys configured and tight limits: every scope allowed and denied, 401/403/413/429.

It runs on a Redis database of its own with no worker, so its jobs stay queued and readiness fails."""

from __future__ import annotations

import json
import secrets
import socket
import time

import httpx
import pytest
from redis import Redis

from core.card import ModelCard
from core.ids import new_id
from core.registry import Registry
from core.store import LocalStore
from core.store.keys import model_prefix
from service.api import sessions
from service.api.auth import hash_key
from service.cli.processes import env_for, start_api, stop
from tests.e2e.test_train_and_generate import assert_problem
from tests.helpers import TINY_JOB, copy_model

pytestmark = pytest.mark.e2e
KEYS = {name: f"gfk_test_{name}_secret" for name in ("gen", "gen2", "train", "train2", "train3", "admin")}
SCOPES = {"gen": "generate", "gen2": "generate", "train": "train", "train2": "train", "train3": "train",
          "admin": "admin"}


@pytest.fixture(scope="module")
def secured(redis_url, data_dir, tmp_path_factory, trained_model):
    url = redis_url.rsplit("/", 1)[0] + "/1"
    # A copy of the trained model on this database (a test here deletes it; the session's stays).
    store = LocalStore(data_dir)
    card = ModelCard.model_validate({**trained_model, "id": new_id("model")})
    copy_model(store, trained_model["id"], card.id)
    redis = Redis.from_url(url)
    Registry(redis).register_model(card)
    keys = [{"name": n, "sha256": hash_key(k), "scope": SCOPES[n]} for n, k in KEYS.items()]
    env = env_for(url, data_dir, GANFORGE_API_KEYS=json.dumps(keys), GANFORGE_MAX_BODY_BYTES="65536",
                  GANFORGE_MAX_UPLOAD_BYTES="200000",
                  GANFORGE_RATE_LIMIT_GENERATE_PER_MIN="5", GANFORGE_RATE_LIMIT_JOBS_PER_MIN="4",
                  GANFORGE_MAX_UNFINISHED_JOBS_PER_KEY="2")
    log = tmp_path_factory.mktemp("secured-logs") / "api.log"
    process, api_url = start_api(env, log)
    with httpx.Client(base_url=api_url, timeout=30) as client:
        yield {"client": client, "model": card.id, "log": log, "data_dir": data_dir, "redis": redis}
    stop(process)
    redis.close()


def as_key(name: str | None) -> dict:
    return {"Authorization": f"Bearer {KEYS[name]}"} if name else {}


@pytest.mark.parametrize(("key", "allowed"), [(None, False), ("gen", True), ("train", True), ("admin", True)])
def test_reading_models_needs_the_generate_scope(secured, key, allowed):
    response = secured["client"].get(f"/v1/models/{secured['model']}", headers=as_key(key))
    if allowed:
        assert response.status_code == 200 and response.json()["id"] == secured["model"]
    else:
        assert_problem(response, 401, "missing API key")
        assert response.headers["www-authenticate"] == "Bearer"


def test_generating_with_a_generate_key_gives_images(secured):
    response = secured["client"].get(f"/v1/models/{secured['model']}/images", params={"n": 1, "seed": 3},
                                     headers=as_key("gen"))
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"


@pytest.mark.parametrize(("key", "status"), [(None, 401), ("gen", 403), ("train", 200), ("admin", 200)])
def test_jobs_need_the_train_scope(secured, key, status):
    response = secured["client"].get("/v1/jobs", headers=as_key(key))
    if status == 200:
        assert response.status_code == 200 and "jobs" in response.json()
    else:
        assert_problem(response, status)
    if status == 403:
        assert "needs a key with scope 'train'" in response.json()["detail"]
        assert_problem(secured["client"].post("/v1/jobs", json=TINY_JOB, headers=as_key(key)), 403)


def test_an_unknown_key_is_a_401(secured):
    response = secured["client"].get("/v1/models", headers={"Authorization": "Bearer gfk_not_a_key"})
    assert_problem(response, 401, "unknown API key")
    assert "gfk_not_a_key" not in secured["log"].read_text()  # keys never reach the logs


@pytest.mark.parametrize(("key", "status"), [("gen", 403), ("train", 403), ("admin", 204)])
def test_deleting_a_model_needs_the_admin_scope(secured, key, status):
    client = secured["client"]
    response = client.delete(f"/v1/models/{secured['model']}", headers=as_key(key))
    assert response.status_code == status, response.text
    if status == 204:
        assert_problem(client.get(f"/v1/models/{secured['model']}", headers=as_key(key)), 404)
        store = LocalStore(secured["data_dir"])
        assert store.read_manifest(model_prefix(secured["model"])) is None
        assert not store.list_keys(model_prefix(secured["model"]))


def test_health_readiness_and_metrics_stay_open(secured):
    client = secured["client"]
    assert client.get("/healthz").status_code == 200
    assert client.get("/metrics").status_code == 200
    # Open, and not ready: no worker serves this database.
    assert_problem(client.get("/readyz"), 503, "no worker is alive", "ganforge worker")
    # A load balancer's readiness leaves the workers out: the API itself is ready.
    ready = client.get("/readyz", params={"workers": "false"})
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_submission_is_capped_by_unfinished_jobs_per_key(secured):
    client = secured["client"]
    ids = [client.post("/v1/jobs", json=TINY_JOB, headers=as_key("train2")).json()["id"] for _ in range(2)]
    response = client.post("/v1/jobs", json=TINY_JOB, headers=as_key("train2"))
    assert_problem(response, 429, "already has 2 unfinished jobs", "cancel")
    # Queued jobs cancel at once and free their places.
    cancelled = client.post(f"/v1/jobs/{ids[0]}/cancel", headers=as_key("train2"))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert client.post("/v1/jobs", json=TINY_JOB, headers=as_key("train2")).status_code == 202


def test_submission_is_rate_limited_per_key(secured):
    client = secured["client"]
    for _ in range(4):
        job = client.post("/v1/jobs", json=TINY_JOB, headers=as_key("train3"))
        assert job.status_code == 202
        client.post(f"/v1/jobs/{job.json()['id']}/cancel", headers=as_key("train3"))
    response = client.post("/v1/jobs", json=TINY_JOB, headers=as_key("train3"))
    assert_problem(response, 429, "4 jobs requests per minute")
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert client.post("/v1/jobs", json=TINY_JOB, headers=as_key("train")).status_code == 202  # others still may


def test_generation_is_rate_limited_per_key(secured):
    client = secured["client"]
    url = f"/v1/models/{secured['model']}/generate"
    statuses = [client.post(url, json={"n": 1}, headers=as_key("gen2")).status_code for _ in range(6)]
    assert statuses[-1] == 429 and 429 not in statuses[:5]
    response = client.post(url, json={"n": 1}, headers=as_key("gen2"))
    assert_problem(response, 429, "5 generate requests per minute")
    assert int(response.headers["retry-after"]) >= 1


def test_an_oversized_body_is_a_413_by_length_and_while_streaming(secured):
    client = secured["client"]
    big = json.dumps({**TINY_JOB, "padding": "x" * 70_000})
    response = client.post("/v1/jobs", content=big, headers={**as_key("train"), "content-type": "application/json"})
    assert_problem(response, 413, "65536 bytes", "max_body_bytes")

    def chunks():  # no Content-Length: the cap must hold while the body streams in
        for _ in range(20):
            yield b"x" * 8192

    headers = {**as_key("train"), "content-type": "application/json"}
    response = client.post("/v1/jobs", content=chunks(), headers=headers)
    assert_problem(response, 413, "max_body_bytes")


def in_chunks(body: bytes):
    """Sent without Content-Length (chunked), so only the streaming check can stop it."""
    return iter([body[i:i + 8192] for i in range(0, len(body), 8192)])


def test_a_multipart_content_type_does_not_lift_a_json_routes_cap(secured):
    # The upload cap belongs to the upload route: a JSON route keeps max_body_bytes whatever the body claims
    # to be, so no one can make the API hold hundreds of megabytes.
    client, multipart = secured["client"], {**as_key("train"), "content-type": "multipart/form-data; boundary=zz"}
    big = b"--zz\r\n" + b"x" * 150_000
    assert_problem(client.post("/v1/jobs", content=big, headers=multipart), 413, "65536 bytes", "max_body_bytes")
    streamed = client.post("/v1/jobs", content=in_chunks(big), headers=multipart)
    assert_problem(streamed, 413, "max_body_bytes")


@pytest.mark.parametrize("path", ["/v1/jobs", "/v1/datasets", "/v1/models/m/generate"])
@pytest.mark.parametrize("authorization", [None, "Bearer gfk_not_a_key", "Basic dXNlcjpwYXNz"])
def test_a_caller_without_a_known_key_is_refused_before_its_body_is_read(secured, path, authorization):
    # The request promises 1 MB and sends 10 bytes: an API that read bodies before checking keys would wait
    # for the rest, and anyone could make it hold a capped body per connection.
    host, port = secured["client"].base_url.host, secured["client"].base_url.port
    with socket.create_connection((host, port), timeout=10) as conn:
        auth = f"Authorization: {authorization}\r\n" if authorization else ""
        conn.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n{auth}"
                     f"Content-Length: 1000000\r\n\r\n{{\"a\": 1,".encode())
        head = conn.recv(65536).decode("latin-1")
    assert head.startswith("HTTP/1.1 401"), head
    assert "www-authenticate: bearer" in head.lower()


def test_an_upload_over_the_cap_is_a_413_also_when_streamed_without_a_length(secured):
    body = b"--zz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.npz\"\r\n\r\n" + b"x" * 300_000
    headers = {**as_key("train"), "content-type": "multipart/form-data; boundary=zz"}
    response = secured["client"].post("/v1/datasets", content=in_chunks(body), headers=headers)
    assert_problem(response, 413, "200000 bytes")


def test_a_session_cookie_stands_for_its_key_in_a_browser(secured):
    client = secured["client"]
    opened = httpx.post(f"{client.base_url}/v1/sessions", headers=as_key("train"))  # the shared client keeps none
    assert opened.status_code == 200 and opened.json()["scope"] == "train"
    cookie = opened.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/v1/" in cookie
    token = opened.cookies["ganforge_session"]
    assert KEYS["train"] not in token  # the key itself never leaves in the cookie
    with httpx.Client(base_url=client.base_url, cookies={"ganforge_session": token}, timeout=30) as browser:
        assert browser.get("/v1/jobs").status_code == 200  # no Authorization header: the cookie identifies
        assert_problem(browser.delete(f"/v1/models/{secured['model']}"), 403, "scope 'admin'")  # the key's scope
        with browser.stream("GET", "/v1/events", headers={"Accept": "text/event-stream"}) as stream:
            assert stream.status_code == 200  # what EventSource, which cannot send headers, needs
        assert browser.delete("/v1/sessions").headers["set-cookie"].startswith('ganforge_session=""')
    assert_problem(client.post("/v1/sessions"), 401)  # a session is only had for a key


def sign_in(secured, key: str = "train") -> str:
    opened = httpx.post(f"{secured['client'].base_url}/v1/sessions", headers=as_key(key))
    assert opened.status_code == 200, opened.text
    return opened.cookies["ganforge_session"]


def with_cookie(token: str) -> dict:
    return {"Cookie": f"ganforge_session={token}"}  # sent as is: httpx's jar would obey the sign-out's Set-Cookie


def assert_session_refused(response) -> None:
    assert_problem(response, 401, "session ended or unknown", "POST /v1/sessions")
    assert response.headers["www-authenticate"] == "Bearer"


def test_signing_out_ends_the_session_at_once(secured):
    client, token = secured["client"], sign_in(secured)
    assert client.get("/v1/jobs", headers=with_cookie(token)).status_code == 200
    signed_out = client.delete("/v1/sessions", headers=with_cookie(token))
    assert signed_out.status_code == 204 and signed_out.headers["set-cookie"].startswith('ganforge_session=""')
    assert_session_refused(client.get("/v1/jobs", headers=with_cookie(token)))  # the same cookie, kept by a thief
    assert_session_refused(client.get("/v1/events", headers={**with_cookie(token), "Accept": "text/event-stream"}))
    assert_session_refused(client.delete("/v1/sessions", headers=with_cookie(token)))


def test_signing_out_ends_only_that_session(secured):
    client, kept, ended = secured["client"], sign_in(secured), sign_in(secured)
    assert client.delete("/v1/sessions", headers=with_cookie(ended)).status_code == 204
    assert client.get("/v1/jobs", headers=with_cookie(kept)).status_code == 200


def test_a_session_whose_record_expired_is_refused(secured):
    client, token = secured["client"], sign_in(secured)
    assert client.get("/v1/jobs", headers=with_cookie(token)).status_code == 200
    secured["redis"].pexpire(sessions.record_key(token), 1)  # as if its twelve hours had passed
    time.sleep(0.05)
    assert_session_refused(client.get("/v1/jobs", headers=with_cookie(token)))


@pytest.mark.parametrize("forged", ["made-up", "altered", "old-style"])
def test_a_forged_session_is_refused(secured, forged):
    token = sign_in(secured)
    cookie = {"made-up": secrets.token_urlsafe(32), "altered": token[:-1] + ("A" if token[-1] != "A" else "B"),
              "old-style": "YWxpY2U6YWFhYTox.0123abcd"}[forged]
    assert_session_refused(secured["client"].get("/v1/jobs", headers=with_cookie(cookie)))


def test_a_cookie_does_not_rescue_a_wrong_key(secured):
    headers = {**with_cookie(sign_in(secured)), "Authorization": "Bearer gfk_not_a_key"}
    assert_problem(secured["client"].get("/v1/jobs", headers=headers), 401, "unknown API key")
