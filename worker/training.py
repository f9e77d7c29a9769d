"""Runs a training job: its data and trainer, the callbacks that report to the registry and the store, then the
model's card (made by its kind), its default scores (the kind's scorer) and its publication."""

from __future__ import annotations

import json
import logging
import os
import time
from contextlib import nullcontext
from dataclasses import asdict

import torch

from core.artifacts import load_checkpoint, publish_generator, save_checkpoint
from core.card import DatasetRef, ModelCard
from core.datasets import dataset_checksum
from core.ids import utcnow
from core.kinds import family_kind, load
from core.registry import JobLease, LeaseLost
from core.settings import Settings
from core.spec import JobSpec
from core.states import JobStatus
from core.store import ArtifactStore
from core.store.keys import checkpoint_key, metrics_key, sample_key
from models.device import resolve_device
from models.distributed import leave
from models.plots import picture
from models.sampling import png_bytes
from models.trainer import Callbacks, Progress, Trainer, TrainResult
from worker.epoch_scores import EpochScorer
from worker.job_setup import TrainData, prepare_training
from worker.lease_heartbeat import LeaseHeartbeat
from worker.parallel import RankGroup, lead, rank_device, threads_per_rank
from worker.scoring import Trained

log = logging.getLogger("ganforge.worker")


class _JobCallbacks(Callbacks):
    def __init__(self, lease: JobLease, store: ArtifactStore, settings: Settings, heartbeat: LeaseHeartbeat,
                 started: float, time_limit_s: float, trainer: Trainer, scorer: EpochScorer | None):
        self.job_id, self.lease, self.store, self.settings = lease.job_id, lease, store, settings
        self.heartbeat, self.started, self.time_limit_s = heartbeat, started, time_limit_s
        self.trainer, self.scorer = trainer, scorer
        self.last_write = self.last_cancel_check = 0.0
        self.stop_reason: str | None = None

    def on_progress(self, progress: Progress) -> None:
        now = time.monotonic()
        if now - self.last_write >= self.settings.progress_interval_s or progress.step == progress.total_steps:
            self.lease.record_progress(progress.to_dict())
            self.last_write = now

    def on_epoch_end(self, metrics: Progress) -> None:
        row = metrics.to_dict()
        if self.scorer and self.scorer.due(metrics.epoch, metrics.epochs):
            scored = self.scorer.score(metrics.epoch, self.trainer.serving_generator())
            self.lease.add_event("evaluation", {"phase": "epoch", **scored})
            row["scores"] = scored["scores"]
        self.store.append_line(metrics_key(self.job_id), json.dumps(row))
        self.lease.add_event("metrics", row)

    def on_samples(self, epoch: int, samples: torch.Tensor) -> None:
        self.store.put_bytes(sample_key(self.job_id, epoch), png_bytes(picture(samples)))
        self.lease.add_event("samples", {"epoch": epoch})

    def on_checkpoint(self, trainer: Trainer) -> None:
        # The store cannot check a token, so look before writing: a worker that lost its lease must not
        # replace the new owner's checkpoint (the window left is one write long).
        if not self.lease.holds():
            raise LeaseLost(f"job {self.job_id}: lease lost before writing a checkpoint")
        save_checkpoint(self.store, self.job_id, trainer.state_dict())
        self.lease.add_event("checkpoint", {"step": trainer.step})

    def should_stop(self) -> bool:
        now = time.monotonic()
        if self.heartbeat.lost.is_set():
            self.stop_reason = "lease lost"
        elif now - self.started > self.time_limit_s:
            self.stop_reason = f"time limit of {self.time_limit_s:g} s exceeded; raise train.time_limit_s " \
                               f"(at most the server's job_time_limit_s, {self.settings.job_time_limit_s} s)"
        elif now - self.last_cancel_check >= self.settings.cancel_check_interval_s:
            # Cooperative cancel: a flag in Redis read between steps (field notes: never revoke+terminate).
            self.last_cancel_check = now
            if self.lease.status() == JobStatus.CANCELLING:
                self.stop_reason = JobStatus.CANCELLED
        return self.stop_reason is not None


def run_training(job: dict, lease: JobLease, store: ArtifactStore, settings: Settings,
                 heartbeat: LeaseHeartbeat) -> str:
    spec = JobSpec.model_validate(job["spec"])  # the one parse of the job's spec; everything below is handed it
    world, wants = spec.train.devices, spec.resources.device
    # A CPU job trains on the CPU even on a worker that also takes CPU queues beside its GPUs.
    device = torch.device("cpu") if wants == "cpu" else resolve_device(settings.device)
    if world > 1:
        device = rank_device(device, 0, world, needs_gpu=wants == "gpu")
        if device.type == "cuda":
            torch.cuda.set_device(device)
        torch.set_num_threads(threads_per_rank(settings.torch_threads, world))
    dataset, full, trainer = prepare_training(spec, store, device)
    group = RankGroup(job, world, device, settings.rank_timeout_s, torch.get_num_threads()) if world > 1 else None
    try:
        return _train_as_lead(job["id"], spec, lease, store, settings, heartbeat, dataset, full, trainer, group)
    finally:
        if group:
            leave()
            group.close()


def _train_as_lead(job_id: str, spec: JobSpec, lease: JobLease, store: ArtifactStore, settings: Settings,
                   heartbeat: LeaseHeartbeat, dataset: TrainData, full: TrainData, trainer: Trainer,
                   group: RankGroup | None) -> str:
    gan, config = trainer.gan, trainer.config
    told = group.failures_told if group else nullcontext  # what a failure in the group means for the job
    if group:
        with told():
            group.wait_ready(settings.rank_timeout_s)
            trainer.distribute(lead(group, trainer.device, settings.rank_timeout_s))
        lease.add_event("log", {"message": f"training on {group.world} devices ({trainer.device.type}): rank 0 "
                                           f"is this process, ranks 1-{group.world - 1} are pids {group.pids}",
                                "ranks": [os.getpid(), *group.pids]})
    saved = load_checkpoint(store, job_id)
    if saved is not None:
        trainer.load_state_dict(saved)
        lease.add_event("resumed", {"step": trainer.step, "message": f"resumed from step {trainer.step}"})
    if group:
        with told():
            trainer.share_state()

    time_limit_s = min(spec.train.time_limit_s or settings.job_time_limit_s, settings.job_time_limit_s)
    scorer = EpochScorer(gan, dataset, store, job_id, config.eval_every_epochs, config.keep_best) \
        if config.eval_every_epochs else None
    callbacks = _JobCallbacks(lease, store, settings, heartbeat, time.monotonic(), time_limit_s, trainer, scorer)
    started = time.perf_counter()
    labels = dataset.labels if trainer.needs_labels else None
    with told():
        result = trainer.fit(dataset.data, labels, callbacks)
    if result.stopped:
        return _finish_stopped(job_id, trainer, lease, callbacks)

    if not lease.holds():
        raise LeaseLost(f"job {job_id}: lease lost before the final checkpoint")
    save_checkpoint(store, job_id, trainer.state_dict())  # the full training state, to continue training later
    generator, best = scorer.best_generator(trainer.serving_generator()) if scorer else \
        (trainer.serving_generator(), None)
    card = model_card(job_id, spec, dataset, store, trainer, result, time.perf_counter() - started, best)
    trained = Trained(dataset, full, spec.classes, store, lambda phase: lease.add_event("evaluation", {"phase": phase}))
    card = _scored(card, generator.eval(), trained, lease)
    publish_generator(store, generator.to("cpu").eval(), card.to_json())
    # Model and outcome in one fenced write: a stale worker's model is never registered.
    lease.set_status(JobStatus.SUCCEEDED, model=card, model_id=card.id, finished_at=utcnow())
    return JobStatus.SUCCEEDED


def _scored(card: ModelCard, generator: torch.nn.Module, trained: Trained, lease: JobLease) -> ModelCard:
    """The card with its kind's default figures; a failure to score is noted, never the job's failure."""
    try:
        scored = load(family_kind(card.arch).scorer)(card, generator, trained)
    except Exception as exc:  # noqa: BLE001  (the model is good; only its figures are missing)
        log.warning("job %s: default evaluation failed", card.job_id, exc_info=True)
        return card.model_copy(update={"metrics": {**card.metrics, "evaluation_error": f"{type(exc).__name__}: "
                                                                                         f"{exc}"}})
    lease.add_event("evaluation", {"phase": "done", "scores": scored.metrics.get("scores", {})})
    return scored


def _finish_stopped(job_id: str, trainer: Trainer, lease: JobLease, callbacks: _JobCallbacks) -> str:
    """Records why training stopped early, keeping the work done unless another worker owns the job."""
    if callbacks.stop_reason == "lease lost":  # another worker owns the job: write nothing, not even a checkpoint
        raise LeaseLost(f"job {job_id}: lease lost while training (at step {trainer.step})")
    callbacks.on_checkpoint(trainer)  # keep the work done, to resume or continue it later
    if callbacks.stop_reason == JobStatus.CANCELLED:
        lease.set_status(JobStatus.CANCELLED, finished_at=utcnow(), stopped_at_step=trainer.step)
        return JobStatus.CANCELLED
    lease.set_status(JobStatus.FAILED, error=callbacks.stop_reason, finished_at=utcnow())
    return JobStatus.FAILED


def model_card(job_id: str, spec: JobSpec, dataset: TrainData, store: ArtifactStore, trainer: Trainer,
               result: TrainResult, seconds: float, best: dict | None = None) -> ModelCard:
    """What a trained model is and how it was made: enough to rebuild and serve its generator. `best`: the
    epoch served instead of the last one (keep_best), with its per-epoch scores."""
    return family_kind(trainer.gan.arch).card(
        trainer.gan, dataset.classes, job_id=job_id,
        dataset=DatasetRef(id=spec.dataset, checksum=spec.dataset_checksum or dataset_checksum(spec.dataset, store),
                           count=len(dataset.data), held_out=spec.hold_out),
        training={**spec.model.model_dump(), "resolved": asdict(trainer.config), "precision": trainer.precision,
                  "precision_reason": trainer.precision_reason, "channels_last": trainer.memory_format is not None,
                  "device": str(trainer.device), "devices": trainer.ranks.world if trainer.ranks else 1},
        metrics={"steps": result.steps, "seconds": round(seconds, 3),
                 "final": result.history[-1] if result.history else None,
                 **({"served_epoch": best} if best else {})},
        lineage={"job_id": job_id, "checkpoint": checkpoint_key(job_id)})
