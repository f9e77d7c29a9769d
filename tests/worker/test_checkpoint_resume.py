"""A job resumes from its last complete checkpoint, whatever a kill during a later write left behind."""

from __future__ import annotations

from dataclasses import replace

from core.artifacts import save_checkpoint
from core.spec import JobSpec
from core.store import LocalStore
from core.store.keys import checkpoint_key
from models.data import load_builtin
from models.gan import GANConfig
from models.trainer import TrainConfig, Trainer
from tests.helpers import tiny_job
from worker.jobs import run_job


def test_a_kill_during_a_checkpoint_write_leaves_the_previous_one_to_resume_from(registry, settings):
    spec = JobSpec.model_validate(tiny_job(max_steps=12, checkpoint_every_steps=4)).model_dump()
    job, _ = registry.create_job(spec)
    store = LocalStore(settings.data_dir)
    path = store.path(checkpoint_key(job["id"]))
    # What a worker killed at step 10 leaves: the checkpoint of step 8, and a half-written temp file of the
    # next one beside it (writes go to a temp file that is renamed only when complete).
    images = load_builtin("digits", None).images
    gan = GANConfig(arch="dcgan", latent_dim=16, data_shape=(1, 28, 28), g_width=8, d_width=8)
    trainer = Trainer(gan, TrainConfig(epochs=1, max_steps=8, batch_size=32, checkpoint_every_steps=4))
    trainer.fit(images)
    save_checkpoint(store, job["id"], trainer.state_dict())
    trainer.config = replace(trainer.config, max_steps=12)
    trainer.fit(images)
    newer = path.with_name("newer")
    trainer.save_checkpoint(newer)
    partial = newer.read_bytes()[: newer.stat().st_size // 2]
    newer.unlink()
    (path.parent / f".{path.name}.kill9.tmp").write_bytes(partial)

    assert run_job(job["id"], registry, store, settings) == "succeeded"

    history = registry.events(job["id"])
    resumed = [e["data"]["step"] for e in history if e["event"] == "resumed"]
    assert resumed == [8]
    progress = [e["data"]["step"] for e in history if e["event"] == "progress"]
    assert progress and min(progress) > 8 and progress[-1] == 12
