"""ProGAN: nets that grow by levels and fade each new one in, a schedule that is a function of the step, exact
resume across phase boundaries, a generator export that renders the stage training reached, and learning."""

import pytest
import torch
import torch.nn.functional as F

from core.spec import JobSpec, gan_config, train_config
from models.checkpoint import load_generator, save_generator
from models.config import TrainConfig
from models.data import load_builtin, resize, to_model_range
from models.gan import GANConfig, build_discriminator, build_generator
from models.nets.progan import downsample, widths
from models.progan import Growth
from models.sampling import generate, latents_for_seed
from models.trainer import make_trainer
from tests.helpers import StopAt, straight_and_resumed
from tests.models.test_trainer_state import assert_same_state


def progan(size: int, channels: int = 1, width: int = 8) -> GANConfig:
    return GANConfig(arch="progan", latent_dim=20, data_shape=(channels, size, size), g_width=width, d_width=width)


@pytest.fixture(scope="module")
def digits():
    return load_builtin("digits").images[:512]


@pytest.mark.parametrize("size", [4, 8, 16, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_every_level_makes_full_size_images_and_judges_both_sizes(size, channels):
    config = progan(size, channels, width=4)
    generator, critic = build_generator(config), build_discriminator(config)
    z = torch.randn(5, 20)
    for level in range(generator.levels):
        for alpha in (0.0, 0.5, 1.0):
            generator.set_stage(level, alpha)
            critic.set_stage(level, alpha)
            current = 4 * 2**level
            images = generator(z)
            assert images.shape == (5, channels, size, size)
            assert images.min() >= -1 and images.max() <= 1
            native = generator(z, full_size=False)
            assert native.shape == (5, channels, current, current)
            assert critic(images).logit.shape == critic(native).logit.shape == (5,)


def test_widths_double_per_level_down_to_eight_times_the_full_resolutions():
    assert widths(256, 64) == [512, 512, 512, 512, 256, 128, 64]  # the paper's layout at 256 px
    assert widths(32, 16) == [128, 64, 32, 16]
    with pytest.raises(ValueError, match="power of two from 4 to 256"):
        widths(28, 8)


def test_a_new_level_fades_in_from_where_the_previous_one_left_off():
    torch.manual_seed(0)
    config = progan(32)
    generator, critic = build_generator(config), build_discriminator(config)
    z, images = torch.randn(8, 20), torch.rand(8, 1, 32, 32) * 2 - 1
    for level in (1, 2, 3):
        generator.set_stage(level - 1, 1.0)
        critic.set_stage(level - 1, 1.0)
        before = generator(z, full_size=False)
        before_score = critic(downsample(images, 2 * 2**level)).logit
        generator.set_stage(level, 0.0)
        critic.set_stage(level, 0.0)
        assert torch.equal(generator(z, full_size=False), F.interpolate(before, scale_factor=2, mode="nearest"))
        assert torch.allclose(critic(downsample(images, 4 * 2**level)).logit, before_score, atol=1e-6)
        generator.set_stage(level, 1e-4)
        assert torch.allclose(generator(z, full_size=False), F.interpolate(before, scale_factor=2), atol=1e-3)


def test_at_alpha_one_the_previous_levels_rgb_layers_play_no_part():
    torch.manual_seed(0)
    config = progan(16)
    generator, critic = build_generator(config), build_discriminator(config)
    z, images = torch.randn(8, 20), torch.rand(8, 1, 16, 16) * 2 - 1

    def outputs(alpha):
        generator.set_stage(2, alpha)
        critic.set_stage(2, alpha)
        return generator(z), critic(images).logit

    with torch.no_grad():
        settled, halfway = outputs(1.0), outputs(0.5)
        generator.to_rgb[1].weight.add_(1.0)
        critic.from_rgb[1].weight.add_(1.0)
        assert all(torch.equal(a, b) for a, b in zip(outputs(1.0), settled, strict=True))
        assert not any(torch.equal(a, b) for a, b in zip(outputs(0.5), halfway, strict=True))


def test_the_schedule_grows_a_level_per_two_phases_and_stays_at_the_top():
    growth = Growth.for_job(levels=3, phase_images=100, total_steps=1000, images_per_step=10)
    stages = {step: growth.stage(step) for step in (0, 9, 10, 15, 19, 20, 29, 30, 35, 40, 49, 999)}
    assert stages == {0: (0, 1.0), 9: (0, 1.0), 10: (1, 0.0), 15: (1, 0.5), 19: (1, 0.9), 20: (1, 1.0),
                      29: (1, 1.0), 30: (2, 0.0), 35: (2, 0.5), 40: (2, 1.0), 49: (2, 1.0), 999: (2, 1.0)}


def test_by_default_the_phases_share_the_job_and_it_ends_stable_at_full_resolution():
    growth = Growth.for_job(levels=4, phase_images=None, total_steps=70, images_per_step=32)
    phases = [growth.phase(step) for step in range(70)]
    assert phases == [phase for phase in range(7) for _ in range(10)]  # 4x4 stable, then fade and stable per level
    assert growth.stage(59) == (3, 0.9) and growth.stage(60) == growth.stage(69) == (3, 1.0)


def test_a_final_share_gives_the_last_phase_that_share_and_splits_the_rest_evenly():
    growth = Growth.for_job(levels=4, phase_images=None, total_steps=120, images_per_step=10, final_share=0.5)
    phases = [growth.phase(step) for step in range(120)]
    assert phases == [phase for phase in range(6) for _ in range(10)] + [6] * 60
    assert growth.stage(55) == (3, 0.5) and growth.stage(60) == (3, 1.0)
    # Phases given in images outrank the share; a 4x4 job has a single phase either way.
    assert Growth.for_job(4, 100, 120, 10, final_share=0.5).phase_images == 100
    only = Growth.for_job(levels=1, phase_images=None, total_steps=50, images_per_step=10, final_share=0.5)
    assert {only.stage(step) for step in range(50)} == {(0, 1.0)}


@pytest.mark.parametrize("size,model,loss,epochs,ema,final_steps", [
    (32, {}, "non-saturating", 34, 0.999, 14), (32, {"recipe": "paper"}, "wasserstein-gp", 5, None, 4),
    (32, {"loss": "wasserstein-gp"}, "wasserstein-gp", 34, 0.999, 14), (16, {}, "wasserstein-gp", 12, None, 5)])
def test_the_32_px_recipe_trains_non_saturating_with_half_the_job_at_full_size(size, model, loss, epochs, ema,
                                                                              final_steps):
    dataset = load_builtin("shapes", size)
    spec = JobSpec(dataset="shapes", model={"arch": "progan", "image_size": size, **model}, train={"max_steps": 28})
    trainer = make_trainer(gan_config(spec, tuple(dataset.shape), dataset.classes), train_config(spec))
    assert (trainer.config.loss, trainer.config.epochs, trainer.config.ema or None) == (loss, epochs, ema)
    trainer.fit(torch.rand(96, 3, size, size), callbacks=StopAt(trainer, 1))  # 28 steps at batch 8 or 16
    levels = 4 if size == 32 else 3
    phases = [trainer.growth.phase(step) for step in range(28)]
    assert phases.count(2 * levels - 2) == final_steps  # half of 28, or an even split's last


def test_the_trainer_follows_the_schedule_and_ends_with_the_nets_at_the_top(digits):
    images = resize(digits[:128], 16)
    trainer = make_trainer(progan(16), TrainConfig(epochs=5, batch_size=32, ema=0.9))
    trainer.fit(images, callbacks=StopAt(trainer, 14))  # 20 steps in 5 phases of 4: steps 12-15 fade level 2 in
    for net in (trainer.generator, trainer.discriminator, trainer.ema):
        assert net.stage() == (2, 0.25)
    trainer.fit(images)
    for net in (trainer.generator, trainer.discriminator, trainer.ema):
        assert net.stage() == (2, 1.0)


def test_adam_starts_afresh_when_a_phase_begins(digits):
    images = resize(digits[:128], 8)
    trainer = make_trainer(progan(8), TrainConfig(max_steps=6, epochs=10, batch_size=32, phase_images=128))
    trainer.fit(images)  # phases of 4 steps: the second began at step 4
    steps_taken = {int(state["step"]) for state in trainer.opt_d.state.values()}
    assert steps_taken == {2}


def test_resume_across_phase_boundaries_is_bit_exact(digits, tmp_path):
    images = resize(digits[:256], 16)
    # Phases of 3 steps: stopped inside the first fade-in (step 4), resumed through three more boundaries.
    train = TrainConfig(epochs=2, batch_size=32, seed=3, phase_images=96, ema=0.9, progress_every_steps=4)
    straight, resumed = straight_and_resumed(progan(16), train, images, None, 4, tmp_path / "checkpoint.safetensors")
    assert resumed.step == straight.step == 16
    assert_same_state(straight, resumed)
    assert straight.generator.stage() == (2, 1.0)


def test_the_exported_generator_renders_the_stage_training_reached(digits, tmp_path):
    images = resize(digits[:128], 16)
    trainer = make_trainer(progan(16), TrainConfig(epochs=5, batch_size=32, ema=0.9))
    latents = latents_for_seed(6, 20, seed=1)
    for stop_at, stage in ((15, (2, 0.5)), (20, (2, 1.0))):  # mid-fade of the top level, then the end
        trainer.fit(images, callbacks=StopAt(trainer, stop_at))
        served = trainer.serving_generator().eval()
        save_generator(served, {"config": trainer.gan.to_dict()}, tmp_path / str(stop_at))
        reloaded, _ = load_generator(tmp_path / str(stop_at))
        assert reloaded.stage() == served.stage() == stage
        assert torch.equal(generate(reloaded, latents), generate(served, latents))
        assert trainer.samples().shape == (trainer.config.n_samples, 1, 16, 16)
        served.train()


def test_a_short_run_moves_the_losses_and_brings_the_samples_towards_the_data(digits):
    images = resize(digits, 8)
    real = to_model_range(images).flatten(1)
    trainer = make_trainer(progan(8, width=16), TrainConfig(max_steps=120, epochs=100, batch_size=32))
    latents = latents_for_seed(512, 20, seed=7)

    def samples() -> torch.Tensor:
        out = to_model_range(generate(trainer.generator.eval(), latents)).flatten(1)
        trainer.generator.train()
        return out

    def mean_image_gap(fakes):  # how far the average sample is from the average digit
        return (fakes.mean(0) - real.mean(0)).abs().mean()

    def nearest_digit(fakes):  # how far a typical sample is from the closest real digit
        return torch.cdist(fakes, real).min(dim=1).values.mean()

    before = samples()
    result = trainer.fit(images)
    after = samples()

    losses = torch.tensor([row["loss_d"] for row in result.history])
    assert torch.isfinite(losses).all() and losses.std() > 0
    assert not torch.equal(before, after)
    assert mean_image_gap(after) < 0.75 * mean_image_gap(before)
    assert nearest_digit(after) < 0.8 * nearest_digit(before)
