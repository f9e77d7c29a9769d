"""Lua scripts for the registry's state changes that must be atomic.

Each job's status lives in its hash and, as an index, in one set per status (`{p}:status:{status}`), so
metrics and the reaper read counts and running jobs without scanning every job. Every status change
goes through `move` below so the hash and the index never disagree, and lands in one stream of all jobs'
status changes (`{p}:job-status`, what a live job list follows). A job's unfinished jobs per owner
(`{p}:owner:{name}:unfinished`) back the per-key cap. The scripts build key names from the prefix, so
they need a single Redis node (not Redis Cluster).
"""

from core.states import TERMINAL, JobStatus

# Each status as a Lua local named like its member (local QUEUED = 'queued'): the scripts below name the statuses
# and never spell them, so they cannot drift from core.states.
STATUS_LOCALS = "\n".join(f"local {status.name} = '{status.value}'" for status in JobStatus)

_PRELUDE = STATUS_LOCALS + """
local p = ARGV[1]
local id = ARGV[2]
local job = p .. ':job:' .. id
local lease = job .. ':lease'
local function terminal(s) return """ + " or ".join(f"s == {status.name}" for status in TERMINAL) + """ end
local function move(new)
  local old = redis.call('hget', job, 'status')
  if old then redis.call('srem', p .. ':status:' .. old, id) end
  redis.call('sadd', p .. ':status:' .. new, id)
  redis.call('hset', job, 'status', new)
  if new ~= QUEUED then redis.call('hdel', job, 'waiting') end  -- what a queued job waited for: moot once it moves
  redis.call('xadd', p .. ':job-status', 'MAXLEN', '~', 10000, '*', 'job', id, 'status', new)
  if terminal(new) then
    local owner = redis.call('hget', job, 'owner')
    if owner and owner ~= '' then redis.call('srem', p .. ':owner:' .. owner .. ':unfinished', id) end
  end
end
local function event(kind, data)
  redis.call('xadd', job .. ':events', 'MAXLEN', '~', 1000, '*', 'event', kind, 'data', data)
end
local function hset_json(fields_json)
  if fields_json == '' then return end
  for k, v in pairs(cjson.decode(fields_json)) do redis.call('hset', job, k, v) end
end
"""

# ARGV: p, id, idempotency key or '', job fields (JSON of strings), owner or '', cap (0: none), score,
# idempotency ttl s, status event data. Returns {outcome, job id}. One script, so two concurrent
# requests with the same key can never both create a job.
CREATE = _PRELUDE + """
local idem, fields, owner, cap = ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local idem_key = p .. ':idem:' .. owner .. ':' .. idem
if idem ~= '' then
  local existing = redis.call('get', idem_key)
  if existing and redis.call('exists', p .. ':job:' .. existing) == 1 then return {'existing', existing} end
end
local unfinished = p .. ':owner:' .. owner .. ':unfinished'
if owner ~= '' and cap > 0 and redis.call('scard', unfinished) >= cap then return {'capped', ''} end
hset_json(fields)
move(QUEUED)
redis.call('zadd', p .. ':jobs', ARGV[7], id)
if owner ~= '' then redis.call('sadd', unfinished, id) end
if idem ~= '' then redis.call('set', idem_key, id, 'EX', ARGV[8]) end
event('status', ARGV[9])
return {'created', id}
"""

# ARGV: p, id, fields JSON, new status or '', event kind or '', event data. Unfenced: for the API
# and for recording outcomes that need no lease.
UPDATE = _PRELUDE + """
if redis.call('exists', job) == 0 then return 0 end
hset_json(ARGV[3])
if ARGV[4] ~= '' then move(ARGV[4]) end
if ARGV[5] ~= '' then event(ARGV[5], ARGV[6]) end
return 1
"""

# ARGV: p, id, what it waits for (JSON), now. While the job is queued, and only then: its `waiting` field and a
# `waiting` event (work done ahead of it, e.g. its data set's reference classifier). Never changes its status, so
# a note that arrives after a worker took the job is dropped. Returns 1 when written.
WAITING = _PRELUDE + """
if redis.call('hget', job, 'status') ~= QUEUED then return 0 end
redis.call('hset', job, 'waiting', ARGV[3], 'updated_at', ARGV[4])
event('waiting', ARGV[3])
return 1
"""

# ARGV: p, id, token, fields JSON, new status or '', event kind or '', event data, model id or '',
# model card, model score, '1' to update an existing model only (an evaluation's figures: never bring
# back a model deleted meanwhile). Writes only while the caller still holds the lease: the fencing check and
# the write are one step, so a worker that lost its lease (paused, partitioned) cannot overwrite the
# state written by the worker that took the job over.
FENCED_UPDATE = _PRELUDE + """
if redis.call('get', lease) ~= ARGV[3] then return 0 end
hset_json(ARGV[4])
if ARGV[5] ~= '' then move(ARGV[5]) end
if ARGV[6] ~= '' then event(ARGV[6], ARGV[7]) end
if ARGV[8] ~= '' and ARGV[11] ~= '1' then
  redis.call('hset', p .. ':model:' .. ARGV[8], 'card', ARGV[9])
  redis.call('zadd', p .. ':models', ARGV[10], ARGV[8])
elseif ARGV[8] ~= '' and redis.call('exists', p .. ':model:' .. ARGV[8]) == 1 then
  redis.call('hset', p .. ':model:' .. ARGV[8], 'card', ARGV[9])
end
return 1
"""

# ARGV: p, id, token, ttl ms, worker name, now, max attempts. Takes the lease and starts (or resumes)
# the job in one step. Returns {outcome, attempts}: outcome is the job's status when it is not ours
# to run ('missing', a terminal status, 'leased'), or 'running'.
BEGIN = _PRELUDE + """
local status = redis.call('hget', job, 'status')
if not status then return {'missing', 0} end
if terminal(status) then return {status, 0} end
-- The same token still holding the lease: the worker whose run an infrastructure fault (a Redis outage,
-- flaky storage) ended takes its job up again. That run was not the job's failure, so no attempt is counted.
local continuing = redis.call('get', lease) == ARGV[3]
if continuing then redis.call('pexpire', lease, ARGV[4])
elseif not redis.call('set', lease, ARGV[3], 'NX', 'PX', ARGV[4]) then return {'leased', 0} end
if status == CANCELLING then
  move(CANCELLED)
  redis.call('hset', job, 'finished_at', ARGV[6], 'updated_at', ARGV[6])
  redis.call('del', lease)
  event('status', cjson.encode({status = CANCELLED}))
  return {CANCELLED, 0}
end
local attempts = tonumber(redis.call('hget', job, 'attempts') or '0')
if not continuing then attempts = redis.call('hincrby', job, 'attempts', 1) end
if attempts > tonumber(ARGV[7]) then
  local reason = 'gave up after ' .. (attempts - 1) .. ' attempts (max_attempts); see the job events'
  move(FAILED)
  redis.call('hset', job, 'error', reason, 'finished_at', ARGV[6], 'updated_at', ARGV[6])
  redis.call('del', lease)
  event('status', cjson.encode({status = FAILED, error = reason}))
  return {FAILED, attempts}
end
move(RUNNING)
redis.call('hset', job, 'worker', ARGV[5], 'error', '', 'updated_at', ARGV[6])
if (redis.call('hget', job, 'started_at') or '') == '' then redis.call('hset', job, 'started_at', ARGV[6]) end
event('status', cjson.encode({status = RUNNING, worker = ARGV[5], attempt = attempts}))
return {RUNNING, attempts}
"""

# ARGV: p, id, now. Returns {outcome, status before}.
CANCEL = _PRELUDE + """
local status = redis.call('hget', job, 'status')
if not status then return {'missing', ''} end
if status == QUEUED then
  move(CANCELLED)
  redis.call('hset', job, 'finished_at', ARGV[3], 'updated_at', ARGV[3])
  event('status', cjson.encode({status = CANCELLED}))
  return {CANCELLED, status}
end
if status == RUNNING then
  move(CANCELLING)
  redis.call('hset', job, 'updated_at', ARGV[3])
  event('status', cjson.encode({status = CANCELLING}))
  return {CANCELLING, status}
end
if status == CANCELLING then return {CANCELLING, status} end
return {'conflict', status}
"""

# ARGV: p, id, now, max attempts, now as epoch seconds. A running (or cancelling) job whose lease has
# expired lost its worker. The status check and the change are one step, so of two reapers only one re-queues a job.
REAP = _PRELUDE + """
local status = redis.call('hget', job, 'status')
if status ~= RUNNING and status ~= CANCELLING then return 'skip' end
if redis.call('exists', lease) == 1 then return 'alive' end
if status == CANCELLING then
  move(CANCELLED)
  redis.call('hset', job, 'finished_at', ARGV[3], 'updated_at', ARGV[3])
  event('status', cjson.encode({status = CANCELLED, reason = 'its worker stopped while cancelling'}))
  return CANCELLED
end
local attempts = tonumber(redis.call('hget', job, 'attempts') or '0') or 0
if attempts >= tonumber(ARGV[4]) then
  local reason = 'its worker was lost ' .. attempts .. ' times; gave up (max_attempts)'
  move(FAILED)
  redis.call('hset', job, 'error', reason, 'finished_at', ARGV[3], 'updated_at', ARGV[3])
  event('status', cjson.encode({status = FAILED, error = reason}))
  return FAILED
end
move(QUEUED)
redis.call('hincrby', job, 'requeues', 1)
redis.call('hset', job, 'updated_at', ARGV[3], 'queued_ts', ARGV[5], 'enqueued_at', '')
event('requeued', cjson.encode({reason = 'lease expired: its worker stopped heartbeating', attempts = attempts}))
event('status', cjson.encode({status = QUEUED}))
return 'requeued'
"""

RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
