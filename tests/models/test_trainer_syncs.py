"""No step waits on the device: the trainer reads its statistics to the host only on the steps that report them.

On a CPU a "wait" is counted as every read of a tensor's values into Python (item, tolist, float, bool, …),
by the trainer's own door (models.host_reads) and by a torch function mode that sees any other read in the
step; on CUDA, torch's sync debug mode raises on any synchronisation but those reads."""

from __future__ import annotations

import pytest
import torch
from torch.overrides import TorchFunctionMode

from models import host_reads
from models import trainer as trainer_module
from models.config import TrainConfig
from models.gan import GANConfig
from models.trainer import Callbacks, make_trainer

STEPS, REPORT_EVERY = 12, 5  # reports after steps 5 and 10; the epoch (20 steps or more) does not end
VALUE_READS = {torch.Tensor.item, torch.Tensor.tolist, torch.Tensor.__bool__, torch.Tensor.__float__,
               torch.Tensor.__int__, torch.Tensor.__index__, torch.Tensor.numpy}
TINY = {"latent_dim": 16, "g_width": 8, "d_width": 8}
CASES = {
    "dcgan": (GANConfig(arch="dcgan", data_shape=(1, 28, 28), **TINY), {}),
    "dcgan, EMA, ADA, lr decay": (GANConfig(arch="dcgan", data_shape=(1, 28, 28), **TINY),
                                  {"ema": 0.99, "augment": ("color", "translation"), "ada_target": 0.6,
                                   "lr_decay": True}),
    "wgan-gp, 2 D steps": (GANConfig(arch="dcgan", data_shape=(1, 28, 28), **TINY),
                           {"loss": "wasserstein-gp", "d_steps": 2}),
    "acgan": (GANConfig(arch="acgan", data_shape=(1, 28, 28), num_classes=3, **TINY), {}),
    "stylegan2, R1 every 4 D steps": (GANConfig(arch="stylegan2", data_shape=(1, 16, 16), mapping_layers=2, **TINY),
                                      {"r1_gamma": 0.01, "r1_every": 4}),
}


class ValueReads(TorchFunctionMode):
    """Counts reads of tensor values into Python, wherever they happen."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.count += func in VALUE_READS
        return func(*args, **(kwargs or {}))


class PerStep(Callbacks):
    """After each step: how many reads the trainer made through its door and in all, since the step before."""

    def __init__(self, trainer, mode: ValueReads | None):
        self.trainer, self.mode = trainer, mode
        self.rows: list[tuple[int, int, int]] = []  # (step, door reads, all value reads)
        self._last = self._now()

    def _now(self) -> tuple[int, int]:
        return host_reads.reads, self.mode.count if self.mode else 0

    def should_stop(self) -> bool:
        now = self._now()
        self.rows.append((self.trainer.step, now[0] - self._last[0], now[1] - self._last[1]))
        self._last = self._now()
        return self.trainer.step >= STEPS


def _trainer(case: str, device: str):
    gan, options = CASES[case]
    config = TrainConfig(epochs=50, batch_size=8, seed=1, progress_every_steps=REPORT_EVERY, sample_every_epochs=50,
                         checkpoint_every_steps=10**9, amp="off", **options)
    data = torch.randint(0, 256, (320, *gan.data_shape), dtype=torch.uint8)  # 20 steps or more per epoch
    labels = torch.arange(len(data)) % gan.num_classes if gan.num_classes else None
    return make_trainer(gan, config, device), data, labels


def _expected_door_reads(step: int) -> int:
    return int(step % REPORT_EVERY == 0)


@pytest.mark.parametrize("case", CASES)
def test_a_step_reads_nothing_from_the_device_unless_it_reports(case):
    trainer, data, labels = _trainer(case, "cpu")
    with ValueReads() as mode:
        callbacks = PerStep(trainer, mode)
        result = trainer.fit(data, labels, callbacks)
    assert result.stopped and result.steps == STEPS
    assert [step for step, *_ in callbacks.rows] == list(range(1, STEPS + 1))
    # One read per report, through the door; nothing else reads a value, on any step. (Step 1's row also holds
    # what `fit` reads once before its first step: the labels' class counts.)
    for step, door, everything in callbacks.rows[1:]:
        assert (door, everything) == (_expected_door_reads(step), _expected_door_reads(step)), step
    assert callbacks.rows[0][1] == 0
    assert len(result.history) == STEPS // REPORT_EVERY


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("case", CASES)
def test_cuda_steps_synchronise_only_to_report(case, monkeypatch):
    trainer, data, labels = _trainer(case, "cuda")
    door = host_reads.to_host

    def allowed_read(tensor):
        torch.cuda.set_sync_debug_mode("default")
        try:
            return door(tensor)
        finally:
            torch.cuda.set_sync_debug_mode("error")

    monkeypatch.setattr(trainer_module, "to_host", allowed_read)

    class Strict(PerStep):
        def should_stop(self) -> bool:  # from the end of step 1 (lazy initialisation) on, any other sync raises
            torch.cuda.set_sync_debug_mode("error")
            return super().should_stop()

    callbacks = Strict(trainer, None)
    try:
        result = trainer.fit(data, labels, callbacks)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert result.steps == STEPS
    assert [door for _, door, _ in callbacks.rows] == [_expected_door_reads(step) for step in range(1, STEPS + 1)]
