"""Checkpoints and exported generators as safetensors: tensors plus JSON metadata, never pickle.

A training checkpoint is a state (Trainer.state_dict(): everything exact resume needs) written as it
is; this module knows nothing of what the state holds. An exported generator holds the generator's
weights and the model card, which carries the config that rebuilds the network without any training code.

Each comes as bytes too (`*_to_bytes` / `*_from_bytes`), for callers that keep files somewhere other than a
local disk (the worker's artifact store); this module knows nothing of where they go.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load as load_bytes
from safetensors.torch import load_file, save, save_file
from torch import nn

from models.gan import GANConfig, build_generator

_META_KEY = "ganforge"
STATE_FORMAT = 2  # 1: the layout of the trainer's attributes, before Trainer.state_dict()
_TENSOR, _ITEMS = "__tensor__", "__items__"  # markers in a state's JSON skeleton


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


def tensors_to_bytes(tensors: dict[str, torch.Tensor], metadata: dict) -> bytes:
    """What atomic_save writes, as bytes."""
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    return save(tensors, metadata={_META_KEY: json.dumps(metadata)})


def tensors_from_bytes(data: bytes) -> tuple[dict[str, torch.Tensor], dict]:
    """What `load` reads, from bytes. The metadata is in the file's JSON header, after its 8-byte length."""
    header = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])
    metadata = json.loads((header.get("__metadata__") or {}).get(_META_KEY, "{}"))
    return load_bytes(data), metadata


def save_state(state: dict, path: Path) -> None:
    """Writes a state (nested dicts and lists of tensors and JSON values, e.g. Trainer.state_dict()):
    each tensor under its dotted path, everything else as JSON metadata that refers to the tensors."""
    atomic_save(*_state_parts(state), path)


def load_state(path: Path) -> dict:
    """The state save_state wrote, its tensors on the CPU."""
    return _state_of(*load(path), str(path))


def state_to_bytes(state: dict) -> bytes:
    """What save_state writes, as bytes."""
    return tensors_to_bytes(*_state_parts(state))


def state_from_bytes(data: bytes, where: str = "the checkpoint") -> dict:
    """The state state_to_bytes made, its tensors on the CPU; `where` names it in errors."""
    return _state_of(*tensors_from_bytes(data), where)


def _state_parts(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    tensors: dict[str, torch.Tensor] = {}
    skeleton = _split(state, "", tensors)
    return tensors, {"format": STATE_FORMAT, "state": skeleton}


def _state_of(tensors: dict[str, torch.Tensor], meta: dict, where: str) -> dict:
    if meta.get("format") != STATE_FORMAT:
        raise ValueError(f"{where} is not a training state this version reads (format {STATE_FORMAT}; found "
                         f"{meta.get('format')!r}: a checkpoint of an older version?); train the job afresh")
    return _join(meta["state"], tensors)


def _split(value, path: str, tensors: dict[str, torch.Tensor]):
    """The JSON skeleton of `value`; its tensors go to `tensors`, each replaced by a reference to its key."""
    if torch.is_tensor(value):
        if path in tensors:
            raise ValueError(f"two tensors of the state would be saved under {path!r}")
        tensors[path] = value
        return {_TENSOR: path}
    if isinstance(value, dict):
        named = {key: _split(item, f"{path}.{key}" if path else str(key), tensors) for key, item in value.items()}
        if all(isinstance(key, str) for key in value):
            return named
        return {_ITEMS: [[key, item] for key, item in named.items()]}  # keeps int keys (optimizer state) ints
    if isinstance(value, list | tuple):
        return [_split(item, f"{path}.{i}", tensors) for i, item in enumerate(value)]
    return value


def _join(skeleton, tensors: dict[str, torch.Tensor]):
    if isinstance(skeleton, dict):
        if _TENSOR in skeleton:
            return tensors[skeleton[_TENSOR]]
        if _ITEMS in skeleton:
            return {key: _join(item, tensors) for key, item in skeleton[_ITEMS]}
        return {key: _join(item, tensors) for key, item in skeleton.items()}
    if isinstance(skeleton, list):
        return [_join(item, tensors) for item in skeleton]
    return skeleton


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
    return _rebuilt(*load(directory / "generator.safetensors"), device)


def generator_to_bytes(generator: nn.Module, card: dict) -> bytes:
    """What save_generator writes as `generator.safetensors`, as bytes."""
    return tensors_to_bytes(generator.state_dict(), card)


def generator_from_bytes(data: bytes, device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """load_generator for the bytes of a `generator.safetensors`."""
    return _rebuilt(*tensors_from_bytes(data), device)


def _rebuilt(tensors: dict[str, torch.Tensor], card: dict, device: str | torch.device) -> tuple[nn.Module, dict]:
    generator = build_generator(GANConfig.from_dict(card["config"]))
    generator.load_state_dict(tensors, strict=True)
    return generator.to(device).eval(), card
