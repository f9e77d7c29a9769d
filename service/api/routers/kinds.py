"""The kinds of model this server knows (built-in and plugins'): what each takes and gives, the route that serves
it, and the hints the dashboard reads to show a model of that kind."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from core.kinds import KINDS
from models.gan import FAMILIES
from service.api.deps import require_scope

router = APIRouter(prefix="/v1/kinds", tags=["models"], dependencies=[Depends(require_scope("generate"))])


class KindOut(BaseModel):
    name: str
    does: str = Field(description="What a model of this kind does")
    route: str = Field(description="The route that serves it, under /v1/models/{id}")
    families: list[str] = Field(description="The architectures of this kind")
    evaluations: bool = Field(description="Whether POST /v1/models/{id}/evaluations scores it")
    dashboard: dict[str, Any] = Field(description="Hints for the web page's model view")


class KindList(BaseModel):
    kinds: list[KindOut]


@router.get("", response_model=KindList)
def list_kinds() -> dict:
    """Every kind of model: its route, its families and its dashboard hints."""
    return {"kinds": [{"name": kind.name, "does": kind.does, "route": kind.route, "evaluations": kind.evaluations,
                       "families": [arch for arch, family in FAMILIES.items() if family.kind == kind.name],
                       "dashboard": kind.dashboard} for kind in KINDS.values()]}
