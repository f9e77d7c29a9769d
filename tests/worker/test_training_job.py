import json

from core.spec import JobSpec
from core.store import LocalStore
from core.store.keys import CARD_FILE, GENERATOR_FILE, model_prefix, sample_key
from tests.helpers import TINY_JOB, wait_for_registry_status
from worker.jobs import run_job


def submit(registry, **train) -> str:
    spec = JobSpec.model_validate({**TINY_JOB, "train": {**TINY_JOB["train"], **train}}).model_dump()
    job, created = registry.create_job(spec)
    assert created
    return job["id"]


def test_a_tiny_job_succeeds_and_registers_a_loadable_model(registry, settings):
    job_id = submit(registry)
    store = LocalStore(settings.data_dir)

    assert run_job(job_id, registry, store, settings) == "succeeded"

    job = registry.get_job(job_id)
    assert job["status"] == "succeeded" and job["finished_at"] and job["error"] is None
    assert job["progress"]["step"] == 12 and job["progress"]["total_steps"] == 12
    card = registry.get_model(job["model_id"]).to_json()
    assert card["job_id"] == job_id and card["latent_dim"] == 16 and card["image_shape"] == [1, 28, 28]
    assert card["dataset"]["id"] == "digits" and card["dataset"]["checksum"].startswith("sha256:")
    model = model_prefix(job["model_id"])
    assert json.loads(store.read_published(model, CARD_FILE)) == card
    assert len(store.read_published(model, GENERATOR_FILE)) > 0
    assert store.get_bytes(sample_key(job_id, 1)).startswith(b"\x89PNG")


def test_a_job_leased_by_another_worker_is_left_alone(registry, settings):
    job_id = submit(registry)
    assert registry.acquire_lease(job_id, "other-worker", ttl_s=30)

    assert run_job(job_id, registry, LocalStore(settings.data_dir), settings) == "leased-elsewhere"
    assert registry.get_job(job_id)["status"] == "queued"


def test_a_finished_job_is_not_trained_again(registry, settings):
    job_id = submit(registry)
    store = LocalStore(settings.data_dir)
    assert run_job(job_id, registry, store, settings) == "succeeded"
    model_id = registry.get_job(job_id)["model_id"]

    assert run_job(job_id, registry, store, settings) == "succeeded"
    assert registry.get_job(job_id)["model_id"] == model_id


def test_a_broken_job_fails_with_a_readable_reason(registry, settings):
    job, _ = registry.create_job({**TINY_JOB, "dataset": "no-such-set"})

    assert run_job(job["id"], registry, LocalStore(settings.data_dir), settings) == "failed"
    assert "unknown data set 'no-such-set'" in registry.get_job(job["id"])["error"]


def test_the_celery_worker_trains_an_enqueued_job(registry, settings, worker_process):
    from core.celery_app import create_celery
    from core.queues import enqueue_job

    job_id = submit(registry)
    enqueue_job(create_celery(settings), job_id)
    job = wait_for_registry_status(registry, job_id)
    assert job["status"] == "succeeded" and registry.get_model(job["model_id"]) is not None
