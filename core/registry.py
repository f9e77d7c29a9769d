"""Jobs and models in Redis: a hash per item, a sorted set per kind for listing, a set per job status,
a stream of events per job, and a lease per running job. State changes that must not interleave are
Lua scripts (core/registry_lua.py)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from redis import Redis

from core import registry_lua as lua
from core.card import ModelCard
from core.ids import new_id, utcnow
from core.states import LEASED, STATUSES, TERMINAL, JobStatus

_JSON_FIELDS = ("spec", "progress", "result", "waiting")
_IDEMPOTENCY_TTL_S = 24 * 3600
# Jobs that work on a trained model, each kind listed under the model.
MODEL_JOB_KINDS = ("evaluations", "projections")


class LeaseLost(Exception):
    """This worker no longer holds the job's lease: another worker has taken it over."""


class CapReached(Exception):
    """The owner already has as many unfinished jobs as allowed."""

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


def job_event(stream_id: bytes, fields: dict) -> dict:
    return {"id": stream_id.decode(), "event": fields[b"event"].decode(), "data": json.loads(fields[b"data"])}


def status_change(stream_id: bytes, fields: dict) -> dict:
    return {"id": stream_id.decode(), "event": "status",
            "data": {"job": fields[b"job"].decode(), "status": fields[b"status"].decode()}}


class Registry:
    def __init__(self, redis: Redis, prefix: str = "gf"):
        self.redis, self.p = redis, prefix
        self._scripts = {name: redis.register_script(getattr(lua, name))
                         for name in ("CREATE", "UPDATE", "FENCED_UPDATE", "BEGIN", "CANCEL", "REAP", "RENEW",
                                      "RELEASE", "WAITING")}
        self._link = redis.register_script(_LINK)
        self._unregister_if_unused = redis.register_script(_UNREGISTER_IF_UNUSED)

    # -- jobs -------------------------------------------------------------------------------------

    def create_job(self, spec: dict, idempotency_key: str | None = None, owner: str = "",
                   max_unfinished: int = 0) -> tuple[dict, bool]:
        """Returns (job, created). A key seen before (for the same owner) returns the job it created,
        and created=False. Raises CapReached when `owner` has `max_unfinished` unfinished jobs."""
        now = utcnow()
        job = {"id": new_id("job"), "status": JobStatus.QUEUED, "spec": spec, "created_at": now, "updated_at": now,
               "owner": owner, "attempts": 0, "queued_ts": round(time.time(), 3)}
        fields = {k: v for k, v in _encode(job).items() if k != "status"}
        outcome, job_id = self._run("CREATE", job["id"], idempotency_key or "", json.dumps(fields), owner,
                                    max_unfinished, datetime.now(UTC).timestamp(), _IDEMPOTENCY_TTL_S,
                                    json.dumps({"status": JobStatus.QUEUED}))
        if outcome == "capped":
            raise CapReached(f"{max_unfinished} unfinished jobs already")
        if outcome == "existing":
            return self.get_job(job_id), False
        return job, True

    def get_job(self, job_id: str) -> dict | None:
        raw = self.redis.hgetall(self._job(job_id))
        return _decode(raw) if raw else None

    def list_jobs(self, limit: int = 50, offset: int = 0) -> list[dict]:
        ids = self.redis.zrevrange(f"{self.p}:jobs", offset, offset + limit - 1)
        return [job for job in (self.get_job(i.decode()) for i in ids) if job is not None]

    def set_status(self, job_id: str, status: JobStatus, **fields) -> None:
        self._update(job_id, fields, status, "status", {"status": status, **_present(fields)})

    def record_progress(self, job_id: str, progress: dict) -> None:
        self._update(job_id, {"progress": progress}, event="progress", data=progress)

    def add_event(self, job_id: str, kind: str, data: dict) -> None:
        self._update(job_id, {}, event=kind, data=data)

    def note_waiting(self, job_id: str, waiting: dict) -> bool:
        """While the job is still queued: what it waits for (its `waiting` field, cleared when its status changes,
        and a `waiting` event). Needs no lease and never changes the status; False when the job is not queued."""
        return bool(self._run("WAITING", job_id, json.dumps(waiting), utcnow()))

    def events_key(self, job_id: str) -> str:
        return f"{self._job(job_id)}:events"

    @property
    def status_changes_key(self) -> str:
        return f"{self.p}:job-status"

    def events(self, job_id: str, after: str = "-", count: int = 1000) -> list[dict]:
        """The job's events, oldest first: {"id", "event", "data"}. After "$" (the next to come): none."""
        if after == "$":
            return []
        start = after if after == "-" else f"({after}"
        return [job_event(i, f) for i, f in self.redis.xrange(self.events_key(job_id), start, "+", count=count)]

    def status_changes(self, after: str = "-", count: int = 1000) -> list[dict]:
        """Every job's status changes, oldest first: {"id", "event": "status", "data": {"job", "status"}}."""
        if after == "$":
            return []
        start = after if after == "-" else f"({after}"
        return [status_change(i, f) for i, f in self.redis.xrange(self.status_changes_key, start, "+", count=count)]

    def cancel_job(self, job_id: str) -> tuple[str, str]:
        """Returns (outcome, status before): outcome is 'cancelled' (it was queued), 'cancelling' (a
        worker will stop it), 'conflict' (it had already finished) or 'missing'."""
        outcome, before = self._run("CANCEL", job_id, utcnow())
        return outcome, before

    def count_by_status(self) -> dict[JobStatus, int]:
        pipe = self.redis.pipeline()
        for status in STATUSES:
            pipe.scard(f"{self.p}:status:{status}")
        return dict(zip(STATUSES, pipe.execute(), strict=True))

    def job_ids_with_status(self, status: JobStatus) -> list[str]:
        return sorted(i.decode() for i in self.redis.smembers(f"{self.p}:status:{status}"))

    def queued_specs(self) -> list[dict]:
        """The specs of the queued jobs (one round trip for all; a job gone between the reads is left out)."""
        ids = self.redis.smembers(f"{self.p}:status:{JobStatus.QUEUED}")
        pipe = self.redis.pipeline(transaction=False)
        for job_id in ids:
            pipe.hget(self._job(job_id.decode()), "spec")
        return [json.loads(spec) for spec in pipe.execute() if spec is not None]

    def jobs_run_by(self, worker: str) -> list[str]:
        """The running (or cancelling) jobs whose lease `worker` took last, by id: what it trains now."""
        ids = sorted(self.redis.sunion(*(f"{self.p}:status:{status}" for status in LEASED)))
        pipe = self.redis.pipeline(transaction=False)
        for job_id in ids:
            pipe.hget(self._job(job_id.decode()), "worker")
        return [i.decode() for i, name in zip(ids, pipe.execute(), strict=True) if name == worker.encode()]

    def unfinished_jobs_of(self, owner: str) -> int:
        return self.redis.scard(f"{self.p}:owner:{owner}:unfinished")

    # -- running a job: leases and fenced writes ---------------------------------------------------

    def begin_job(self, job_id: str, token: str, ttl_s: float, worker: str, max_attempts: int) -> tuple[str, int]:
        """Takes the lease and marks the job running; returns ('running', attempt) or why not."""
        outcome, attempts = self._run("BEGIN", job_id, token, int(ttl_s * 1000), worker, utcnow(), max_attempts)
        return outcome, int(attempts)

    def lease(self, job_id: str, token: str) -> JobLease:
        return JobLease(self, job_id, token)

    def acquire_lease(self, job_id: str, token: str, ttl_s: float) -> bool:
        return bool(self.redis.set(self._lease(job_id), token, nx=True, px=int(ttl_s * 1000)))

    def renew_lease(self, job_id: str, token: str, ttl_s: float) -> bool:
        return bool(self._scripts["RENEW"](keys=[self._lease(job_id)], args=[token, int(ttl_s * 1000)]))

    def release_lease(self, job_id: str, token: str) -> None:
        self._scripts["RELEASE"](keys=[self._lease(job_id)], args=[token])

    def lease_alive(self, job_id: str) -> bool:
        return bool(self.redis.exists(self._lease(job_id)))

    def reap_job(self, job_id: str, max_attempts: int) -> str:
        """If the job is running but its lease expired: 'requeued' (enqueue it again!), 'failed' (too
        many attempts) or 'cancelled' (it was cancelling); else 'alive' or 'skip'."""
        return _text(self._scripts["REAP"](args=[self.p, job_id, utcnow(), max_attempts, time.time()]))

    def mark_enqueued(self, job_id: str) -> None:
        """Records that the job's task reached the broker (see worker.reaper: queued jobs never enqueued)."""
        self.redis.hset(self._job(job_id), "enqueued_at", utcnow())

    def unenqueued_since(self, job_id: str) -> float | None:
        """For a queued job whose task never reached the broker: the epoch second it was queued."""
        status, enqueued, queued_ts = self.redis.hmget(self._job(job_id), "status", "enqueued_at", "queued_ts")
        if status != JobStatus.QUEUED.encode() or enqueued or not queued_ts:
            return None
        return float(queued_ts)

    # -- models -----------------------------------------------------------------------------------

    def register_model(self, card: ModelCard) -> None:
        pipe = self.redis.pipeline()
        pipe.hset(self._model(card.id), mapping={"card": card.model_dump_json()})
        pipe.zadd(f"{self.p}:models", {card.id: datetime.now(UTC).timestamp()})
        pipe.execute()

    def get_model(self, model_id: str) -> ModelCard | None:
        raw = self.redis.hget(self._model(model_id), "card")
        return ModelCard.model_validate_json(raw) if raw else None

    def list_models(self, limit: int = 50, offset: int = 0) -> list[ModelCard]:
        ids = self.redis.zrevrange(f"{self.p}:models", offset, offset + limit - 1)
        return [m for m in (self.get_model(i.decode()) for i in ids) if m is not None]

    def add_model_job(self, model_id: str, kind: str, job_id: str) -> None:
        """Files a job that works on a model (kind: evaluations, projections) under it."""
        self.redis.zadd(self._model_jobs(model_id, kind), {job_id: datetime.now(UTC).timestamp()})

    def list_model_jobs(self, model_id: str, kind: str, limit: int = 50, offset: int = 0) -> list[dict]:
        """The model's jobs of this kind, newest first."""
        ids = self.redis.zrevrange(self._model_jobs(model_id, kind), offset, offset + limit - 1)
        return [job for job in (self.get_job(i.decode()) for i in ids) if job is not None]

    def is_model_job(self, model_id: str, kind: str, job_id: str) -> bool:
        return self.redis.zscore(self._model_jobs(model_id, kind), job_id) is not None

    def _model_jobs(self, model_id: str, kind: str) -> str:
        if kind not in MODEL_JOB_KINDS:
            raise ValueError(f"unknown kind of model job {kind!r}; known: {', '.join(MODEL_JOB_KINDS)}")
        return f"{self._model(model_id)}:{kind}"

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

    def delete_model(self, model_id: str) -> bool:
        pipe = self.redis.pipeline()
        pipe.delete(self._model(model_id), *(self._model_jobs(model_id, kind) for kind in MODEL_JOB_KINDS))
        pipe.zrem(f"{self.p}:models", model_id)
        return bool(pipe.execute()[0])

    # -- internals --------------------------------------------------------------------------------

    def _update(self, job_id: str, fields: dict, status: str = "", event: str = "", data: dict | None = None) -> None:
        fields = {**fields, "updated_at": utcnow()}
        self._run("UPDATE", job_id, json.dumps(_encode(fields)), status, event, json.dumps(data or {}))

    def _run(self, script: str, job_id: str, *args):
        result = self._scripts[script](args=[self.p, job_id, *args])
        return [_text(r) for r in result] if isinstance(result, list) else result

    def _job(self, job_id: str) -> str:
        return f"{self.p}:job:{job_id}"

    def _lease(self, job_id: str) -> str:
        return f"{self.p}:job:{job_id}:lease"

    def _model(self, model_id: str) -> str:
        return f"{self.p}:model:{model_id}"


class JobLease:
    """The writes a worker makes while it runs a job. Each one checks the lease token atomically and
    raises LeaseLost once another worker has taken the job over (field notes: leases with fencing)."""

    def __init__(self, registry: Registry, job_id: str, token: str):
        self.registry, self.job_id, self.token = registry, job_id, token

    def update(self, fields: dict | None = None, status: str = "", event: str = "", data: dict | None = None,
               model: ModelCard | None = None, model_exists: bool = False) -> None:
        """`model` registers a new model, or with `model_exists` rewrites the card of one still registered."""
        fields = {**(fields or {}), "updated_at": utcnow()}
        model_args = [model.id, model.model_dump_json(), datetime.now(UTC).timestamp(), "1" if model_exists else ""] \
            if model else ["", "", 0, ""]
        written = self.registry._run("FENCED_UPDATE", self.job_id, self.token, json.dumps(_encode(fields)), status,
                                     event, json.dumps(data or {}), *model_args)
        if not written:
            raise LeaseLost(f"job {self.job_id}: lease lost to another worker")

    def set_status(self, status: JobStatus, model: ModelCard | None = None, model_exists: bool = False,
                   **fields) -> None:
        data = {"status": status, **_present({k: v for k, v in fields.items() if k != "result"})}
        self.update(fields, status, "status", data, model, model_exists)

    def record_progress(self, progress: dict) -> None:
        self.update({"progress": progress}, event="progress", data=progress)

    def add_event(self, kind: str, data: dict) -> None:
        self.update(event=kind, data=data)

    def holds(self) -> bool:
        return self.registry.redis.get(self.registry._lease(self.job_id)) == self.token.encode()

    def renew(self, ttl_s: float) -> bool:
        return self.registry.renew_lease(self.job_id, self.token, ttl_s)

    def release(self) -> None:
        self.registry.release_lease(self.job_id, self.token)

    def status(self) -> str | None:
        raw = self.registry.redis.hget(self.registry._job(self.job_id), "status")
        return raw.decode() if raw else None


def _present(fields: dict) -> dict:
    return {k: v for k, v in fields.items() if v is not None}


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _encode(fields: dict) -> dict:
    return {k: json.dumps(v) if k in _JSON_FIELDS else ("" if v is None else str(v)) for k, v in fields.items()}


def _decode(raw: dict) -> dict:
    out: dict = {}
    for k, v in raw.items():
        key, value = k.decode(), v.decode()
        out[key] = json.loads(value) if key in _JSON_FIELDS else (value or None)
    for key in ("attempts", "requeues"):
        if out.get(key) is not None:
            out[key] = int(out[key])
    return out
