from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from core.registry import status_change
from service.api import event_stream
from service.api.deps import RegistryDep, require_scope
from service.api.schemas import AfterEvent, JobEvents

router = APIRouter(prefix="/v1/events", tags=["jobs"], dependencies=[Depends(require_scope("train"))])


@router.get("", response_model=JobEvents, responses=event_stream.STREAM_RESPONSE)
async def status_changes(
    request: Request, registry: RegistryDep,
    after: AfterEvent = "-",
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
):
    """Every job's status changes, oldest first (the most recent 10,000 are kept): `{"job", "status"}`. With
    `Accept: text/event-stream`, live as Server-Sent Events, for a job list that updates itself."""
    if event_stream.wants_stream(request):
        return await event_stream.open_stream(request.app.state.stream_hub, registry.status_changes_key,
                                        event_stream.start_after(request, after), status_change)
    return {"events": await run_in_threadpool(registry.status_changes, after, limit)}
