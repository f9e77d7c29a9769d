"""The soak scenario, shared by tests/e2e/test_soak.py (small, bounded) and bench/soak.py (bigger, with figures):
several API processes and workers on one Redis, a batch of tiny training jobs, many concurrent generation clients
through every API, and one worker killed with SIGKILL mid-job and started again.

Everything runs as real processes (service/cli/processes.py); the clients are asyncio tasks on httpx. What comes back
is the raw record (every job with its events, every model card, every request's status and latency) and the
figures computed from it, so that the test asserts on the record and the benchmark prints the figures."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import signal
import statistics
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from redis import Redis

from core.registry import Registry
from service.cli.processes import env_for, spawn, start_api, stop, wait_for

# Tiny jobs: an MLP GAN on the 2-D ring (no reference classifier to train first), a checkpoint every few steps so
# the killed job resumes rather than restarts.
JOB = {"dataset": "ring8", "model": {"arch": "mlp", "hidden": 32, "depth": 2},
       "train": {"batch_size": 32, "checkpoint_every_steps": 20, "sample_every_epochs": 1000}}


@dataclass
class SoakPlan:
    jobs: int = 30
    clients: int = 64
    apis: int = 2
    workers: int = 3
    steps: int = 120  # per job
    generate_s: float = 15.0  # how long the generation clients run, from the first trained model on
    kill_worker: bool = True  # SIGKILL a worker that is mid-job, then start it again
    kill_at_step: int = 30  # ...once its job has passed this step (after its first checkpoint)
    timeout_s: float = 120.0  # for all jobs to finish
    lease_ttl_s: int = 3


@dataclass
class SoakRecord:
    plan: SoakPlan
    jobs: list[dict] = field(default_factory=list)  # as GET /v1/jobs/{id} shows them at the end
    events: dict[str, list[dict]] = field(default_factory=dict)  # job id -> its events
    models: list[dict] = field(default_factory=list)  # every model card
    requests: list[tuple[int, float]] = field(default_factory=list)  # generation: (status, seconds)
    other_statuses: Counter = field(default_factory=Counter)  # submissions, polls, reads: status -> count
    errors: Counter = field(default_factory=Counter)  # generation requests that got no answer, by error
    killed: dict | None = None  # {"worker", "jobs" (whose lease it held), "steps", "restarted_after_s"}
    generate_s: float = 0.0  # wall time of the generation phase
    jobs_s: float = 0.0  # from the first submission to the last job finished
    total_s: float = 0.0

    def succeeded_events(self, job_id: str) -> int:
        return sum(1 for e in self.events[job_id] if e["event"] == "status" and e["data"]["status"] == "succeeded")

    def figures(self) -> dict:
        latencies = sorted(seconds for _, seconds in self.requests)
        per_job = Counter(card["job_id"] for card in self.models)
        statuses = Counter(status for status, _ in self.requests) + self.other_statuses
        return {
            "jobs": len(self.jobs),
            "jobs_succeeded": sum(job["status"] == "succeeded" for job in self.jobs),
            "jobs_succeeded_twice": sum(self.succeeded_events(job["id"]) > 1 for job in self.jobs),
            "models": len(self.models),
            "jobs_with_two_models": sum(count > 1 for count in per_job.values()),
            "attempts_beyond_requeues": sum((job.get("attempts") or 0) - 1 - (job.get("requeues") or 0)
                                            for job in self.jobs),
            "requeues": sum(job.get("requeues") or 0 for job in self.jobs),
            "killed": self.killed,
            "generate_requests": len(self.requests),
            "generate_ok": sum(status == 200 for status, _ in self.requests),
            "p50_ms": round(1000 * statistics.median(latencies), 1) if latencies else None,
            "p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 1) if latencies else None,
            "requests_per_s": round(len(self.requests) / self.generate_s, 1) if self.generate_s else None,
            "5xx": sum(count for status, count in statuses.items() if status >= 500),
            "no_answer": sum(self.errors.values()),
            "statuses": dict(sorted(statuses.items())),
            "jobs_s": round(self.jobs_s, 1),
            "total_s": round(self.total_s, 1),
        }


def soak(plan: SoakPlan, redis_url: str, data_dir: Path, logs: Path, **settings: str) -> SoakRecord:
    """Runs the scenario against the Redis at `redis_url` (use a database of its own) and stops every process it
    started, whatever happens. `settings`: more GANFORGE_* variables for every process."""
    started, record = time.monotonic(), SoakRecord(plan)
    env = env_for(redis_url, data_dir, GANFORGE_LEASE_TTL_S=str(plan.lease_ttl_s), GANFORGE_REAPER_INTERVAL_S="0.5",
                  GANFORGE_RATE_LIMIT_JOBS_PER_MIN="0", GANFORGE_RATE_LIMIT_GENERATE_PER_MIN="0",
                  GANFORGE_MAX_UNFINISHED_JOBS_PER_KEY="0", GANFORGE_LOG_FORMAT="text", **settings)
    workers: dict[str, subprocess.Popen] = {}
    apis: list[subprocess.Popen] = []
    try:
        for i in range(plan.workers):  # all start at once; then the APIs, whose start waits for /healthz
            workers[f"soak{i}"] = spawn(["worker", "--name", f"soak{i}@%h"], env, logs / f"soak{i}.log")
        urls = []
        for i in range(plan.apis):
            process, url = start_api(env, logs / f"api{i}.log")
            apis.append(process)
            urls.append(url)
        for name, process in workers.items():
            _wait_ready(process, logs / f"{name}.log")
        with Redis.from_url(redis_url) as redis:
            asyncio.run(_run(plan, urls, record, workers, env, logs, Registry(redis)))
        return record
    finally:
        for process in (*apis, *workers.values()):
            stop(process)
        record.total_s = time.monotonic() - started


def _wait_ready(process: subprocess.Popen, log: Path, timeout_s: float = 120) -> None:
    wait_for(lambda: b" ready." in log.read_bytes(), timeout_s, f"worker ({log.name})", process, log)


async def _run(plan: SoakPlan, urls: list[str], record: SoakRecord, workers: dict, env: dict, logs: Path,
               registry: Registry) -> None:
    limits = httpx.Limits(max_connections=plan.clients + 8, max_keepalive_connections=plan.clients + 8)
    clients = [httpx.AsyncClient(base_url=url, timeout=60, limits=limits) for url in urls]
    try:
        began = time.monotonic()
        ids = await _submit(plan, clients, record)
        models: list[str] = []
        done = asyncio.Event()
        async with asyncio.TaskGroup() as group:  # one failing cancels the rest, so the failure shows
            group.create_task(_watch_jobs(clients, ids, record, models, done, plan.timeout_s))
            group.create_task(_generate(plan, clients, record, models, done))
            if plan.kill_worker:
                group.create_task(_kill_and_restart(plan, registry, record, workers, env, logs, done))
        record.jobs_s = time.monotonic() - began
        await _collect(clients[-1], ids, record)
    finally:
        for client in clients:
            await client.aclose()


async def _submit(plan: SoakPlan, clients: list[httpx.AsyncClient], record: SoakRecord) -> list[str]:
    async def one(i: int) -> str:
        spec = {**JOB, "train": {**JOB["train"], "max_steps": plan.steps, "seed": i}}
        response = await clients[i % len(clients)].post("/v1/jobs", json=spec)
        record.other_statuses[response.status_code] += 1
        response.raise_for_status()
        return response.json()["id"]

    return list(await asyncio.gather(*(one(i) for i in range(plan.jobs))))


async def _watch_jobs(clients: list[httpx.AsyncClient], ids: list[str], record: SoakRecord, models: list[str],
                      done: asyncio.Event, timeout_s: float) -> None:
    """Polls every job, through the APIs in turn, until all have finished; hands trained models to the clients."""
    deadline = time.monotonic() + timeout_s
    finished: set[str] = set()
    turn = itertools.cycle(clients)
    try:
        while len(finished) < len(ids):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(ids) - len(finished)} of {len(ids)} jobs unfinished after {timeout_s} s")
            response = await next(turn).get("/v1/jobs", params={"limit": 500})
            record.other_statuses[response.status_code] += 1
            if response.status_code == 200:
                for job in response.json()["jobs"]:
                    if job["id"] in ids and job["status"] in ("succeeded", "failed", "cancelled"):
                        if job["id"] not in finished and job.get("model_id"):
                            models.append(job["model_id"])
                        finished.add(job["id"])
            await asyncio.sleep(0.2)
    finally:
        done.set()


async def _generate(plan: SoakPlan, clients: list[httpx.AsyncClient], record: SoakRecord, models: list[str],
                    done: asyncio.Event) -> None:
    """`plan.clients` clients, spread over the APIs, each asking for 16 samples of a random trained model with a
    fresh seed in a loop, for `plan.generate_s` from the first trained model on."""
    while not models:
        if done.is_set():
            return
        await asyncio.sleep(0.1)
    began = time.monotonic()
    until = began + plan.generate_s
    seeds = itertools.count()

    async def client(i: int) -> None:
        http = clients[i % len(clients)]
        while time.monotonic() < until:
            model = random.choice(models)
            sent = time.perf_counter()
            try:
                response = await http.post(f"/v1/models/{model}/generate", json={"n": 16, "seed": next(seeds)})
            except httpx.TransportError as exc:  # no answer at all: counted, as a status 0, never hidden
                record.errors[f"{type(exc).__name__}: {exc}"] += 1
                record.requests.append((0, time.perf_counter() - sent))
                continue
            record.requests.append((response.status_code, time.perf_counter() - sent))

    await asyncio.gather(*(client(i) for i in range(plan.clients)))
    record.generate_s = time.monotonic() - began


async def _kill_and_restart(plan: SoakPlan, registry: Registry, record: SoakRecord, workers: dict, env: dict,
                            logs: Path, done: asyncio.Event) -> None:
    """SIGKILL (the whole process group: the worker and its pool child, as the OOM killer or a lost machine would)
    the first worker seen past `kill_at_step` of a job, then start it again under the same name. Records the jobs
    whose lease it held when it died (read from Redis at once, before their leases expire): those, and only those,
    must be trained again."""
    while not done.is_set():
        jobs = [registry.get_job(i) for i in registry.job_ids_with_status("running")]
        # Well before its end, so that it is still running when the signal lands.
        running = [job for job in jobs if job and job.get("worker")
                   and plan.kill_at_step <= (job.get("progress") or {}).get("step", 0) < 0.6 * plan.steps]
        if running:
            node = running[0]["worker"]
            name = node.split("@")[0]
            os.killpg(workers[name].pid, signal.SIGKILL)
            workers[name].wait()
            killed_at = time.monotonic()
            held = registry.jobs_run_by(node)
            record.killed = {"worker": node, "jobs": held,
                             "steps": [(registry.get_job(i)["progress"] or {}).get("step") for i in held]}
            log = logs / f"{name}-restarted.log"
            workers[name] = spawn(["worker", "--name", f"{name}@%h"], env, log)
            await asyncio.to_thread(_wait_ready, workers[name], log)
            record.killed["restarted_after_s"] = round(time.monotonic() - killed_at, 1)
            return
        await asyncio.sleep(0.05)


async def _collect(client: httpx.AsyncClient, ids: list[str], record: SoakRecord) -> None:
    for job_id in ids:
        job = await client.get(f"/v1/jobs/{job_id}")
        events = await client.get(f"/v1/jobs/{job_id}/events")
        record.other_statuses[job.status_code] += 1
        record.other_statuses[events.status_code] += 1
        record.jobs.append(job.json())
        record.events[job_id] = events.json()["events"]
    response = await client.get("/v1/models", params={"limit": 500})
    record.other_statuses[response.status_code] += 1
    record.models = [card for card in response.json()["models"] if card["job_id"] in record.events]
