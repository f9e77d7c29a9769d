"""What a wgan-gp job gets: the 28 px recipe measured for the service's budget, the paper's settings on other sizes
and, by name, on 28 px."""

from core.spec import JobSpec, gan_config, train_config
from models.families.wgan_gp import WGAN_GP_28
from models.family import FAMILIES

PAPER = {"d_steps": 5, "lr_g": 1e-4, "lr_d": 1e-4, "beta1": 0.0, "beta2": 0.9}  # Gulrajani et al. 2017, Algorithm 1


def resolved(train: dict, size: int = 28, model: dict | None = None) -> dict:
    spec = JobSpec(dataset="mnist", model={"arch": "wgan-gp", "image_size": size, **(model or {})}, train=train)
    gan = gan_config(spec, (1, size, size), [])
    config = train_config(spec).for_family(gan)
    return {"g_width": gan.g_width, "d_width": gan.d_width, "loss": config.loss, "gp_weight": config.gp_weight,
            **{name: getattr(config, name) for name in (*PAPER, "batch_size", "ema", "epochs")}}


def test_a_wgan_gp_job_on_28_px_images_trains_with_the_28_px_recipe():
    settings = resolved({})
    assert {name: settings[name] for name in WGAN_GP_28} == WGAN_GP_28
    assert (settings["loss"], settings["gp_weight"]) == ("wasserstein-gp", 10.0)  # still WGAN-GP, λ 10


def test_the_recipe_departs_from_the_paper_in_critic_steps_and_learning_rates_only_where_measured():
    assert (WGAN_GP_28["d_steps"], WGAN_GP_28["lr_g"], WGAN_GP_28["lr_d"]) == (1, 1e-3, 1e-3)
    assert "beta1" not in WGAN_GP_28 and "beta2" not in WGAN_GP_28  # the paper's (0, 0.9) stay


def test_the_family_row_keeps_the_papers_settings_and_larger_images_train_with_them():
    family = FAMILIES["wgan-gp"]
    assert (family.d_steps, family.lr_g, family.lr_d, family.betas) == (5, 1e-4, 1e-4, (0.0, 0.9))
    for size in (32, 64):
        settings = resolved({}, size)
        assert {name: settings[name] for name in PAPER} == PAPER
        assert (settings["g_width"], settings["batch_size"], settings["ema"]) == (64, 16, None)


def test_the_paper_recipe_gives_a_28_px_job_the_papers_critic_steps_optimiser_and_nets():
    settings = resolved({}, model={"recipe": "paper"})
    assert {name: settings[name] for name in PAPER} == PAPER
    assert (settings["g_width"], settings["d_width"], settings["batch_size"], settings["epochs"], settings["ema"]) == \
        (64, 64, 16, 5, None)
