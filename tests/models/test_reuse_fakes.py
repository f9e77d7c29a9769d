"""train.reuse_fakes: G's step judges the very fakes of the step's last D update (as pytorch/examples' DCGAN does),
so each step runs G forward once instead of twice, and training still moves."""

from __future__ import annotations

import pytest
import torch

from models.config import TrainConfig
from models.gan import GANConfig
from models.trainer import make_trainer

TINY = {"latent_dim": 16, "g_width": 8, "d_width": 8}
DIGITS = torch.randint(0, 256, (256, 1, 28, 28), dtype=torch.uint8)


def watched_step(arch: str, labels: bool, **train) -> tuple[list[torch.Tensor], int]:
    """One training step; returns what D was shown, in order, and how many times G ran."""
    gan = GANConfig(arch=arch, data_shape=(1, 28, 28), **({"num_classes": 3} if labels else {}), **TINY)
    trainer = make_trainer(gan, TrainConfig(batch_size=16, **train))
    shown, runs = [], []
    trainer.discriminator.register_forward_pre_hook(lambda _m, args: shown.append(args[0].detach().clone()))
    trainer.generator.register_forward_hook(lambda *_: runs.append(1))
    batches = [(trainer._prepare(DIGITS[16 * i:16 * (i + 1)]), torch.randint(0, 3, (16,)) if labels else None)
               for i in range(trainer.config.d_steps)]
    trainer.train_step(batches)
    return shown, len(runs)


@pytest.mark.parametrize("arch, labels", [("dcgan", False), ("acgan", True), ("infogan", False)])
def test_g_step_judges_the_fakes_d_just_judged(arch, labels):
    shown, g_runs = watched_step(arch, labels, reuse_fakes=True)
    real, fake_for_d, fake_for_g = shown
    assert g_runs == 1
    assert torch.equal(fake_for_g, fake_for_d) and not torch.equal(fake_for_d, real)

    shown, g_runs = watched_step(arch, labels, reuse_fakes=False)
    assert g_runs == 2
    assert not torch.equal(shown[2], shown[1])  # fresh noise: other fakes


def test_with_several_d_steps_only_the_last_ones_fakes_are_kept():
    shown, g_runs = watched_step("dcgan", False, reuse_fakes=True, d_steps=3, loss="least-squares")
    fakes = shown[1::2][:3]  # D steps: real, fake; real, fake; real, fake; then G's step
    assert len(shown) == 7 and g_runs == 3
    assert torch.equal(shown[6], fakes[2]) and not torch.equal(shown[6], fakes[1])


def test_dcgan_on_digits_reuses_them_by_default_and_still_learns():
    gan = GANConfig(arch="dcgan", data_shape=(1, 28, 28), **TINY)
    trainer = make_trainer(gan, TrainConfig(batch_size=32, max_steps=24, progress_every_steps=8, ema=0))
    assert trainer.config.reuse_fakes is True
    assert make_trainer(GANConfig(arch="dcgan", data_shape=(1, 32, 32), **TINY), TrainConfig()).config.reuse_fakes \
        is False  # a recipe's choice, measured at 28 px only
    before = trainer.samples().clone()
    history = trainer.fit(DIGITS).history
    assert history[0]["loss_g"] != history[-1]["loss_g"]
    assert (trainer.samples().float() - before.float()).abs().mean() > 0.5  # of 255 (no EMA: G itself)
