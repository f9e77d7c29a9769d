"""The trainer's state: everything exact resume needs, in memory and as a checkpoint on disk."""

import pytest
import torch

from models.checkpoint import atomic_save, load_state, save_state
from models.data import load_builtin
from models.gan import GANConfig
from models.trainer import TrainConfig, Trainer
from tests.helpers import StopAt

# InfoGAN on 2-D points: both nets, the Q head's own optimizer, and (with ema) an EMA copy, in a second.
INFOGAN = GANConfig(arch="infogan", latent_dim=4, data_shape=(2,), hidden=16, depth=2, cat_codes=3, cont_codes=1)
TRAIN = TrainConfig(epochs=3, batch_size=64, seed=2, ema=0.9, lr_decay=True, progress_every_steps=2)


@pytest.fixture(scope="module")
def points():
    return load_builtin("ring8").points[:640]  # 10 steps per epoch


def tensors_of(state, path="") -> dict[str, torch.Tensor]:
    if torch.is_tensor(state):
        return {path: state}
    items = state.items() if isinstance(state, dict) else enumerate(state) if isinstance(state, list | tuple) else ()
    return {k: v for key, item in items for k, v in tensors_of(item, f"{path}.{key}").items()}


def assert_same_state(expected: Trainer, actual: Trainer) -> None:
    expected, actual = tensors_of(expected.state_dict()), tensors_of(actual.state_dict())
    assert expected.keys() == actual.keys()
    for key, value in expected.items():
        assert torch.equal(value, actual[key]), key


def test_trainer_state_dict_roundtrip_resumes_bit_exact(points):
    straight = Trainer(INFOGAN, TRAIN)
    full = straight.fit(points)

    first = Trainer(INFOGAN, TRAIN)
    first.fit(points, callbacks=StopAt(first, 14))  # mid-epoch, at the end of a progress window
    resumed = Trainer(INFOGAN, TRAIN)
    resumed.load_state_dict(first.state_dict())
    assert resumed.step == 14
    rest = resumed.fit(points)
    first.fit(points)  # the trainer the state came from trains on alone: they share no tensor

    assert_same_state(straight, resumed)
    assert_same_state(straight, first)
    # The same progress rows, to the last bit, from step 15 on.
    timing = ("images_per_s", "elapsed_s", "eta_s")
    strip = lambda rows: [{k: v for k, v in row.items() if k not in timing} for row in rows]  # noqa: E731
    assert strip(rest.history) == strip([row for row in full.history if row["step"] > 14])


def test_state_dict_holds_every_part_of_exact_resume():
    state = Trainer(INFOGAN, TRAIN).state_dict()
    assert set(state["nets"]) == {"generator", "discriminator", "ema"}
    assert set(state["optimizers"]) == {"g", "d", "q"}
    assert set(state["scalers"]) == {"d", "g"} and state["step"] == 0
    assert state["rng"]["noise"].dtype == torch.uint8
    assert state["config"]["gan"]["arch"] == "infogan" and state["config"]["train"]["ema"] == 0.9


def test_a_checkpoint_loads_back_as_the_state_that_was_saved(points, tmp_path):
    trainer = Trainer(INFOGAN, TRAIN)
    trainer.fit(points, callbacks=StopAt(trainer, 3))
    state = trainer.state_dict()
    save_state(state, tmp_path / "state.safetensors")
    loaded = load_state(tmp_path / "state.safetensors")

    # An optimizer's state is keyed by parameter index: ints, which torch needs back as ints.
    assert list(loaded["optimizers"]["g"]["state"]) == list(state["optimizers"]["g"]["state"])
    assert all(isinstance(index, int) for index in loaded["optimizers"]["g"]["state"])
    assert loaded["optimizers"]["g"]["param_groups"][0]["lr"] == state["optimizers"]["g"]["param_groups"][0]["lr"]
    expected, actual = tensors_of(state), tensors_of(loaded)
    assert expected.keys() == actual.keys() and all(torch.equal(v, actual[k]) for k, v in expected.items())
    assert loaded["step"] == 3 and GANConfig.from_dict(loaded["config"]["gan"]) == INFOGAN  # it describes itself


def test_a_checkpoint_of_an_older_format_is_refused_with_a_reason(tmp_path):
    path = tmp_path / "old.safetensors"
    atomic_save({"rng.noise": torch.zeros(8, dtype=torch.uint8)}, {"step": 4}, path)
    with pytest.raises(ValueError, match="not a training state this version reads.*train the job afresh"):
        Trainer(INFOGAN, TRAIN).load_checkpoint(path)


def test_a_state_saved_without_ema_is_refused_by_a_trainer_with_ema():
    state = Trainer(INFOGAN, TrainConfig()).state_dict()
    with pytest.raises(ValueError, match="the state holds nets \\['discriminator', 'generator'\\]"):
        Trainer(INFOGAN, TRAIN).load_state_dict(state)
