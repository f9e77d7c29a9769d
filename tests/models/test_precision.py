"""`amp: auto` on a CPU: bf16 where AMX makes it pay and it was measured (conv samplers), float32 elsewhere."""

import pytest
import torch

from models.gan import GANConfig
from models.trainer import TrainConfig, Trainer, bf16_pays_on_cpu

CGAN = GANConfig(arch="cgan", data_shape=(1, 28, 28), num_classes=10, g_width=8, d_width=8, latent_dim=8)
POINTS = GANConfig(arch="mlp", data_shape=(2,), latent_dim=2, hidden=16)
PIX2PIX = GANConfig(arch="pix2pix", data_shape=(1, 28, 28), source_shape=(1, 28, 28), g_width=8, d_width=8)


@pytest.fixture(params=[True, False], ids=["amx", "no-amx"])
def amx(request, monkeypatch) -> bool:
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: request.param)
    return request.param


def test_auto_is_bf16_only_for_conv_samplers_on_an_amx_cpu(amx):
    assert bf16_pays_on_cpu(CGAN) is amx
    assert not bf16_pays_on_cpu(POINTS) and not bf16_pays_on_cpu(PIX2PIX)
    assert Trainer(CGAN, TrainConfig()).precision == ("bf16" if amx else "float32")
    assert Trainer(POINTS, TrainConfig()).precision == "float32"


def test_an_explicit_setting_wins_over_auto(amx):
    assert Trainer(CGAN, TrainConfig(amp="off")).precision == "float32"
    assert Trainer(POINTS, TrainConfig(amp="bf16")).precision == "bf16"


def test_bf16_training_on_a_cpu_changes_g_keeps_float32_weights_and_finite_losses():
    images = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8)
    trainer = Trainer(CGAN, TrainConfig(max_steps=4, batch_size=16, amp="bf16"))
    before = [p.detach().clone() for p in trainer.generator.parameters()]
    history = trainer.fit(images, torch.arange(64) % 10).history
    assert all(p.dtype == torch.float32 for p in trainer.generator.parameters())  # autocast keeps fp32 weights
    assert all(torch.isfinite(torch.tensor([row["loss_d"], row["loss_g"]])).all() for row in history)
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.generator.parameters(), strict=True))
