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

# A job is linked to its data set only while the data set still exists, and a data set is removed only
# while no linked job is active: both run as one Redis script, so a delete and a submit cannot interleave.
_LINK = "if redis.call('exists', KEYS[1]) == 1 then return redis.call('sadd', KEYS[2], ARGV[1]) + 1 end return 0"
_UNREGISTER_IF_UNUSED = """
if redis.call('exists', KEYS[1]) == 0 then return {'missing'} end
local terminal = {}
for i = 3, #ARGV do terminal[ARGV[i]] = true end
local active = {'busy'}
for _, job in ipairs(redis.call('smembers', KEYS[2])) do
  local status = redis.call('hget', ARGV[1] .. job, 'status')
  if status and not terminal[status] then table.insert(active, job) else redis.call('srem', KEYS[2], job) end
end
if #active > 1 then return active end
redis.call('del', KEYS[1], KEYS[2])
redis.call('zrem', KEYS[3], ARGV[2])
return {'deleted'}
"""


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Registry:
    def __init__(self, redis: Redis, prefix: str = "gf"):
        self.redis, self.p = redis, prefix
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)
        self._link = redis.register_script(_LINK)
        self._unregister_if_unused = redis.register_script(_UNREGISTER_IF_UNUSED)

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

    # -- data sets (uploads; built-ins live in code) -----------------------------------------------

    def register_dataset(self, manifest: dict) -> None:
        pipe = self.redis.pipeline()
        pipe.hset(self._dataset(manifest["id"]), mapping={"manifest": json.dumps(manifest)})
        pipe.zadd(f"{self.p}:datasets", {manifest["id"]: datetime.now(UTC).timestamp()})
        pipe.execute()

    def get_dataset(self, dataset_id: str) -> dict | None:
        raw = self.redis.hget(self._dataset(dataset_id), "manifest")
        return json.loads(raw) if raw else None

    def list_datasets(self, limit: int = 50, offset: int = 0) -> list[dict]:
        ids = self.redis.zrevrange(f"{self.p}:datasets", offset, offset + limit - 1)
        return [d for d in (self.get_dataset(i.decode()) for i in ids) if d is not None]

    def count_datasets(self) -> int:
        return int(self.redis.zcard(f"{self.p}:datasets"))

    def link_job_to_dataset(self, dataset_id: str, job_id: str) -> bool:
        """Records that the job uses the data set; False when the data set is gone (deleted meanwhile)."""
        return bool(self._link(keys=[self._dataset(dataset_id), self._dataset_jobs(dataset_id)], args=[job_id]))

    def unregister_dataset_if_unused(self, dataset_id: str) -> tuple[str, list[str]]:
        """("deleted", []), ("missing", []) or ("busy", ids of the queued or running jobs that use it)."""
        keys = [self._dataset(dataset_id), self._dataset_jobs(dataset_id), f"{self.p}:datasets"]
        outcome, *jobs = self._unregister_if_unused(keys=keys, args=[f"{self.p}:job:", dataset_id, *TERMINAL])
        return outcome.decode(), [j.decode() for j in jobs]

    def _dataset(self, dataset_id: str) -> str:
        return f"{self.p}:dataset:{dataset_id}"

    def _dataset_jobs(self, dataset_id: str) -> str:
        return f"{self.p}:dataset:{dataset_id}:jobs"

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
