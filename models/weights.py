"""Generator weights trained elsewhere: read from a file without running any of its code, renamed from a known
foreign layout, and checked tensor by tensor against the network a config builds.

Two files are read: safetensors (tensors and a JSON header, nothing to execute) and a PyTorch state dict, read
with `torch.load(weights_only=True)`, whose unpickler builds tensors and plain containers and refuses every other
object before anything of it runs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from pickle import UnpicklingError  # the error torch.load(weights_only=True) raises; nothing here unpickles

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

_HEADER_MAX = 100 * 2**20  # safetensors' own bound on its JSON header


class RefusedWeights(ValueError):
    """A file that is not a state dict this service reads, or one that does not fit the network."""


def is_safetensors(path: Path) -> bool:
    """A safetensors file opens with its header's length (8 bytes, little-endian) and then the JSON header."""
    with path.open("rb") as f:
        head = f.read(9)
    return len(head) == 9 and 2 <= int.from_bytes(head[:8], "little") <= _HEADER_MAX and head[8:9] == b"{"


def safetensors_metadata(path: Path) -> dict[str, str]:
    with path.open("rb") as f:
        header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
    return header.get("__metadata__") or {}


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The file's tensors by name; RefusedWeights for anything else, a pickle of other objects above all."""
    if is_safetensors(path):
        try:
            return load_file(str(path))
        except (SafetensorError, ValueError, OverflowError, RuntimeError) as exc:
            raise RefusedWeights(f"the safetensors file could not be read ({exc})") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except UnpicklingError as exc:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        if found is None:  # not a pickle of anything: bytes of some other file
            raise RefusedWeights("not a safetensors file nor a PyTorch state dict (its bytes do not unpickle)") \
                from None
        raise RefusedWeights(f"the file needs arbitrary unpickling ({found[1]}), which is never done here; save the "
                             "state dict alone (torch.save(net.state_dict(), ...)) or as safetensors") from None
    except Exception as exc:  # not a torch file at all: a zip of something else, truncated bytes, ...
        raise RefusedWeights(f"not a safetensors file nor a PyTorch state dict ({type(exc).__name__}: {exc})") \
            from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]  # the common {"state_dict": ..., "epoch": ...} wrapper
    if not isinstance(state, dict) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in state.items()):
        raise RefusedWeights("the file holds no state dict (a dict of tensor names to tensors); save "
                             "net.state_dict()")
    return state


def renamed(tensors: dict[str, torch.Tensor], prefixes: dict[str, str]) -> tuple[dict[str, torch.Tensor], str | None]:
    """Tensors of a foreign layout under our names: the first of `prefixes` (theirs -> ours, a family row's
    `import_prefixes`) that every key starts with. Returns the tensors and the foreign prefix used, if any."""
    for theirs, ours in prefixes.items():
        if tensors and all(key.startswith(theirs) for key in tensors):
            return {ours + key.removeprefix(theirs): value for key, value in tensors.items()}, theirs
    return tensors, None


def fitted(net: nn.Module, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tensors as `net` stores them (its dtypes), or RefusedWeights naming the first that does not fit: in
    the net's order, a missing one or one of another shape; then the file's first unexpected one."""
    expected = net.state_dict()
    for name, ours in expected.items():
        if name not in tensors:
            raise RefusedWeights(f"missing tensor {name!r} (shape {list(ours.shape)}): the file has no tensor of "
                                 "that name; check the model config (arch, widths, latent_dim) against the file")
        if tensors[name].shape != ours.shape:
            raise RefusedWeights(f"tensor {name!r} has shape {list(tensors[name].shape)} in the file; the model "
                                 f"config needs {list(ours.shape)}")
    for name in tensors:
        if name not in expected:
            raise RefusedWeights(f"unexpected tensor {name!r} (shape {list(tensors[name].shape)}): the model config "
                                 "builds a network without it")
    out = {}
    for name, ours in expected.items():
        value = tensors[name]
        if value.is_floating_point() != ours.is_floating_point():
            raise RefusedWeights(f"tensor {name!r} is {value.dtype} in the file; the network holds {ours.dtype}")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise RefusedWeights(f"tensor {name!r} holds NaN or infinite values")
        out[name] = value.to(ours.dtype)
    return out
