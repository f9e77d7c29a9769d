"""Jobs and models in Redis: a hash per item, a sorted set per kind for listing, a stream of events
per job, and a lease per running job."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from redis import Redis

from worker.ids import new_id

TERMINAL = ("succeeded", "failed", "cancelled")
_JSON_FIELDS = ("spec", "progress")
_EVENTS_KEPT = 1000

# Renew or release only the lease we hold: a worker that lost its lease must not touch the new one.
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Registry:
    def __init__(self, redis: Redis, prefix: str = "gf"):
        self.redis, self.p = redis, prefix
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    # -- jobs -------------------------------------------------------------------------------------

    def create_job(self, spec: dict, idempotency_key: str | None = None) -> tuple[dict, bool]:
        """Returns (job, created). A key seen before returns the job it created, and created=False."""
        job_id = new_id("job")
        if idempotency_key:
            key = f"{self.p}:idem:{idempotency_key}"
            if not self.redis.set(key, job_id, nx=True, ex=24 * 3600):
                existing = self.get_job(self.redis.get(key).decode())
                if existing is not None:
                    return existing, False
                self.redis.set(key, job_id, ex=24 * 3600)
        now = utcnow()
        job = {"id": job_id, "status": "queued", "spec": spec, "created_at": now, "updated_at": now}
        pipe = self.redis.pipeline()
        pipe.hset(self._job(job_id), mapping=_encode(job))
        pipe.zadd(f"{self.p}:jobs", {job_id: datetime.now(UTC).timestamp()})
        pipe.execute()
        self.add_event(job_id, "status", {"status": "queued"})
        return job, True

    def get_job(self, job_id: str) -> dict | None:
        raw = self.redis.hgetall(self._job(job_id))
        return _decode(raw) if raw else None

    def list_jobs(self, limit: int = 50, offset: int = 0) -> list[dict]:
        ids = self.redis.zrevrange(f"{self.p}:jobs", offset, offset + limit - 1)
        return [job for job in (self.get_job(i.decode()) for i in ids) if job is not None]

    def update_job(self, job_id: str, **fields) -> None:
        fields["updated_at"] = utcnow()
        self.redis.hset(self._job(job_id), mapping=_encode(fields))

    def set_status(self, job_id: str, status: str, **fields) -> None:
        self.update_job(job_id, status=status, **fields)
        self.add_event(job_id, "status", {"status": status, **{k: v for k, v in fields.items() if v is not None}})

    def record_progress(self, job_id: str, progress: dict) -> None:
        self.update_job(job_id, progress=progress)
        self.add_event(job_id, "progress", progress)

    def add_event(self, job_id: str, kind: str, data: dict) -> None:
        self.redis.xadd(
            f"{self.p}:job:{job_id}:events", {"event": kind, "data": json.dumps(data)},
            maxlen=_EVENTS_KEPT, approximate=True,
        )

    # -- leases -----------------------------------------------------------------------------------

    def acquire_lease(self, job_id: str, token: str, ttl_s: float) -> bool:
        return bool(self.redis.set(self._lease(job_id), token, nx=True, px=int(ttl_s * 1000)))

    def renew_lease(self, job_id: str, token: str, ttl_s: float) -> bool:
        return bool(self._renew(keys=[self._lease(job_id)], args=[token, int(ttl_s * 1000)]))

    def release_lease(self, job_id: str, token: str) -> None:
        self._release(keys=[self._lease(job_id)], args=[token])

    # -- models -----------------------------------------------------------------------------------

    def register_model(self, model: dict) -> None:
        pipe = self.redis.pipeline()
        pipe.hset(self._model(model["id"]), mapping={"card": json.dumps(model)})
        pipe.zadd(f"{self.p}:models", {model["id"]: datetime.now(UTC).timestamp()})
        pipe.execute()

    def get_model(self, model_id: str) -> dict | None:
        raw = self.redis.hget(self._model(model_id), "card")
        return json.loads(raw) if raw else None

    def list_models(self, limit: int = 50, offset: int = 0) -> list[dict]:
        ids = self.redis.zrevrange(f"{self.p}:models", offset, offset + limit - 1)
        return [m for m in (self.get_model(i.decode()) for i in ids) if m is not None]

    def _job(self, job_id: str) -> str:
        return f"{self.p}:job:{job_id}"

    def _lease(self, job_id: str) -> str:
        return f"{self.p}:job:{job_id}:lease"

    def _model(self, model_id: str) -> str:
        return f"{self.p}:model:{model_id}"


def _encode(fields: dict) -> dict:
    return {k: json.dumps(v) if k in _JSON_FIELDS else ("" if v is None else str(v)) for k, v in fields.items()}


def _decode(raw: dict) -> dict:
    out: dict = {}
    for k, v in raw.items():
        key, value = k.decode(), v.decode()
        out[key] = json.loads(value) if key in _JSON_FIELDS else (value or None)
    return out
