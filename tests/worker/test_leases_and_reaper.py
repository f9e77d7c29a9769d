"""Leases, fencing, the reaper and idempotency against a real Redis, with real concurrency (threads)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from redis import Redis

from core.kinds import card_for
from core.registry import CapReached, LeaseLost, Registry
from core.settings import Settings
from core.store import LocalStore
from models.gan import GANConfig
from service.cli.embedded_redis import free_port
from tests.helpers import TINY_JOB
from worker.jobs import TransientFailure, is_transient, run_job
from worker.reaper import reap


@pytest.fixture
def registry(redis_url):
    """A database no worker listens on: the jobs made here must not be picked up and trained."""
    client = Redis.from_url(redis_url.rsplit("/", 1)[0] + "/3")
    yield Registry(client)
    client.close()


def new_job(registry, **kwargs) -> str:
    job, created = registry.create_job(TINY_JOB, **kwargs)
    assert created
    return job["id"]


def test_a_worker_that_lost_its_lease_cannot_write(registry):
    job_id = new_job(registry)
    assert registry.begin_job(job_id, "old", ttl_s=0.05, worker="a", max_attempts=5) == ("running", 1)
    stale = registry.lease(job_id, "old")
    registry.redis.delete(f"gf:job:{job_id}:lease")  # the lease expired while the old worker was paused
    assert registry.begin_job(job_id, "new", ttl_s=30, worker="b", max_attempts=5) == ("running", 2)

    with pytest.raises(LeaseLost):
        card = card_for(GANConfig(), [], model_id="model_00000000000000aa")
        stale.set_status("succeeded", model=card, model_id=card.id)
    with pytest.raises(LeaseLost):
        stale.record_progress({"step": 1})
    assert not stale.renew(30)
    stale.release()  # releasing a lease it no longer holds leaves the new one alone

    job = registry.get_job(job_id)
    assert job["status"] == "running" and job["worker"] == "b" and job.get("model_id") is None
    assert registry.get_model("model_00000000000000aa") is None and registry.lease_alive(job_id)
    registry.lease(job_id, "new").set_status("succeeded")
    assert registry.get_job(job_id)["status"] == "succeeded"


def test_two_reapers_requeue_an_orphaned_job_exactly_once(registry):
    job_id = new_job(registry)
    registry.begin_job(job_id, "dead-worker", ttl_s=30, worker="a", max_attempts=5)
    registry.redis.delete(f"gf:job:{job_id}:lease")  # its worker died: no more heartbeats
    enqueued: list[str] = []

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: reap(registry, enqueued.append, max_attempts=5), range(8)))

    assert enqueued.count(job_id) == 1
    job = registry.get_job(job_id)
    assert job["status"] == "queued" and job["requeues"] == 1
    assert [e["event"] for e in registry.events(job_id)][-2:] == ["requeued", "status"]


def test_a_job_with_a_live_lease_is_not_reaped(registry):
    job_id = new_job(registry)
    registry.begin_job(job_id, "alive", ttl_s=30, worker="a", max_attempts=5)
    assert registry.reap_job(job_id, max_attempts=5) == "alive"
    assert registry.get_job(job_id)["status"] == "running"


def test_a_job_whose_workers_keep_dying_fails_after_max_attempts(registry):
    job_id = new_job(registry)
    for attempt in (1, 2):
        assert registry.begin_job(job_id, f"t{attempt}", ttl_s=30, worker="a", max_attempts=2) == ("running", attempt)
        registry.redis.delete(f"gf:job:{job_id}:lease")
        expected = "requeued" if attempt == 1 else "failed"
        assert registry.reap_job(job_id, max_attempts=2) == expected
    job = registry.get_job(job_id)
    assert job["status"] == "failed" and "lost 2 times" in job["error"]


def test_a_cancelled_queued_job_is_never_started(registry, settings):
    job_id = new_job(registry)
    assert registry.cancel_job(job_id) == ("cancelled", "queued")
    assert run_job(job_id, registry, LocalStore(settings.data_dir), settings) == "cancelled"
    assert registry.cancel_job(job_id) == ("conflict", "cancelled")


def test_concurrent_requests_with_one_idempotency_key_create_one_job(registry):
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda _: registry.create_job(TINY_JOB, "same-key", owner="k"), range(32)))
    assert len({job["id"] for job, _ in results}) == 1
    assert sum(created for _, created in results) == 1


def test_idempotency_keys_of_different_owners_do_not_collide(registry):
    mine, _ = registry.create_job(TINY_JOB, "shared-key", owner="alice")
    theirs, created = registry.create_job(TINY_JOB, "shared-key", owner="bob")
    assert created and mine["id"] != theirs["id"]


def test_the_unfinished_job_cap_holds_under_concurrency(registry):
    def submit(_):
        try:
            return registry.create_job(TINY_JOB, owner="capped-key", max_unfinished=3)[0]["id"]
        except CapReached:
            return None

    with ThreadPoolExecutor(16) as pool:
        created = [i for i in pool.map(submit, range(20)) if i]
    assert len(created) == 3 and registry.unfinished_jobs_of("capped-key") == 3
    registry.cancel_job(created[0])  # a finished job frees its place
    assert registry.unfinished_jobs_of("capped-key") == 2


def test_status_counts_follow_every_change(registry):
    before = registry.count_by_status()
    job_id = new_job(registry)
    registry.cancel_job(job_id)
    after = registry.count_by_status()
    assert after["cancelled"] == before["cancelled"] + 1 and after["queued"] == before["queued"]


def test_a_job_recorded_but_never_enqueued_is_enqueued_by_the_reaper_once(registry):
    job_id = new_job(registry)  # as if the API died between recording the job and enqueueing it
    enqueued: list[str] = []
    reap(registry, enqueued.append, max_attempts=5, orphan_grace_s=60)
    assert job_id not in enqueued  # give its creator time to enqueue it
    reap(registry, enqueued.append, max_attempts=5, orphan_grace_s=0)
    reap(registry, enqueued.append, max_attempts=5, orphan_grace_s=0)
    assert enqueued.count(job_id) == 1 and registry.get_job(job_id)["enqueued_at"]


def test_lost_redis_is_a_transient_failure(tmp_path):
    settings = Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0", data_dir=tmp_path)
    registry = Registry(Redis.from_url(settings.redis_url, socket_connect_timeout=1))
    with pytest.raises(TransientFailure):
        run_job("job_0123456789abcdef", registry, LocalStore(tmp_path), settings)


def test_bad_input_is_permanent_and_flaky_storage_is_transient():
    assert not is_transient(ValueError("unknown data set"))
    assert not is_transient(FileNotFoundError("no such data set file"))
    assert is_transient(OSError(28, "No space left on device"))
    assert is_transient(TimeoutError("timed out"))  # an OSError


def test_a_retry_after_an_infrastructure_fault_continues_the_attempt_it_interrupted(registry):
    job_id = new_job(registry)
    assert registry.begin_job(job_id, "mine", ttl_s=30, worker="a", max_attempts=2) == ("running", 1)
    # Redis went away mid-run: the worker put the job back to queued and kept its lease for the retry.
    registry.lease(job_id, "mine").update({"error": "ConnectionError"}, "queued", "retrying", {})
    assert registry.begin_job(job_id, "other", ttl_s=30, worker="b", max_attempts=2) == ("leased", 0)
    for _ in range(3):  # outage after outage: never a failure of the job's own
        assert registry.begin_job(job_id, "mine", ttl_s=30, worker="a", max_attempts=2) == ("running", 1)
    # Once the lease is gone (the worker died before retrying), a new start is a new attempt.
    registry.redis.delete(f"gf:job:{job_id}:lease")
    assert registry.begin_job(job_id, "other", ttl_s=30, worker="b", max_attempts=2) == ("running", 2)
    assert registry.get_job(job_id)["attempts"] == 2


class FullOnce(LocalStore):
    """The artifact store on a disk that is full once, when the first epoch's metrics are written."""

    def __init__(self, root):
        super().__init__(root)
        self.full = True

    def append_line(self, key: str, line: str) -> None:
        if self.full:
            self.full = False
            raise OSError(28, "No space left on device")
        super().append_line(key, line)


def test_a_transient_failure_keeps_the_lease_and_hands_its_token_to_the_retry(registry, tmp_path):
    job_id = new_job(registry)
    settings = Settings(redis_url="redis://unused", data_dir=tmp_path, lease_ttl_s=30)
    store = FullOnce(tmp_path)
    with pytest.raises(TransientFailure) as failure:
        run_job(job_id, registry, store, settings, worker="a")
    job = registry.get_job(job_id)
    assert job["status"] == "queued" and "No space left" in job["error"] and registry.lease_alive(job_id)
    assert failure.value.token
    # Another delivery meanwhile leaves it to the retry, which continues the same attempt.
    assert run_job(job_id, registry, store, settings, worker="b") == "leased-elsewhere"
    assert run_job(job_id, registry, store, settings, worker="a", token=failure.value.token) == "succeeded"
    assert registry.get_job(job_id)["attempts"] == 1
