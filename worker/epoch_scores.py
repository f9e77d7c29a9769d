"""Per-epoch evaluation: a cheap score every few epochs, written on the training curve, and (when the job
asks) the generator of the best-scoring epoch kept aside to be served instead of the last one.

GAN losses say little about sample quality, and a late epoch can be worse than an earlier one (a collapse,
an oscillation): the score is what the choice rests on, never the losses."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable

from torch import nn

from core.spec import EvaluationSpec
from core.store import ArtifactStore
from core.store.keys import best_generator_key
from models.checkpoint import tensors_from_bytes, tensors_to_bytes
from models.data import ImageDataset, PointDataset
from models.gan import GANConfig
from models.toy2d import MIXTURES
from models.trainer import Callbacks, Progress, Trainer
from worker.evaluation import evaluate

log = logging.getLogger("ganforge.worker")

EPOCH_SAMPLES = 500  # a subset: the score costs about a second per epoch for 28 px digits on a CPU
# Not the seed of the card's final score (0): the epoch is picked on other samples than those that report on it.
EPOCH_SEED = 1


class EpochScorer:
    """Scores the serving generator after every `every` epochs; keeps the best one's weights in the store (so a
    resumed job still knows it) when `keep_best`."""

    def __init__(self, gan: GANConfig, dataset: ImageDataset | PointDataset, store: ArtifactStore, job_id: str,
                 every: int, keep_best: bool):
        self.gan, self.dataset, self.store, self.every, self.keep_best = gan, dataset, store, every, keep_best
        self.best_key = best_generator_key(job_id)
        self.points = gan.data_kind == "points"
        self.criterion = "share of modes held + high_quality" if self.points else "fid_classifier (lower is better)"
        self.modes = len(MIXTURES[dataset.name]().means) if self.points else 0
        self.spec = EvaluationSpec(metrics=["mixture"] if self.points else ["domain", "fid"],
                                   samples=EPOCH_SAMPLES, seed=EPOCH_SEED)
        kept = store.try_get_bytes(self.best_key) if keep_best else None
        self.best: dict | None = tensors_from_bytes(kept)[1] if kept is not None else None

    def due(self, epoch: int, epochs: int) -> bool:
        """Every `every` epochs, and the last one: the generator a job would otherwise serve is always scored."""
        return epoch % self.every == 0 or epoch == epochs

    def rank(self, scores: dict[str, float]) -> float:
        """Higher is better. Mixtures: the share of modes held plus the share of high-quality samples, so one
        mode of grid25 (4 %) weighs as much as 4 % of the samples. Ranking by modes first served mlp's epoch 120
        on grid25 (seed 0; 83.5 % high quality) over later epochs whose draw missed one mode. Counting a mode
        with a single high-quality sample (`modes`) picked epochs whose capture the card's own draw did not
        repeat (mlp on grid25 scored every 4 epochs, seed 0: 23/25 served); held modes are the ones it repeats."""
        if self.points:
            return scores["modes_held"] / self.modes + scores["high_quality"]
        return -scores["fid_classifier"]

    def score(self, epoch: int, generator: nn.Module, on_phase: Callable[[str], None] = lambda _: None) -> dict:
        """This epoch's scores; with keep_best, the generator is kept if it beats the best so far."""
        was_training = generator.training
        generator.eval()
        try:
            result = evaluate(generator, self.gan, self.dataset.classes, self.dataset, self.store, self.spec, on_phase)
        finally:
            generator.train(was_training)
        scores = result["scores"]
        if self.keep_best and (self.best is None or self.rank(scores) > self.best["rank"]):
            self.best = {"epoch": epoch, "rank": self.rank(scores), "scores": scores, "criterion": self.criterion}
            self.store.put_bytes(self.best_key, tensors_to_bytes(generator.state_dict(), self.best))
        return {"epoch": epoch, "scores": scores, "seconds": result["seconds"],
                **({"best_epoch": self.best["epoch"]} if self.best else {})}

    def best_generator(self, last: nn.Module) -> tuple[nn.Module, dict | None]:
        """The generator to serve: the best epoch's weights in a copy of `last`, or `last` itself."""
        if not self.keep_best or self.best is None:
            return last, None
        tensors, meta = tensors_from_bytes(self.store.get_bytes(self.best_key))
        best = copy.deepcopy(last)
        best.load_state_dict(tensors, strict=True)
        log.info("serving the generator of epoch %s (%s)", meta["epoch"], self.criterion)
        return best, {k: meta[k] for k in ("epoch", "scores", "criterion")}


class ScoreEpochs(Callbacks):
    """Only the scoring of a job's callbacks, for runs outside a job (benchmarks, tests) that should pick the
    served epoch as a job does."""

    def __init__(self, trainer: Trainer, scorer: EpochScorer):
        self.trainer, self.scorer = trainer, scorer

    def on_epoch_end(self, metrics: Progress) -> None:
        if self.scorer.due(metrics.epoch, metrics.epochs):
            self.scorer.score(metrics.epoch, self.trainer.serving_generator())
