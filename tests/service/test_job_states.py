"""A job's states are named once, in core/states.py: the API documents them, the dashboard reads them from the
server, and the registry's Lua scripts take them from Python."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from core import registry_lua
from core.settings import Settings
from core.states import STATUSES, TERMINAL, JobStatus
from service.api.app import create_app
from service.api.dashboard import UI_DIR


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    # No lifespan runs (ASGITransport sends none), so no Redis is needed for the document or /ui.
    return create_app(Settings(redis_url="redis://127.0.0.1:1/0", data_dir=tmp_path_factory.mktemp("data")))


def test_the_openapi_document_lists_every_job_status(app):
    schemas = app.openapi()["components"]["schemas"]
    assert schemas["JobOut"]["properties"]["status"] == {"$ref": "#/components/schemas/JobStatus"}
    assert schemas["JobStatus"]["enum"] == [status.value for status in JobStatus]


def test_the_dashboard_gets_the_states_from_the_server(app):
    async def get() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as client:
            return await client.get("/ui/states.json")

    response = asyncio.run(get())
    assert response.status_code == 200
    assert response.json() == {"statuses": list(STATUSES), "terminal": list(TERMINAL)}


def test_the_dashboard_script_spells_no_status_of_its_own():
    script = (UI_DIR / "app.js").read_text()
    assert "/ui/states.json" in script
    assert not [status for status in JobStatus if re.search(rf"[\"'`]{status}[\"'`]", script)]


@pytest.mark.parametrize("name", ["CREATE", "UPDATE", "FENCED_UPDATE", "BEGIN", "CANCEL", "REAP"])
def test_the_lua_scripts_take_the_statuses_from_python(name):
    body = getattr(registry_lua, name).removeprefix(registry_lua.STATUS_LOCALS)
    assert getattr(registry_lua, name).startswith(registry_lua.STATUS_LOCALS)
    assert not [status for status in JobStatus if f"'{status}'" in body]
