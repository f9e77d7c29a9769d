"""PacGAN packing, minibatch standard deviation and unrolled D steps: options any family can use."""

import dataclasses

import pytest
import torch

from models.gan import GANConfig, build_discriminator
from models.nets.minibatch_std import MinibatchStd
from models.trainer import TrainConfig, Trainer
from tests.helpers import straight_and_resumed
from tests.models.test_nets import config_for, inputs_for


def test_a_packing_d_scores_each_pack_once_and_its_heads_answer_per_sample():
    config = dataclasses.replace(config_for("acgan", (1, 28, 28)), pack=2)
    d = build_discriminator(config).eval()  # BatchNorm in eval: each pack's score depends on it alone
    fake = torch.randn(6, 1, 28, 28)
    out = d(fake, inputs_for(config, 6)["labels"])
    assert out.logit.shape == (3,) and out.class_logits.shape == (6, 10)
    swapped = d(fake[[1, 0, 2, 3, 4, 5]], None).logit  # a pack is judged as a whole, in order
    assert torch.equal(swapped[1:], out.logit[1:]) and not torch.equal(swapped[0], out.logit[0])


def test_minibatch_std_tells_a_collapsed_batch_from_a_varied_one():
    layer = MinibatchStd(group=4)
    collapsed = layer(torch.ones(8, 3, 4, 4))
    varied = layer(torch.randn(8, 3, 4, 4))
    assert collapsed.shape == (8, 4, 4, 4) and varied.shape == (8, 4, 4, 4)
    assert collapsed[:, 3].max() < 1e-3 < varied[:, 3].min()
    assert layer(torch.randn(6, 5)).shape == (6, 6)  # 4 does not divide 6: one group


@pytest.mark.parametrize("arch", ["dcgan", "mlp", "wgan-gp", "infogan"])
def test_pack_and_minibatch_std_train_every_kind_of_d(arch):
    shape = (2,) if arch == "mlp" else (1, 28, 28)
    config = dataclasses.replace(config_for(arch, shape), pack=2, mbstd=2)
    data = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8) if len(shape) == 3 else torch.randn(64, 2)
    trainer = Trainer(config, TrainConfig(max_steps=3, batch_size=7))  # 7: the schedule takes whole packs, 6
    before = [p.detach().clone() for p in trainer.generator.parameters()]
    result = trainer.fit(data)
    assert result.steps == 3 and result.history[-1]["loss_d"] == result.history[-1]["loss_d"]
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.generator.parameters(), strict=True))


def test_unrolled_steps_change_g_but_leave_d_with_only_its_own_update():
    config = config_for("mlp", (2,))
    data = torch.randn(256, 2)
    plain, unrolled = (Trainer(config, TrainConfig(max_steps=1, batch_size=64, unroll_steps=k)) for k in (0, 3))
    plain.fit(data)
    unrolled.fit(data)
    for a, b in zip(plain.discriminator.parameters(), unrolled.discriminator.parameters(), strict=True):
        assert torch.equal(a, b)
    assert any(not torch.equal(a, b) for a, b in
               zip(plain.generator.parameters(), unrolled.generator.parameters(), strict=True))


def test_resume_with_every_remedy_on_is_bit_identical(tmp_path):
    config = GANConfig(arch="mlp", latent_dim=4, data_shape=(2,), hidden=32, depth=2, pack=2, mbstd=4)
    train = TrainConfig(epochs=3, batch_size=32, unroll_steps=2, seed=5)
    data = torch.randn(200, 2)
    straight, resumed = straight_and_resumed(config, train, data, None, 4, tmp_path / "checkpoint.safetensors")
    for key, value in straight.generator.state_dict().items():
        assert torch.equal(value, resumed.generator.state_dict()[key]), key
