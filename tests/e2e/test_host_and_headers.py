"""Issue 31: the API answers only to host names it serves (DNS rebinding), and the pages a browser renders carry
security headers that a real Chromium holds them to."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from playwright.sync_api import sync_playwright

from core.settings import ApiKeyConfig, Settings
from service.api.app import create_app
from tests.e2e.test_dashboard import chromium_path
from tests.e2e.test_train_and_generate import assert_problem

pytestmark = pytest.mark.e2e

REBINDING_JOB = {"dataset": "ring8", "model": {"arch": "mlp"}, "train": {"epochs": 1}}
A_KEY = ApiKeyConfig(name="ci", sha256="0" * 64, scope="admin")


def port_of(api_url: str) -> str:
    return api_url.rsplit(":", 1)[1]


def job_ids(client: httpx.Client) -> set[str]:
    return {job["id"] for job in client.get("/v1/jobs", params={"limit": 500}).json()["jobs"]}


def test_a_rebinding_page_cannot_submit_a_job(client, api_url):
    before = job_ids(client)
    host = f"rebind.evil.example:{port_of(api_url)}"
    response = client.post("/v1/jobs", json=REBINDING_JOB, headers={"Host": host, "Origin": f"http://{host}"})
    assert_problem(response, 421, "'rebind.evil.example:", "GANFORGE_ALLOWED_HOSTS")
    assert job_ids(client) == before


def test_a_rebinding_page_cannot_read_either(client, api_url):
    response = client.get("/v1/models", headers={"Host": f"rebind.evil.example:{port_of(api_url)}"})
    assert_problem(response, 421, "loopback")
    assert "models" not in response.json()


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "[::1]", "LOCALHOST."])
def test_loopback_names_are_served_on_any_port(client, api_url, name):
    for port in (port_of(api_url), "80"):
        response = client.get("/v1/jobs", headers={"Host": f"{name}:{port}"})
        assert response.status_code == 200, response.text
        assert "jobs" in response.json()


def test_a_request_without_a_usable_host_is_refused(client):
    for host in ("", "rebind.evil.example:8000:8000", "a b"):
        assert_problem(client.get("/v1/jobs", headers={"Host": host}), 421)


@pytest.mark.parametrize("path", ["/healthz", "/readyz?workers=false"])
def test_probes_answer_a_pods_ip(client, path):
    # A Kubernetes probe (deploy/kubernetes/api.yaml) sends Host: <pod IP>:<port>.
    assert client.get(path, headers={"Host": "10.1.2.3:8000"}).status_code == 200


def test_metrics_are_not_a_probe(client):
    assert_problem(client.get("/metrics", headers={"Host": "rebind.evil.example"}), 421)


def get(path: str, host: str, **settings) -> httpx.Response:
    """GET from the app in this process (no lifespan runs, so no Redis: /ui and /healthz need none)."""
    app = create_app(Settings(redis_url="redis://127.0.0.1:1/0", **settings))

    async def send() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{host}") as client:
            return await client.get(path)

    return asyncio.run(send())


def test_allowed_hosts_admits_its_names_and_their_subdomains(tmp_path):
    allowed = ["api.example.com", "*.lab.example"]
    for host in ("api.example.com", "API.example.com:8443", "gpu1.lab.example", "a.b.lab.example:8000", "localhost"):
        assert get("/ui/", host, data_dir=tmp_path, allowed_hosts=allowed).status_code == 200, host
    for host in ("lab.example", "example.com", "api.example.com.evil.example", "evil.example"):
        assert_problem(get("/ui/", host, data_dir=tmp_path, allowed_hosts=allowed), 421, "GANFORGE_ALLOWED_HOSTS")


def test_with_keys_any_host_is_served_unless_allowed_hosts_is_set(tmp_path):
    assert get("/ui/", "api.example.com", data_dir=tmp_path, api_keys=[A_KEY]).status_code == 200
    refused = get("/ui/", "other.example", data_dir=tmp_path, api_keys=[A_KEY], allowed_hosts=["api.example.com"])
    assert_problem(refused, 421, "'other.example'", "GANFORGE_ALLOWED_HOSTS")
    assert "loopback" not in refused.json()["detail"]


def test_a_refusal_is_a_problem_before_routing(tmp_path):
    response = get("/no/such/route", "evil.example", data_dir=tmp_path)
    assert_problem(response, 421, "'evil.example'")
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", ["/ui/", "/ui/app.js", "/docs", "/redoc", "/docs-assets/swagger-ui.css"])
def test_pages_for_browsers_carry_security_headers(client, path):
    response = client.get(path)
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe-eval" not in policy
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_only_the_docs_that_need_inline_styles_allow_them(client):
    assert "'unsafe-inline'" not in client.get("/ui/").headers["content-security-policy"]
    swagger = client.get("/docs").headers["content-security-policy"]
    assert "'unsafe-inline'" not in swagger and "'sha256-" in swagger  # its one inline script, by hash
    assert "style-src 'self' 'unsafe-inline'" in client.get("/redoc").headers["content-security-policy"]


def test_api_answers_are_nosniff_without_a_page_policy(client):
    response = client.get("/v1/jobs")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "content-security-policy" not in response.headers


@pytest.mark.parametrize(("path", "rendered"), [("/docs", ".opblock"), ("/redoc", "li[data-item-id]")])
def test_the_docs_render_in_a_browser_under_their_policy(api_url, path, rendered):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        page = browser.new_page(base_url=api_url)
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.goto(path)
        page.wait_for_selector(rendered, timeout=60_000)
        page.wait_for_timeout(500)
        browser.close()
    # ReDoc's "by Redocly" logo is on a CDN; blocking it is the policy working (the docs are served offline).
    assert [p for p in problems if "cdn.redoc.ly" not in p] == []
