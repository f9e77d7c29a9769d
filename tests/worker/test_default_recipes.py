"""What a job with nothing but `model.arch` trains: the recipe a user gets by default, scored as the job scores it."""

from core.ids import new_id
from core.spec import JobSpec, gan_config, train_config
from core.store import LocalStore
from models.data import load_builtin
from models.trainer import Trainer
from worker.epoch_scores import EpochScorer, ScoreEpochs
from worker.evaluation import mixture_rows


def test_the_default_mlp_job_on_grid25_captures_every_mode_with_high_quality_samples(tmp_path):
    """The 2-D points recipe for mlp and a built-in mixture's best-epoch default, as the worker runs them
    (PacGAN's protocol, 2,500 samples; target: 25/25 modes, >= 90 % within 3 std). A G that falls between the
    modes, as the papers' defaults did (2 % high quality), or that drops a mode, fails."""
    spec = JobSpec(dataset="grid25", model={"arch": "mlp"})
    data = load_builtin("grid25")
    gan, config = gan_config(spec, tuple(data.shape), data.classes), train_config(spec)
    assert config.eval_every_epochs and config.keep_best  # the mixture's default, set at submit
    trainer = Trainer(gan, config)
    scorer = EpochScorer(gan, data, LocalStore(tmp_path), new_id("job"), config.eval_every_epochs, True)
    trainer.fit(data.points, callbacks=ScoreEpochs(trainer, scorer))
    served, _ = scorer.best_generator(trainer.serving_generator())
    rows = {row["metric"]: row["value"] for row in mixture_rows(served.eval(), gan, "grid25", 0)}
    assert rows["modes"] == 25 and rows["high_quality"] >= 0.9, rows
