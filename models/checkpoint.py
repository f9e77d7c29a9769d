"""Checkpoints and exported generators as safetensors: tensors plus JSON metadata, never pickle.

A training checkpoint holds everything exact resume needs (see save_training_state). An exported
generator holds the generator's weights and the model card, which carries
the config that rebuilds the network without any training code.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from models.gan import GANConfig, build_generator

_META_KEY = "ganforge"


def atomic_save(tensors: dict[str, torch.Tensor], metadata: dict, path: Path) -> None:
    """Writes to a temp file beside `path`, then renames: a crash mid-write leaves the old file intact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
        save_file(tensors, tmp, metadata={_META_KEY: json.dumps(metadata)})
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        metadata = json.loads((f.metadata() or {}).get(_META_KEY, "{}"))
    return load_file(str(path)), metadata


def flatten_optimizer(prefix: str, optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    for index, slots in state["state"].items():
        for name, value in slots.items():
            tensors[f"{prefix}.{index}.{name}"] = value if torch.is_tensor(value) else torch.tensor(value)
    return tensors, {"param_groups": state["param_groups"]}


def unflatten_optimizer(prefix: str, tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith(prefix + "."):
            index, name = key[len(prefix) + 1 :].split(".", 1)
            state.setdefault(int(index), {})[name] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def prefixed(prefix: str, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v for k, v in state_dict.items()}


def unprefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    n = len(prefix) + 1
    return {k[n:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}


def save_training_state(trainer, path: Path) -> None:
    """Everything exact resume needs: both nets (and the EMA copy), every optimizer, the AMP scalers,
    the noise RNG and the step."""
    tensors = {**prefixed("g", trainer.generator.state_dict()), **prefixed("d", trainer.discriminator.state_dict())}
    if trainer.ema is not None:
        tensors.update(prefixed("ema", trainer.ema.state_dict()))
    meta: dict = {"step": trainer.step, "gan": trainer.gan.to_dict(), "train": asdict(trainer.config)}
    for name, optimizer in _optimizers(trainer):
        flat, meta[name] = flatten_optimizer(name, optimizer)
        tensors.update(flat)
    meta["scalers"] = {"d": trainer.scaler_d.state_dict(), "g": trainer.scaler_g.state_dict()}
    tensors["rng.noise"] = trainer.noise_rng.get_state()
    atomic_save(tensors, meta, path)


def load_training_state(trainer, path: Path) -> None:
    tensors, meta = load(path)
    device = trainer.device
    trainer.generator.load_state_dict(unprefixed("g", tensors))
    trainer.discriminator.load_state_dict(unprefixed("d", tensors))
    if trainer.ema is not None:
        trainer.ema.load_state_dict(unprefixed("ema", tensors))
    for name, optimizer in _optimizers(trainer):
        state = unflatten_optimizer(name, tensors, meta[name])
        for slots in state["state"].values():
            for key, value in slots.items():
                if key != "step":  # Adam keeps `step` on the CPU
                    slots[key] = value.to(device)
        optimizer.load_state_dict(state)
    if meta["scalers"]["d"]:
        trainer.scaler_d.load_state_dict(meta["scalers"]["d"])
        trainer.scaler_g.load_state_dict(meta["scalers"]["g"])
    trainer.noise_rng.set_state(tensors["rng.noise"])
    trainer.step = meta["step"]


def _optimizers(trainer) -> list[tuple[str, torch.optim.Optimizer]]:
    named = [("opt_g", trainer.opt_g), ("opt_d", trainer.opt_d)]
    return named + ([("opt_q", trainer.opt_q)] if trainer.opt_q is not None else [])


def save_generator(generator: nn.Module, card: dict, directory: Path) -> None:
    """Exports `generator.safetensors` (weights, card in the metadata) and `card.json` to `directory`."""
    atomic_save(generator.state_dict(), card, directory / "generator.safetensors")
    write_card(card, directory)


def write_card(card: dict, directory: Path) -> None:
    """card.json beside the weights, replaced atomically (an evaluation rewrites it with its figures)."""
    tmp = directory / ".card.json.tmp"
    tmp.write_text(json.dumps(card, indent=2))
    os.replace(tmp, directory / "card.json")


def load_generator(directory: Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """Rebuilds the generator from its card and weights, in eval mode."""
    tensors, card = load(directory / "generator.safetensors")
    generator = build_generator(GANConfig.from_dict(card["config"]))
    generator.load_state_dict(tensors, strict=True)
    return generator.to(device).eval(), card
