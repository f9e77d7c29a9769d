"""Data-parallel training over torch.distributed with gloo: real processes, one per rank, on this machine's CPUs."""

from __future__ import annotations

import multiprocessing
import traceback
from pathlib import Path

import pytest
import torch

from models.config import TrainConfig
from models.data import load_builtin
from models.distributed import Ranks, join, leave
from models.gan import GANConfig
from models.trainer import Callbacks, make_trainer
from service.cli.embedded_redis import free_port

GLOBAL_BATCH = 64


def _trainer(seed: int = 0, max_steps: int | None = None, epochs: int = 4):
    data = load_builtin("ring8")
    gan = GANConfig(arch="mlp", data_shape=tuple(data.shape), latent_dim=2, hidden=64)
    config = TrainConfig(epochs=epochs, max_steps=max_steps, batch_size=GLOBAL_BATCH, seed=seed, ema=0,
                         progress_every_steps=1000)
    return data, make_trainer(gan, config, "cpu")


class _Curve(Callbacks):
    def __init__(self):
        self.epochs: list[list[float]] = []

    def on_epoch_end(self, metrics):
        self.epochs.append([metrics.loss_d, metrics.loss_g])


def _rank(rank: int, world: int, port: int, results, seed: int, max_steps: int | None, start: bytes | None,
          save_to: str | None) -> None:
    """One rank: trains (from a saved state when given), then reports its curve and its generator's weights."""
    try:
        torch.set_num_threads(1)
        data, trainer = _trainer(seed, max_steps)
        if world > 1:
            trainer.distribute(join(rank, world, "127.0.0.1", port, torch.device("cpu"), 60))
        if start is not None and rank == 0:
            trainer.load_checkpoint(Path(start))
        if world > 1:
            trainer.share_state()
        curve = _Curve()
        result = trainer.fit(data.data, callbacks=curve)
        if save_to and rank == 0:
            trainer.save_checkpoint(Path(save_to))
        weights = torch.cat([p.detach().reshape(-1) for p in trainer.generator.parameters()])
        results.put((rank, {"curve": curve.epochs, "steps": result.steps, "weights": weights.tolist()}))
    except Exception:  # noqa: BLE001  (the parent fails the test with it)
        results.put((rank, {"error": traceback.format_exc()}))
    finally:
        leave()


def train(world: int, seed: int = 0, max_steps: int | None = None, start=None, save_to=None) -> dict[int, dict]:
    """Runs `world` ranks as spawned processes; returns each rank's report."""
    context = multiprocessing.get_context("spawn")
    results, port = context.Queue(), free_port()
    start = str(start) if start else None
    processes = [context.Process(target=_rank, args=(rank, world, port, results, seed, max_steps, start,
                                                     str(save_to) if save_to else None)) for rank in range(world)]
    for process in processes:
        process.start()
    reports = dict(results.get(timeout=240) for _ in processes)
    for process in processes:
        process.join(30)
    for rank, report in reports.items():
        assert "error" not in report, f"rank {rank}:\n{report['error']}"
    return reports


@pytest.fixture(scope="module")
def one_device():
    return train(1)[0]


@pytest.fixture(scope="module")
def noise(one_device) -> float:
    """How far apart two seeds' curves are on one device."""
    return _distance(one_device["curve"], train(1, seed=1)[0]["curve"])


def _distance(a: list[list[float]], b: list[list[float]]) -> float:
    pairs = (pair for rows in zip(a, b, strict=True) for pair in zip(*rows, strict=True))
    return sum(abs(x - y) for x, y in pairs) / len(a)


def test_two_ranks_follow_one_devices_loss_curve_at_the_same_global_batch(one_device, noise):
    two = train(2)

    # The ranks report the same averaged losses and hold the same generator, step for step.
    assert two[0]["curve"] == two[1]["curve"] and two[0]["weights"] == two[1]["weights"]
    assert two[0]["steps"] == one_device["steps"]
    # Against one device: no further apart than a different seed is (what "within noise" means here).
    assert _distance(two[0]["curve"], one_device["curve"]) <= 2 * noise + 0.02
    # And the curve moved: D's loss is not where it started.
    assert abs(two[0]["curve"][-1][0] - two[0]["curve"][0][0]) > 0.01


def test_a_checkpoint_resumes_onto_another_number_of_devices(tmp_path, one_device, noise):
    halfway = one_device["steps"] // 2
    train(2, max_steps=halfway, save_to=tmp_path / "two.safetensors")
    resumed_on_one = train(1, start=tmp_path / "two.safetensors")[0]
    train(1, max_steps=halfway, save_to=tmp_path / "one.safetensors")
    resumed_on_two = train(2, start=tmp_path / "one.safetensors")

    assert resumed_on_one["steps"] == resumed_on_two[0]["steps"] == one_device["steps"]
    assert len(resumed_on_one["curve"]) < len(one_device["curve"])  # it trained only the second half
    assert resumed_on_two[0]["weights"] == resumed_on_two[1]["weights"]
    tail = len(resumed_on_one["curve"])
    for resumed in (resumed_on_one, resumed_on_two[0]):
        assert _distance(resumed["curve"], one_device["curve"][-tail:]) <= 2 * noise + 0.02


def test_a_batch_that_does_not_split_over_the_devices_is_refused_with_the_fix():
    with pytest.raises(ValueError, match="multiple of train.devices"):
        Ranks(rank=0, world=3).share(torch.arange(64))
    assert Ranks(rank=1, world=2).share(torch.arange(6)).tolist() == [3, 4, 5]


def test_rank_noise_differs_between_ranks_and_follows_the_step():
    _, trainer = _trainer()
    trainer.ranks = Ranks(rank=1, world=2)
    trainer._seed_rank_noise()
    first = torch.randn(4, generator=trainer.noise_rng)
    trainer._seed_rank_noise()
    assert torch.equal(torch.randn(4, generator=trainer.noise_rng), first)  # the same (seed, rank, step)
    trainer.step += 1
    trainer._seed_rank_noise()
    assert not torch.equal(torch.randn(4, generator=trainer.noise_rng), first)  # another step, other noise
    lead_noise = torch.randn(4, generator=_trainer()[1].noise_rng)
    assert not torch.equal(first, lead_noise)
