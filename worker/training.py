"""Runs one training job: everything the Celery task does, callable without Celery."""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
import traceback
from dataclasses import asdict

import torch

from models.checkpoint import save_generator
from models.data import ImageDataset, PointDataset
from models.gan import GANConfig
from models.plots import picture
from models.sampling import png_bytes
from models.trainer import Callbacks, Progress, TrainConfig, Trainer
from worker.datasets import dataset_checksum, load_dataset
from worker.ids import new_id
from worker.registry import TERMINAL, Registry, utcnow
from worker.settings import Settings
from worker.spec import JobSpec
from worker.store import ArtifactStore

log = logging.getLogger("ganforge.worker")


class _Heartbeat(threading.Thread):
    """Renews the job's lease until stopped; records if the lease was lost to another worker."""

    def __init__(self, registry: Registry, job_id: str, token: str, ttl_s: float):
        super().__init__(daemon=True, name=f"lease-{job_id}")
        self.registry, self.job_id, self.token, self.ttl_s = registry, job_id, token, ttl_s
        self.stopped = threading.Event()
        self.lost = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.ttl_s / 3):
            try:
                if not self.registry.renew_lease(self.job_id, self.token, self.ttl_s):
                    self.lost.set()
                    return
            except Exception:  # a Redis blip: try again next beat, the lease outlives a few misses
                log.warning("lease renewal failed for %s", self.job_id, exc_info=True)


class _JobCallbacks(Callbacks):
    def __init__(self, job_id: str, registry: Registry, store: ArtifactStore, settings: Settings,
                 heartbeat: _Heartbeat, started: float):
        self.job_id, self.registry, self.store, self.settings = job_id, registry, store, settings
        self.heartbeat, self.started = heartbeat, started
        self.last_write = 0.0
        self.stop_reason: str | None = None

    def on_progress(self, progress: Progress) -> None:
        now = time.monotonic()
        if now - self.last_write >= self.settings.progress_interval_s or progress.step == progress.total_steps:
            self.registry.record_progress(self.job_id, progress.to_dict())
            self.last_write = now

    def on_epoch_end(self, metrics: Progress) -> None:
        self.store.append_line(self.store.metrics_path(self.job_id), json.dumps(metrics.to_dict()))
        self.registry.add_event(self.job_id, "metrics", metrics.to_dict())

    def on_samples(self, epoch: int, samples: torch.Tensor) -> None:
        self.store.write_bytes(self.store.sample_path(self.job_id, epoch), png_bytes(picture(samples)))
        self.registry.add_event(self.job_id, "samples", {"epoch": epoch})

    def on_checkpoint(self, trainer: Trainer) -> None:
        trainer.save_checkpoint(self.store.checkpoint_path(self.job_id))
        self.registry.add_event(self.job_id, "checkpoint", {"step": trainer.step})

    def should_stop(self) -> bool:
        if self.heartbeat.lost.is_set():
            self.stop_reason = "lease lost"
        elif time.monotonic() - self.started > self.settings.job_time_limit_s:
            self.stop_reason = f"time limit of {self.settings.job_time_limit_s} s exceeded"
        return self.stop_reason is not None


def gan_config(spec: JobSpec, dataset: ImageDataset | PointDataset) -> GANConfig:
    model = spec.model
    codes = model.resolved_codes
    return GANConfig(
        arch=model.arch,
        latent_dim=model.latent_dim or (100 if isinstance(dataset, ImageDataset) else 2),
        data_shape=tuple(dataset.shape),
        g_width=model.g_width,
        d_width=model.d_width,
        hidden=model.hidden,
        depth=model.depth,
        num_classes=len(dataset.classes) if model.is_conditional else 0,
        cat_codes=codes.categorical,
        cont_codes=codes.continuous,
    )


def model_inputs(gan: GANConfig, classes) -> dict:
    """What a client may pass to generate from this model (served by GET /v1/models)."""
    return {
        "latent_dim": gan.latent_dim,
        "labels": list(classes) if gan.conditions_generator else None,
        "codes": {"categorical": gan.cat_codes, "continuous": gan.cont_codes} if gan.cat_codes + gan.cont_codes
        else None,
    }


def resolve_device(setting: str) -> torch.device:
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(setting)


def run_training_job(job_id: str, registry: Registry, store: ArtifactStore, settings: Settings) -> str:
    """Trains the job if no other worker holds it; returns the status it left the job in."""
    job = registry.get_job(job_id)
    if job is None:
        log.warning("job %s does not exist; dropping the task", job_id)
        return "missing"
    if job["status"] in TERMINAL:
        return job["status"]
    token = secrets.token_hex(16)
    if not registry.acquire_lease(job_id, token, settings.lease_ttl_s):
        log.info("job %s is leased by another worker; leaving it alone", job_id)
        return "leased-elsewhere"
    heartbeat = _Heartbeat(registry, job_id, token, settings.lease_ttl_s)
    heartbeat.start()
    try:
        return _train(job, registry, store, settings, heartbeat)
    except Exception as exc:
        log.exception("job %s failed", job_id)
        registry.set_status(job_id, "failed", error=f"{type(exc).__name__}: {exc}", finished_at=utcnow())
        registry.add_event(job_id, "log", {"traceback": traceback.format_exc(limit=5)})
        return "failed"
    finally:
        heartbeat.stopped.set()
        registry.release_lease(job_id, token)


def _train(job: dict, registry: Registry, store: ArtifactStore, settings: Settings, heartbeat: _Heartbeat) -> str:
    job_id = job["id"]
    spec = JobSpec.model_validate(job["spec"])
    registry.set_status(job_id, "running", started_at=job.get("started_at") or utcnow(), error=None)
    dataset = load_dataset(spec.dataset, store, spec.model.image_size, checksum=spec.dataset_checksum)
    gan = gan_config(spec, dataset)
    config = TrainConfig(**{**spec.train.model_dump(), "augment": tuple(spec.train.augment), "loss": spec.model.loss})
    device = resolve_device(settings.device)
    trainer = Trainer(gan, config, device)
    checkpoint = store.checkpoint_path(job_id)
    if checkpoint.exists():
        trainer.load_checkpoint(checkpoint)
        registry.add_event(job_id, "log", {"message": f"resumed from step {trainer.step}"})

    callbacks = _JobCallbacks(job_id, registry, store, settings, heartbeat, time.monotonic())
    started = time.perf_counter()
    labels = dataset.labels if gan.conditions_generator else None
    result = trainer.fit(dataset.data, labels, callbacks)
    if result.stopped:
        trainer.save_checkpoint(checkpoint)
        if callbacks.stop_reason == "lease lost":
            return "lease-lost"  # another worker owns the job now; write nothing more
        registry.set_status(job_id, "failed", error=callbacks.stop_reason, finished_at=utcnow())
        return "failed"

    trainer.save_checkpoint(checkpoint)  # the full training state, to continue training later
    model_id = new_id("model")
    card = {
        "id": model_id,
        "job_id": job_id,
        "created_at": utcnow(),
        "arch": gan.arch,
        "reference": gan.family.reference,
        "config": gan.to_dict(),
        "latent_dim": gan.latent_dim,
        "kind": "images" if gan.is_image else "points",
        "image_shape": list(gan.data_shape),
        "classes": list(dataset.classes),
        "inputs": model_inputs(gan, dataset.classes),
        "dataset": {"id": spec.dataset, "checksum": spec.dataset_checksum or dataset_checksum(spec.dataset, store),
                    "count": int(dataset.data.shape[0])},
        "training": {**spec.model_dump(), "resolved": asdict(trainer.config)},
        "metrics": {"steps": result.steps, "seconds": round(time.perf_counter() - started, 3),
                    "final": result.history[-1] if result.history else None},
        "lineage": {"job_id": job_id, "checkpoint": str(checkpoint.relative_to(store.root))},
    }
    generator = trainer.serving_generator().to("cpu").eval()
    save_generator(generator, card, store.model_dir(model_id))
    registry.register_model(card)
    registry.set_status(job_id, "succeeded", model_id=model_id, finished_at=utcnow())
    return "succeeded"
