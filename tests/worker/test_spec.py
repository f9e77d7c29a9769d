"""The job spec is made from the trainer's settings and the families' rows, so they cannot drift apart."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from core.family_table import families_table
from core.spec import JobSpec, ModelSpec, TrainSpec, compatibility_errors, gan_config, train_config
from models.config import TrainConfig
from models.gan import FAMILIES
from models.trainer import Trainer
from tests import toy_family

DOCS = Path(__file__).resolve().parents[2] / "docs" / "models.md"


def test_an_empty_job_spec_trains_with_the_trainers_own_defaults():
    assert train_config(JobSpec(dataset="digits")) == TrainConfig()


def test_every_setting_a_job_may_change_reaches_the_trainer():
    changed = {"epochs": 3, "batch_size": 64, "lr_g": 0.01, "ema": 0.99, "augment": ["color"], "optimizer": "sgd"}
    config = train_config(JobSpec(dataset="digits", train=changed, model={"loss": "hinge"}))
    assert (config.epochs, config.batch_size, config.lr_g, config.ema, config.augment, config.optimizer,
            config.loss) == (3, 64, 0.01, 0.99, ("color",), "sgd", "hinge")


@pytest.mark.parametrize("field,value", [("epochs", 0), ("batch_size", 1), ("ema", 1.0), ("augment", ["blur"])])
def test_the_trainers_bounds_are_the_apis(field, value):
    with pytest.raises(ValidationError, match=field):
        TrainSpec(**{field: value})


def test_a_whole_number_written_with_a_fraction_is_the_integer_but_no_other_loose_type_is():
    # JSON Schema counts 20.0 as an integer, and json.dumps writes a numpy float that way.
    spec = JobSpec.model_validate({"dataset": "digits", "model": {"latent_dim": 20.0}, "train": {"epochs": 3.0}})
    assert (spec.model.latent_dim, spec.train.epochs) == (20, 3) and isinstance(spec.train.epochs, int)
    assert JobSpec.model_validate({"dataset": "digits", "train": {"lr_g": 1}}).train.lr_g == 1.0
    for loose in (2.5, True, "3"):
        with pytest.raises(ValidationError, match="epochs"):
            JobSpec.model_validate({"dataset": "digits", "train": {"epochs": loose}})


def test_conditional_defaults_to_what_the_family_says():
    assert [ModelSpec(arch=name).is_conditional for name in ("cgan", "sngan", "dcgan")] == [True, False, False]


def test_a_data_kind_the_family_does_not_take_is_refused_naming_those_that_do():
    spec = JobSpec(dataset="ring8", model={"arch": "dcgan"})
    [error] = compatibility_errors(spec, "points", (2,), [f"mode{i}" for i in range(8)])
    head, takers = error.split("; families that do: ")
    assert head == "dcgan does not train on points"
    assert {"mlp", "cgan", "acgan", "infogan"} <= set(takers.split(", ")) and "dcgan" not in takers


def test_docs_table_of_families_is_made_from_the_rows():
    builtin = {name: family for name, family in FAMILIES.items() if name != toy_family.NAME}
    assert families_table(builtin) in DOCS.read_text(), "run `python -m core.family_table` and paste it"


def test_per_epoch_scoring_needs_something_cheap_to_score_with():
    scored = JobSpec(dataset="up_1", model={"arch": "dcgan"}, train={"eval_every_epochs": 1})
    assert any("no labels" in e for e in compatibility_errors(scored, "images", (1, 28, 28), []))
    assert compatibility_errors(scored, "images", (1, 28, 28), ["0", "1"]) == []
    points = JobSpec(dataset="up_2", train={"eval_every_epochs": 1})
    assert any("built-in mixtures" in e for e in compatibility_errors(points, "points", (2,), []))
    with pytest.raises(ValidationError, match="eval_every_epochs"):
        JobSpec(dataset="mnist", train={"keep_best": True})


def test_a_job_on_a_built_in_mixture_serves_its_best_epoch_unless_it_says_otherwise():
    default = JobSpec(dataset="grid25", model={"arch": "mlp"})
    assert (default.train.eval_every_epochs, default.train.keep_best) == (8, True)
    assert JobSpec.model_validate(default.model_dump()).train == default.train  # as the worker reads it back
    opted_out = JobSpec(dataset="ring8", model={"arch": "mlp"}, train={"eval_every_epochs": 0})
    assert (opted_out.train.eval_every_epochs, opted_out.train.keep_best) == (0, False)
    for other in ("mnist", "up_2"):  # images, and an uploaded point set, which nothing scores per epoch
        assert JobSpec(dataset=other).train.eval_every_epochs == 0


def test_an_ema_of_zero_turns_off_the_recipes_ema():
    def serves_an_ema(train: dict) -> bool:
        spec = JobSpec(dataset="grid25", model={"arch": "mlp"}, train=train)
        trainer = Trainer(gan_config(spec, (2,), ()), train_config(spec))
        return trainer.serving_generator() is not trainer.generator

    assert serves_an_ema({}) and not serves_an_ema({"ema": 0})  # the points recipe keeps an EMA of 0.99


def test_the_papers_settings_stay_one_field_away():
    digits = [str(i) for i in range(10)]
    for arch in ("dcgan", "wgan-gp", "infogan"):
        family = FAMILIES[arch]
        measured = JobSpec(dataset="mnist", model={"arch": arch})
        paper = JobSpec(dataset="mnist", model={"arch": arch, "recipe": "paper"})
        gan = gan_config(paper, (1, 28, 28), digits)
        train = train_config(paper).for_family(gan)
        assert (train.lr_g, train.lr_d, (train.beta1, train.beta2), train.d_steps) == \
            (family.lr_g, family.lr_d, family.betas, family.d_steps)
        assert (gan.g_width, train.batch_size, train.epochs, train.ema) == (64, 16, 5, None)
        assert gan_config(measured, (1, 28, 28), digits).g_width == family.recipes["images@28"]["g_width"]
