"""Runs one training job: everything the Celery task does, callable without Celery."""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import threading
import time
import traceback
from contextlib import nullcontext
from dataclasses import asdict

import torch
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.artifacts import load_checkpoint, publish_generator, save_checkpoint
from core.card import DatasetRef, ModelCard, augmenter_card, sampler_card, translator_card
from core.datasets import dataset_checksum, load_dataset
from core.ids import utcnow
from core.registry import JobLease, LeaseLost, Registry
from core.settings import Settings
from core.spec import JobSpec, gan_config, train_config
from core.store import ArtifactStore
from core.store.keys import checkpoint_key, metrics_key, sample_key
from models.data import ImageDataset, PointDataset, TwoDomainDataset, only_classes, shrunk_pairs
from models.device import resolve_device
from models.distributed import leave
from models.gan import GANConfig
from models.metrics.translation import translator_scores
from models.metrics.variations import variation_scores
from models.plots import picture
from models.sampling import png_bytes
from models.trainer import Callbacks, Progress, Trainer, TrainResult
from models.trainers import make_trainer
from worker.epoch_scores import EpochScorer
from worker.evaluation import POST_TRAINING, card_with, evaluate, run_evaluation
from worker.parallel import RankGroup, lead, rank_device, threads_per_rank
from worker.projection import run_projection
from worker.references import reference_classifier

log = logging.getLogger("ganforge.worker")
TrainData = ImageDataset | PointDataset | TwoDomainDataset


class TransientFailure(Exception):
    """A failure worth retrying later (lost connection, flaky storage); carries the original error, and the
    lease token the retry passes back so that it continues the same attempt."""

    def __init__(self, message: str, token: str | None = None):
        super().__init__(message)
        self.token = token


# Errors of the job itself (bad data, bad config) fail it at once; these are the environment's.
_PERMANENT_OS_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, (RedisConnectionError, RedisTimeoutError)):
        return True
    return isinstance(exc, OSError) and not isinstance(exc, _PERMANENT_OS_ERRORS)


class _Heartbeat(threading.Thread):
    """Renews the job's lease until stopped; records if the lease was lost to another worker."""

    def __init__(self, lease: JobLease, ttl_s: float):
        super().__init__(daemon=True, name=f"lease-{lease.job_id}")
        self.lease, self.ttl_s = lease, ttl_s
        self.stopped = threading.Event()
        self.lost = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.ttl_s / 3):
            try:
                if not self.lease.renew(self.ttl_s):
                    self.lost.set()
                    return
            except Exception:  # a Redis blip: try again next beat, the lease outlives a few misses
                log.warning("lease renewal failed for %s", self.lease.job_id, exc_info=True)


class _JobCallbacks(Callbacks):
    def __init__(self, lease: JobLease, store: ArtifactStore, settings: Settings, heartbeat: _Heartbeat,
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
            if self.lease.status() == "cancelling":
                self.stop_reason = "cancelled"
        return self.stop_reason is not None


def run_training_job(job_id: str, registry: Registry, store: ArtifactStore, settings: Settings,
                     worker: str | None = None, token: str | None = None) -> str:
    """Trains the job if no other worker holds it; returns the status it left the job in, or why it
    did not run it. Raises TransientFailure when it is worth trying again later; its token, given back
    here, continues the job under the lease it kept, without counting another attempt."""
    token = token or secrets.token_hex(16)
    worker = worker or f"{socket.gethostname()}:{os.getpid()}"
    try:
        outcome, attempt = registry.begin_job(job_id, token, settings.lease_ttl_s, worker, settings.max_attempts)
    except (RedisConnectionError, RedisTimeoutError) as exc:
        raise TransientFailure(f"{type(exc).__name__}: {exc}") from exc
    if outcome == "leased":
        log.info("job %s is leased by another worker; leaving it alone", job_id)
        registry.add_event(job_id, "log", {"message": f"a second delivery to {worker} left it alone: leased"})
        return "leased-elsewhere"
    if outcome != "running":
        log.info("job %s is %s; not training it", job_id, outcome)
        return outcome
    lease = registry.lease(job_id, token)
    heartbeat = _Heartbeat(lease, settings.lease_ttl_s)
    heartbeat.start()
    keep_lease = False
    try:
        job = registry.get_job(job_id)
        if job["spec"].get("kind") == "evaluation":
            return run_evaluation(job, lease, store, resolve_device(settings.device))
        if job["spec"].get("kind") == "projection":
            return run_projection(job, lease, store, resolve_device(settings.device))
        return _train(job, lease, store, settings, heartbeat)
    except LeaseLost:
        log.warning("job %s: lease lost to another worker; stopped without writing more", job_id)
        return "lease-lost"
    except Exception as exc:
        if is_transient(exc):
            log.warning("job %s: transient failure (attempt %d): %s", job_id, attempt, exc)
            _best_effort(_queue_for_retry, lease, f"{type(exc).__name__}: {exc}")
            keep_lease = True  # until it expires: the retry takes it up again with the same token
            raise TransientFailure(f"{type(exc).__name__}: {exc}", token) from exc
        log.exception("job %s failed", job_id)
        _best_effort(lease.set_status, "failed", error=f"{type(exc).__name__}: {exc}", finished_at=utcnow())
        _best_effort(lease.add_event, "log", {"traceback": traceback.format_exc(limit=5)})
        return "failed"
    finally:
        heartbeat.stopped.set()
        if not keep_lease:
            _best_effort(lease.release)


def _scored(card: ModelCard, generator, gan: GANConfig, dataset, store: ArtifactStore, lease: JobLease) -> ModelCard:
    """The card with the default evaluation's figures; a failure to score is noted, never the job's failure."""
    try:
        result = evaluate(generator, gan, card.classes, dataset, store, POST_TRAINING,
                          lambda phase: lease.add_event("evaluation", {"phase": phase}), post_training=True)
    except Exception as exc:  # noqa: BLE001  (the model is good; only its figures are missing)
        log.warning("job %s: default evaluation failed", card.job_id, exc_info=True)
        return card.model_copy(update={"metrics": {**card.metrics, "evaluation_error": f"{type(exc).__name__}: "
                                                                                         f"{exc}"}})
    lease.add_event("evaluation", {"phase": "done", "scores": result["scores"]})
    return card_with(card, result, None)


def _translator_scored(card: ModelCard, generator, dataset: TwoDomainDataset, lease: JobLease) -> ModelCard:
    """The card with the default figures of a translator (error to the target or the round trip, beside their
    trivial baselines); a failure to score is noted, never the job's failure."""
    try:
        scores = translator_scores(generator, dataset)
    except Exception as exc:  # noqa: BLE001
        log.warning("job %s: default evaluation failed", card.job_id, exc_info=True)
        return card.model_copy(update={"metrics": {**card.metrics, "evaluation_error": f"{type(exc).__name__}: "
                                                                                         f"{exc}"}})
    lease.add_event("evaluation", {"phase": "done", "scores": scores})
    return card.model_copy(update={"metrics": {**card.metrics, "scores": scores}})


def _augmenter_scored(card: ModelCard, generator, full: ImageDataset, trained_on: list[str] | None,
                      store: ArtifactStore, lease: JobLease) -> ModelCard:
    """The card with a variation model's default figures, on up to 500 images of the classes it did not train
    on (all of them when it trained on every class), read by the data set's reference classifier."""
    try:
        unseen = [name for name in full.classes if trained_on is not None and name not in trained_on]
        images = only_classes(full, unseen, relabel=False) if unseen else full
        pick = torch.linspace(0, len(images.images) - 1, min(500, len(images.images))).round().long()
        judge = reference_classifier(full, store).net if len(full.classes) >= 2 else None
        scores = variation_scores(generator, images.images[pick], images.labels[pick], card.latent_dim, judge)
    except Exception as exc:  # noqa: BLE001
        log.warning("job %s: default evaluation failed", card.job_id, exc_info=True)
        return card.model_copy(update={"metrics": {**card.metrics, "evaluation_error": f"{type(exc).__name__}: "
                                                                                         f"{exc}"}})
    scored_on = f"classes {', '.join(unseen)} (not trained on)" if unseen else "the training classes"
    lease.add_event("evaluation", {"phase": "done", "scores": scores})
    return card.model_copy(update={"metrics": {**card.metrics, "scores": scores, "scored_on": scored_on}})


def _queue_for_retry(lease: JobLease, error: str) -> None:
    """Back to queued, visibly, until Celery's retry runs it; a job being cancelled is cancelled instead."""
    if lease.status() == "cancelling":
        lease.set_status("cancelled", finished_at=utcnow())
    else:
        lease.update({"error": error, "enqueued_at": utcnow()}, "queued", "retrying", {"error": error})


def _best_effort(write, *args, **kwargs) -> None:
    try:
        write(*args, **kwargs)
    except Exception:  # the outcome is already decided; the reaper repairs what this could not write
        log.warning("could not record a job outcome", exc_info=True)


def prepare_training(job: dict, store: ArtifactStore, device: torch.device) -> tuple[TrainData, TrainData, Trainer]:
    """The data set a job trains on (and the whole one it was taken from) and its fresh trainer: what every rank
    of a job builds alike."""
    spec = JobSpec.model_validate(job["spec"])
    full = dataset = load_dataset(spec.dataset, store, spec.model.image_size, checksum=spec.dataset_checksum)
    if spec.classes is not None:
        dataset = only_classes(dataset, spec.classes)
    if spec.model.family.kind == "translator" and isinstance(dataset, ImageDataset):  # srgan on plain images
        dataset = shrunk_pairs(dataset, spec.model.scale or 2)
    gan = gan_config(spec, tuple(dataset.shape), dataset.classes, getattr(dataset, "source_shape", ()))
    return dataset, full, make_trainer(gan, train_config(spec), device)


def _train(job: dict, lease: JobLease, store: ArtifactStore, settings: Settings, heartbeat: _Heartbeat) -> str:
    spec = JobSpec.model_validate(job["spec"])
    world, wants = spec.train.devices, spec.resources.device
    # A CPU job trains on the CPU even on a worker that also takes CPU queues beside its GPUs.
    device = torch.device("cpu") if wants == "cpu" else resolve_device(settings.device)
    if world > 1:
        device = rank_device(device, 0, world, needs_gpu=wants == "gpu")
        if device.type == "cuda":
            torch.cuda.set_device(device)
        torch.set_num_threads(threads_per_rank(settings.torch_threads, world))
    dataset, full, trainer = prepare_training(job, store, device)
    group = RankGroup(job, world, device, settings.rank_timeout_s, torch.get_num_threads()) if world > 1 else None
    try:
        return _train_as_lead(job, lease, store, settings, heartbeat, dataset, full, trainer, group)
    finally:
        if group:
            leave()
            group.close()


def _train_as_lead(job: dict, lease: JobLease, store: ArtifactStore, settings: Settings, heartbeat: _Heartbeat,
                   dataset: TrainData, full: TrainData, trainer: Trainer, group: RankGroup | None) -> str:
    job_id, spec, gan, config = job["id"], JobSpec.model_validate(job["spec"]), trainer.gan, trainer.config
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
    if gan.family.kind == "translator":
        card = _translator_scored(card, generator.eval(), dataset, lease)
    elif gan.family.kind == "augmenter":
        card = _augmenter_scored(card, generator.eval(), full, spec.classes, store, lease)
    else:
        card = _scored(card, generator.eval(), gan, dataset, store, lease)
    publish_generator(store, generator.to("cpu").eval(), card.to_json())
    # Model and outcome in one fenced write: a stale worker's model is never registered.
    lease.set_status("succeeded", model=card, model_id=card.id, finished_at=utcnow())
    return "succeeded"


def _finish_stopped(job_id: str, trainer: Trainer, lease: JobLease, callbacks: _JobCallbacks) -> str:
    """Records why training stopped early, keeping the work done unless another worker owns the job."""
    if callbacks.stop_reason == "lease lost":  # another worker owns the job: write nothing, not even a checkpoint
        raise LeaseLost(f"job {job_id}: lease lost while training (at step {trainer.step})")
    callbacks.on_checkpoint(trainer)  # keep the work done, to resume or continue it later
    if callbacks.stop_reason == "cancelled":
        lease.set_status("cancelled", finished_at=utcnow(), stopped_at_step=trainer.step)
        return "cancelled"
    lease.set_status("failed", error=callbacks.stop_reason, finished_at=utcnow())
    return "failed"


def model_card(job_id: str, spec: JobSpec, dataset: ImageDataset | PointDataset | TwoDomainDataset,
               store: ArtifactStore, trainer: Trainer, result: TrainResult, seconds: float,
               best: dict | None = None) -> ModelCard:
    """What a trained model is and how it was made: enough to rebuild and serve its generator. `best`: the
    epoch served instead of the last one (keep_best), with its per-epoch scores."""
    make_card = {"translator": translator_card, "augmenter": augmenter_card}.get(trainer.gan.family.kind,
                                                                               sampler_card)
    return make_card(
        trainer.gan, dataset.classes, job_id=job_id,
        dataset=DatasetRef(id=spec.dataset, checksum=spec.dataset_checksum or dataset_checksum(spec.dataset, store),
                           count=len(dataset.data)),
        training={**spec.model.model_dump(), "resolved": asdict(trainer.config), "precision": trainer.precision,
                  "device": str(trainer.device), "devices": trainer.ranks.world if trainer.ranks else 1},
        metrics={"steps": result.steps, "seconds": round(seconds, 3),
                 "final": result.history[-1] if result.history else None,
                 **({"served_epoch": best} if best else {})},
        lineage={"job_id": job_id, "checkpoint": checkpoint_key(job_id)})
