import pytest
import torch

from models.checkpoint import load_generator, save_generator
from models.data import load_builtin
from models.gan import GANConfig
from models.sampling import generate, latents_for_seed
from models.trainer import Callbacks, TrainConfig, Trainer
from tests.helpers import straight_and_resumed

SMALL = GANConfig(latent_dim=32, g_width=16, d_width=16)  # a DCGAN for 28x28 gray


def mnist_slice(n: int = 512) -> torch.Tensor:
    return load_builtin("mnist").images[:n]


class Recorder(Callbacks):
    def __init__(self, stop_after: int | None = None):
        self.progress, self.samples, self.checkpoints, self.stop_after = [], [], [], stop_after
        self.epochs = []

    def on_progress(self, progress):
        self.progress.append(progress)

    def on_epoch_end(self, metrics):
        self.epochs.append(metrics)

    def on_samples(self, epoch, images):
        self.samples.append((epoch, images))

    def on_checkpoint(self, trainer):
        self.checkpoints.append(trainer.step)

    def should_stop(self):
        return self.stop_after is not None and len(self.progress) >= self.stop_after


def test_a_few_dozen_steps_teach_d_to_tell_real_from_fake_and_change_the_samples():
    trainer = Trainer(SMALL, TrainConfig(epochs=3, batch_size=32, progress_every_steps=4, checkpoint_every_steps=20))
    before = trainer.samples()
    recorder = Recorder()
    result = trainer.fit(mnist_slice(), callbacks=recorder)

    assert result.steps == 48 and not result.stopped
    first, last = recorder.progress[0], recorder.progress[-1]
    # D starts unable to separate real from fake (gap ~ 0) and learns to: D(x) rises above D(G(z)).
    assert abs(first.d_real - first.d_fake) < abs(last.d_real - last.d_fake) or last.d_real - last.d_fake > 0.2
    assert last.loss_d != first.loss_d and last.loss_g != first.loss_g
    after = trainer.samples()
    # Untrained, G draws flat grey (pixel std < 1); trained, it draws structure (std ~8 after 48 steps).
    assert before.float().std() < 1 and after.float().std() > 4
    assert (after.float() - before.float()).abs().mean() > 3  # mean change per pixel, out of 255
    assert [epoch for epoch, _ in recorder.samples] == [1, 2, 3]
    assert recorder.checkpoints == [20, 40]
    assert last.step == 48 and last.total_steps == 48 and last.eta_s == 0 and last.images_per_s > 0
    # One metrics row per epoch, averaged over the epoch's 16 steps (4 progress windows of 4 steps).
    assert [row.epoch for row in recorder.epochs] == [1, 2, 3]
    windows = [p.loss_d for p in recorder.progress if p.epoch == 3]
    assert recorder.epochs[-1].loss_d == pytest.approx(sum(windows) / len(windows), rel=1e-5)


def test_max_steps_caps_training():
    result = Trainer(SMALL, TrainConfig(epochs=5, max_steps=7, batch_size=32)).fit(mnist_slice(256))
    assert result.steps == 7


def test_should_stop_ends_training_early():
    trainer = Trainer(SMALL, TrainConfig(epochs=5, batch_size=32, progress_every_steps=1))
    result = trainer.fit(mnist_slice(256), callbacks=Recorder(stop_after=3))
    assert result.stopped and result.steps == 3


def test_exported_generator_reloads_bit_identical(tmp_path):
    trainer = Trainer(SMALL, TrainConfig(max_steps=5, batch_size=32))
    trainer.fit(mnist_slice(256))
    generator = trainer.generator.eval()
    save_generator(generator, {"config": SMALL.to_dict(), "latent_dim": 32}, tmp_path)
    reloaded, card = load_generator(tmp_path)
    latents = latents_for_seed(8, 32, seed=3)
    assert card["latent_dim"] == 32
    assert torch.equal(generate(generator, latents), generate(reloaded, latents))
    with torch.no_grad():
        assert torch.equal(generator(latents), reloaded(latents))


def test_resuming_from_a_checkpoint_continues_bit_identically(tmp_path):
    config = TrainConfig(epochs=2, batch_size=32, seed=5)
    images = mnist_slice(320)  # 10 steps per epoch; the checkpoint lands mid-epoch
    straight, resumed = straight_and_resumed(SMALL, config, images, None, 13, tmp_path / "ckpt.safetensors")

    for net in ("generator", "discriminator"):
        expected, actual = getattr(straight, net).state_dict(), getattr(resumed, net).state_dict()
        assert all(torch.equal(expected[k], actual[k]) for k in expected), net
