"""Live workers: the queues each takes jobs from, what it trains on and the job it trains now."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Depends

from core.presence import alive_workers
from core.queues import live_queue_depths, queue_depths
from service.api.deps import RegistryDep, require_scope
from service.api.schemas import WorkerList

# Current jobs are job ids: readable with the scope that reads jobs.
router = APIRouter(prefix="/v1/workers", tags=["workers"], dependencies=[Depends(require_scope("train"))])


@router.get("", response_model=WorkerList)
def list_workers(registry: RegistryDep) -> dict:
    """Live workers (a heartbeat within worker_heartbeat_ttl_s), by name, the jobs waiting in each queue, and the
    broker's messages there (which also count reference-classifier tasks and cancelled jobs' leftover tasks)."""
    workers = alive_workers(registry.redis)
    return {"workers": [_shown(w) for w in workers], "queues": live_queue_depths(registry, workers),
            "broker_messages": queue_depths(registry.redis, workers)}


def _shown(worker: dict) -> dict:
    seen = datetime.fromtimestamp(worker["seen"], UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    # Workers started before pools existed beat without queues and devices.
    return {"queues": ["celery"], "devices": [], "current_job": None, "current_jobs": [], **worker, "seen": seen}
