"""CORS is off unless configured; nothing we ship deserialises pickle."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx

from core.celery_app import create_celery
from core.settings import Settings
from service.api.app import create_app

ROOT = Path(__file__).resolve().parents[2]
PREFLIGHT = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}


def preflight(tmp_path, origin: str = "https://app.example", **settings) -> httpx.Response:
    # No lifespan runs (so no Redis is needed): a preflight is answered by the CORS middleware, before routes.
    app = create_app(Settings(redis_url="redis://127.0.0.1:1/0", data_dir=tmp_path, **settings))

    async def send() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as client:
            return await client.options("/v1/jobs", headers={**PREFLIGHT, "Origin": origin})

    return asyncio.run(send())


def test_cors_is_off_unless_configured(tmp_path):
    assert "access-control-allow-origin" not in preflight(tmp_path).headers


def test_configured_origins_may_call_from_a_browser(tmp_path):
    allowed = preflight(tmp_path, cors_origins=["https://app.example"])
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == "https://app.example"
    other = preflight(tmp_path, "https://evil.example", cors_origins=["https://app.example"])
    assert "access-control-allow-origin" not in other.headers


def test_no_pickle_from_disk_or_network():
    assert create_celery(Settings(redis_url="redis://127.0.0.1:1/0")).conf.accept_content == ["json"]
    unsafe = re.compile(r"\bimport pickle\b|\bpickle\.loads?\(|weights_only\s*=\s*False")
    # torch.load only as the import of state dicts does it: weights_only=True, whose unpickler builds tensors and
    # plain containers and refuses anything else (models/weights.py).
    loads = re.compile(r"torch\.load\(([^)]*)\)")
    offenders = [str(p.relative_to(ROOT)) for package in ("models", "worker", "service")
                 for p in (ROOT / package).rglob("*.py")
                 if unsafe.search(text := p.read_text())
                 or any("weights_only=True" not in call for call in loads.findall(text))]
    assert offenders == []
