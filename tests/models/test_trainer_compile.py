"""A compiled trainer compiles during warm-up and never again: a recompile costs seconds and, past dynamo's cache
limit, leaves the nets uncompiled for good (D once recompiled at every call when it ran both inside and outside
autocast). Guards do not depend on the backend, so this runs on a CPU, in CI."""

from __future__ import annotations

from dataclasses import replace

import torch
import torch._dynamo
from torch._dynamo.utils import counters

from models.config import TrainConfig
from models.gan import GANConfig
from models.trainer import make_trainer

WARMUP_STEPS = 3  # D on real and on detached fakes, G's step: each graph is traced in the first step or two


def test_a_compiled_trainer_does_not_recompile_after_warm_up(monkeypatch):
    # bf16 autocast and the gradient penalty, whose double backward runs outside autocast: the hardest case.
    gan = GANConfig(arch="dcgan", latent_dim=16, data_shape=(1, 28, 28), g_width=8, d_width=8)
    config = TrainConfig(epochs=2, batch_size=8, seed=0, compile=True, amp="bf16", loss="wasserstein-gp", d_steps=1,
                         progress_every_steps=4, sample_every_epochs=1, checkpoint_every_steps=10**9,
                         max_steps=WARMUP_STEPS)
    data = torch.randint(0, 256, (160, 1, 28, 28), dtype=torch.uint8)  # 20 steps per epoch
    torch._dynamo.reset()
    counters.clear()
    trainer = make_trainer(gan, config, "cpu")
    trainer.fit(data)
    graphs, frames = counters["stats"]["unique_graphs"], counters["frames"]["total"]
    assert graphs > 0  # the nets are compiled

    monkeypatch.setattr(torch._dynamo.config, "error_on_recompile", True)
    trainer.config = replace(trainer.config, max_steps=None)  # to the end of epoch 2: a whole epoch and more
    result = trainer.fit(data)

    assert result.steps == 40
    assert counters["stats"]["unique_graphs"] == graphs
    assert counters["frames"]["total"] == frames
    assert all(row["loss_d"] == row["loss_d"] for row in result.history)  # no NaN
