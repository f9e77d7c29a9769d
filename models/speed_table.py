"""What `train.amp: auto` and an unset `train.channels_last` choose: the fastest setting measured for this class of
device and this kind of net, read from models/speed_table.json, which `bench/train_throughput.py --record` writes.

A row holds one measurement: a device class (cuda, cpu-amx, cpu-bf16, cpu), a net (the standard loop's conv nets, or a
family with a loop of its own), an image size, the images/s of each setting tried, and the winner. A net with no
row of its own on this device takes the row of the nearest size for the same net; with none at all it trains in
float32 and the default memory layout, the exact choice, until someone measures. A row may keep float32 over a
faster setting, with a `kept` note saying what the faster one did to a model, measured. The card's `training` says
what was used and why (`precision_reason`)."""

from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import torch

from models.family import STANDARD_LOOP, GANConfig

TABLE = Path(__file__).with_name("speed_table.json")
DTYPES = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}
# A serving row names a setting that changes the images (bf16, or channels_last) only where it was at least this
# much faster than float32: a few per cent is not worth images that differ from the trained model's.
SERVE_MARGIN = 1.2


@dataclass(frozen=True)
class Choice:
    amp: torch.dtype | None
    channels_last: bool
    reason: str


def device_class(device: torch.device) -> str:
    """cuda; cpu-amx (Intel's bf16 matrix units); cpu-bf16 (bf16 dot products in AVX-512, as on AMD's Zen 4, without
    AMX); or cpu, where bf16 is emulated and slow. The two with bf16 in hardware differ in how far it pays, and by
    net and size (at 28 px it served digits 1.25x faster than float32 with AVX-512 BF16, under 1.2x with AMX;
    docs/benchmarks.md), so each has rows of its own."""
    if device.type != "cpu":
        return device.type
    if _cpu_has("_is_amx_tile_supported"):
        return "cpu-amx"
    return "cpu-bf16" if _cpu_has("_is_avx512_bf16_supported") else "cpu"


def _cpu_has(probe: str) -> bool:
    return bool(getattr(torch.cpu, probe, lambda: False)())


def describe_machine(device: torch.device, threads: int) -> str:
    """A row's `machine`: the GPU, or the threads, cores and CPU model (which the device class alone does not name)."""
    if device.type == "cuda":
        return f"one {torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        model = platform.processor() or platform.machine()
    bf16 = {"cpu-amx": "AMX", "cpu-bf16": "AVX-512 BF16, no AMX"}.get(device_class(device), "no bf16 in hardware")
    return f"{threads} thread(s) of {os.cpu_count()} cores, {model} ({bf16}), torch {torch.__version__}"


def net_key(gan: GANConfig) -> str:
    """The kind of net a row was measured on: the standard loop's conv nets share rows; other loops, conv nets with
    fully connected layers, and 2-D points (which need more than bf16's 8-bit mantissa) get rows of their own."""
    if gan.family.trainer == STANDARD_LOOP:
        # InfoGAN's FC layers ran slower in bf16 than in float32 on an AMX CPU (196 against 170 ms a G step), where
        # the conv nets ran 1.5x faster: a net of its own.
        return f"standard-{gan.backbone}" + ("-fc" if gan.fc_stem else "")
    return gan.arch


def choose(device: torch.device, gan: GANConfig, amp: str = "auto", channels_last: bool | None = None,
           compile: bool = False) -> Choice:
    """The precision and layout to train in: the job's own settings where it gives them, else the table's."""
    conv = gan.backbone == "conv"
    row = measured(device_class(device), net_key(gan), gan.data_shape[-1]) if gan.is_image else None
    if amp != "auto":
        picked_amp, why = DTYPES[amp], f"train.amp: {amp}"
    elif row is None:
        picked_amp, why = None, "float32: nothing measured for this net on this device class"
    else:
        picked_amp, why = DTYPES[row["amp"]], describe(row, gan.data_shape[-1])
    if channels_last is not None:
        layout = channels_last and conv
    else:
        # Compiled conv backward in channels_last failed torch's stride check (torch 2.11, H200; docs/benchmarks.md).
        layout = conv and not compile and row is not None and row["channels_last"]
    return Choice(picked_amp, layout, why)


def measured(device: str, net: str, size: int, task: str = "train") -> dict | None:
    """The row for this device class and net at the nearest measured size, if any. `task`: rows measured training
    (a row without a task) or serving ("serve": bench/serve_precision.py)."""
    rows = [row for row in load() if row["device"] == device and row["net"] == net and _task(row) == task]
    return min(rows, key=lambda row: (abs(row["size"] - size), row["size"]), default=None)


def describe(row: dict, size: int) -> str:
    settings = ", ".join(f"{name} {speed:,.0f}" for name, speed in row["images_per_s"].items())
    nearest = "" if row["size"] == size else f" (the nearest size measured to {size} px)"
    name = setting_name(row["amp"], row["channels_last"])
    fastest = max(row["images_per_s"], key=row["images_per_s"].get)
    if row.get("kept"):
        verdict = f"kept over the faster {fastest} ({row['kept']})"
    elif name == fastest:
        verdict = "fastest measured"
    else:
        verdict = f"no setting measured {SERVE_MARGIN - 1:.0%} faster"
    return (f"{name}: {verdict} for {row['net']} at "
            f"{row['size']} px{nearest} on {row['machine']} ({row['date']}; images/s, batch {row['batch']}: "
            f"{settings})")


def setting_name(amp: str, channels_last: bool) -> str:
    return ("float32" if amp == "off" else amp) + (" + channels_last" if channels_last else "")


def _task(row: dict) -> str:
    return row.get("task", "train")


def _key(row: dict) -> tuple:
    return _task(row), row["device"], row["net"], row["size"]


@cache
def load() -> tuple[dict, ...]:
    return tuple(json.loads(TABLE.read_text())) if TABLE.exists() else ()


def record(row: dict, table: Path = TABLE) -> None:
    """Adds a measurement, replacing the row of the same task, device class, net and size. Where that row `kept`
    float32 over a faster setting, for what the faster one did to a model (its reason, measured), the new row keeps
    it too: a speed measurement alone does not undo a quality one."""
    rows = json.loads(table.read_text()) if table.exists() else []
    old = next((r for r in rows if _key(r) == _key(row)), {})
    if old.get("kept"):
        row = {**row, "amp": "off", "channels_last": False, "kept": old["kept"]}
    rows = [r for r in rows if _key(r) != _key(row)] + [row]
    rows.sort(key=_key)
    table.write_text(json.dumps(rows, indent=1) + "\n")
    load.cache_clear()
