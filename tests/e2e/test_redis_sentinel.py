"""Redis fails over under a live API and worker (GANFORGE_REDIS_URL=sentinel://...): the master is killed while one
job trains and others wait in the queue. Nothing is lost or trained twice, and the API answers 503 only while the
sentinels promote the replica."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from core.celery_app import create_celery
from core.redis_connection import connect
from core.registry import Registry
from core.settings import Settings
from service.cli.processes import env_for, start_api, start_worker, stop
from tests.e2e.test_event_stream import SSE
from tests.helpers import events, wait_for_job, wait_until
from tests.sentinel import SentinelSet

pytestmark = pytest.mark.e2e


def points_job(steps: int) -> dict:
    return {"dataset": "ring8", "model": {"arch": "mlp", "hidden": 32},
            "train": {"max_steps": steps, "batch_size": 32, "checkpoint_every_steps": 50}}


class _Poller(threading.Thread):
    """Reads a job through the API every 50 ms, keeping (time, status code) of each answer."""

    def __init__(self, client: httpx.Client, path: str):
        super().__init__(daemon=True)
        self.client, self.path, self.answers = client, path, []
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.05):
            try:
                self.answers.append((time.monotonic(), self.client.get(self.path).status_code))
            except httpx.TransportError:
                self.answers.append((time.monotonic(), None))


class _Follower(threading.Thread):
    """Follows a job's Server-Sent Events as a browser's EventSource does: when a stream ends before the job's final
    status, or cannot start, it connects again with Last-Event-ID."""

    def __init__(self, client: httpx.Client, job_id: str):
        super().__init__(daemon=True)
        self.client, self.path, self.events, self.streams = client, f"/v1/jobs/{job_id}/events", [], 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set() and not self._over():
            last = {"Last-Event-ID": self.events[-1]["id"]} if self.events else {}
            try:
                with self.client.stream("GET", self.path, headers={**SSE, **last}, timeout=30) as response:
                    if response.status_code == 200:
                        self.streams += 1
                        self._read(response)
                        continue
            except (httpx.TransportError, RuntimeError):  # RuntimeError: the test closed the client
                pass
            time.sleep(0.2)

    def _read(self, response: httpx.Response) -> None:
        current: dict = {}
        for line in response.iter_lines():
            if line.startswith(("id:", "event:", "data:")):
                name, _, value = line.partition(": ")
                current[name] = json.loads(value) if name == "data" else value
            elif line == "" and current:
                self.events.append(current)
                current = {}

    def _over(self) -> bool:
        return bool(self.events) and self.events[-1]["event"] == "status" \
            and self.events[-1]["data"]["status"] in ("succeeded", "failed", "cancelled")


def test_a_failover_loses_no_job_and_trains_none_twice(tmp_path, data_dir):
    redis = SentinelSet(tmp_path / "redis").start()
    env = env_for(redis.url, data_dir, GANFORGE_RETRY_BACKOFF_S="0.5")
    api, api_url = start_api(env, tmp_path / "api.log")
    worker = start_worker(env, "failover@%h", tmp_path / "worker.log")
    follower = None
    try:
        with httpx.Client(base_url=api_url, timeout=30) as client:
            running = client.post("/v1/jobs", json=points_job(600)).json()
            follower = _Follower(client, running["id"])
            follower.start()
            queued = [client.post("/v1/jobs", json=points_job(40)).json() for _ in range(3)]
            wait_until(lambda: events(client, running["id"], "checkpoint"), 60, "the first job's first checkpoint")
            assert redis.node("a").execute_command("WAIT", 1, 5000) == 1  # what was acknowledged is on the replica
            poller = _Poller(client, f"/v1/jobs/{queued[-1]['id']}")
            poller.start()

            assert client.get(f"/v1/jobs/{running['id']}").json()["status"] == "running"
            killed_at = time.monotonic()
            redis.kill("a")
            wait_until(lambda: redis.master_port() == redis.ports["b"], 30, "the sentinels promoting the replica")
            promoted_at = time.monotonic()
            done = [wait_for_job(client, job["id"], timeout_s=120) for job in (running, *queued)]
            poller.stopped.set()
            poller.join(5)
            follower.join(30)

            assert [job["status"] for job in done] == ["succeeded"] * 4, done
            models = client.get("/v1/models").json()["models"]
            for job in done:  # exactly once: one model per job, and one successful run
                assert len([m for m in models if m["job_id"] == job["id"]]) == 1
                finished = [e for e in events(client, job["id"], "status") if e["data"]["status"] == "succeeded"]
                assert len(finished) == 1
            codes = [code for _, code in poller.answers]
            assert set(codes) <= {200, 503}, codes  # never a 500, never a hang
            unavailable = [at for at, code in poller.answers if code == 503]
            if unavailable:
                assert killed_at <= min(unavailable) and max(unavailable) <= promoted_at + 5
                print(f"\n503 for {max(unavailable) - min(unavailable):.2f} s ({len(unavailable)} answers) of a "
                      f"switch that took {promoted_at - killed_at:.2f} s")
            assert codes[-1] == 200
            # The worker lost its broker connection and gave the running job up (the reaper requeued it, or it
            # retried); it went on from its checkpoint, under one attempt more per requeue.
            interruptions = [e for e in events(client, running["id"]) if e["event"] in ("requeued", "retrying")]
            resumed = events(client, running["id"], "resumed")
            assert interruptions and resumed and all(e["data"]["step"] >= 50 for e in resumed), interruptions
            assert done[0]["attempts"] == 1 + (done[0].get("requeues") or 0) <= 2, done[0]
            for job in done[1:]:  # the queued jobs waited it out on the new master, untouched
                assert job["attempts"] == 1 and not job.get("requeues") and not events(client, job["id"], "resumed")
            # The event stream broke with the master and went on where it stopped: every event once, in order.
            history = Registry(connect(redis.url)).events(running["id"], count=100_000)
            assert follower.streams >= 2 and [e["id"] for e in follower.events] == [e["id"] for e in history]
            print(f"the running job's event stream: {len(history)} events over {follower.streams} connections")
            assert client.post("/v1/jobs", json=points_job(10)).status_code == 202  # writes go to the new master
    finally:
        if follower is not None:
            follower.stopped.set()
        for process in (api, worker):
            stop(process)
        redis.stop()


def test_password_protected_nodes_and_sentinels_are_reached_by_the_registry_and_the_broker(tmp_path):
    redis = SentinelSet(tmp_path / "redis", password="p@ss;w/rd", sentinel_password="sentinel-secret").start()
    try:
        client = connect(redis.url, "sentinel-secret", socket_timeout=2)
        client.set("probe", "registry")
        assert client.get("probe") == b"registry"
        with pytest.raises(RedisConnectionError):  # the sentinels refuse a client without their password
            connect(redis.url, socket_timeout=2).ping()

        celery = create_celery(Settings(redis_url=redis.url, redis_sentinel_password="sentinel-secret",
                                        data_dir=tmp_path / "data"))
        with celery.connection_for_write() as connection, connection.SimpleQueue("probe-queue") as queue:
            queue.put({"job": "probe"})
            assert redis.node("a").llen("probe-queue") == 1  # on the master the sentinels named
            message = queue.get(timeout=5)
            message.ack()
        assert message.payload == {"job": "probe"}
    finally:
        redis.stop()
