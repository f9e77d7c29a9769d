"""The web dashboard at /ui: static files (service/api/ui/) that use the same HTTP API as any client."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from core.states import STATUSES, TERMINAL
from models.metrics.glossary import score_guide

UI_DIR = Path(__file__).with_name("ui")


def install(app: FastAPI) -> None:
    # The page's script names no job state of its own: it reads them here, from core.states. Added before the
    # mount, which would otherwise answer every path under /ui.
    @app.get("/ui/states.json", include_in_schema=False)
    async def job_states() -> dict:
        return {"statuses": list(STATUSES), "terminal": list(TERMINAL)}

    # Likewise the words for each score (models/metrics/glossary.py): what it measures, which way is better, what
    # real data scores.
    @app.get("/ui/scores.json", include_in_schema=False)
    async def score_words() -> dict:
        return score_guide()

    app.mount("/ui", StaticFiles(directory=UI_DIR, html=True), name="ui")

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("/ui/")
