"""Which torch device a setting names."""

from __future__ import annotations

import torch


def resolve_device(setting: str) -> torch.device:
    """`auto`: CUDA when there is a GPU, else the CPU; anything else as torch spells it (`cpu`, `cuda:1`)."""
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(setting)
