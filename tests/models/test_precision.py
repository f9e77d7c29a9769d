"""`amp: auto` and an unset `channels_last` take the fastest setting measured for the device class and net
(models/speed_table.json); float32 where nothing was measured; a job's own setting always wins."""

import json

import pytest
import torch

from models import speed_table
from models.gan import GANConfig
from models.trainer import TrainConfig, Trainer

CGAN = GANConfig(arch="cgan", data_shape=(1, 28, 28), num_classes=10, g_width=8, d_width=8, latent_dim=8)
CGAN_32 = GANConfig(arch="cgan", data_shape=(3, 32, 32), num_classes=10, g_width=8, d_width=8, latent_dim=8)
POINTS = GANConfig(arch="mlp", data_shape=(2,), latent_dim=2, hidden=16)
PIX2PIX = GANConfig(arch="pix2pix", data_shape=(1, 28, 28), source_shape=(1, 28, 28), g_width=8, d_width=8)
CPU, CUDA = torch.device("cpu"), torch.device("cuda")


@pytest.fixture(params=[True, False], ids=["amx", "bf16-emulated"])
def amx(request, monkeypatch) -> bool:
    """A CPU with AMX, or one with neither AMX nor AVX-512 BF16 (bf16 emulated)."""
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: request.param)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: request.param)
    return request.param


def test_every_row_names_the_fastest_setting_it_measured():
    rows = json.loads(speed_table.TABLE.read_text())
    assert rows and len({(r.get("task"), r["device"], r["net"], r["size"]) for r in rows}) == len(rows)
    for row in rows:
        speeds = row["images_per_s"]
        fastest = max(speeds, key=speeds.get)
        if row.get("task") == "serve" and speeds[fastest] < speed_table.SERVE_MARGIN * speeds["float32"]:
            fastest = "float32"  # serving keeps the exact images unless another setting is clearly faster
        if row.get("kept"):
            fastest = "float32"  # kept over a faster setting for what that one did to the model, measured
        assert speed_table.setting_name(row["amp"], row["channels_last"]) == fastest, row
        assert row["machine"] and row["date"] and row["command"]


def test_auto_follows_the_table_on_a_cpu(amx):
    assert Trainer(CGAN, TrainConfig()).precision == ("bf16" if amx else "float32")
    assert Trainer(POINTS, TrainConfig()).precision == "float32"  # no row: nothing measured
    assert speed_table.choose(CPU, PIX2PIX).amp is None


def test_a_cpu_with_avx512_bf16_but_no_amx_reads_rows_of_its_own(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    assert speed_table.device_class(CPU) == "cpu-bf16"
    choice = speed_table.choose(CPU, CGAN)
    assert choice.amp == torch.bfloat16 and "AMD EPYC" in choice.reason  # the row measured on such a CPU
    infogan = GANConfig(arch="infogan", data_shape=(1, 28, 28), cat_codes=10, cont_codes=2, fc_stem=1024)
    kept = speed_table.choose(CPU, infogan)  # its FC nets' own row: bf16 was faster, float32 kept for the codes
    assert kept.amp is None and "kept over the faster bf16" in kept.reason and "standard-conv-fc" in kept.reason
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    assert speed_table.device_class(CPU) == "cpu" and speed_table.choose(CPU, CGAN).amp is None


def test_a_size_without_a_row_takes_the_nearest_measured_one_and_says_so(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    choice = speed_table.choose(CPU, CGAN_32)
    assert choice.amp == torch.bfloat16
    assert "at 28 px (the nearest size measured to 32 px)" in choice.reason


def test_on_cuda_the_table_keeps_float32_where_bf16_measured_slower():
    choice = speed_table.choose(CUDA, CGAN)
    assert choice.amp is None and not choice.channels_last and "H200" in choice.reason
    assert speed_table.choose(CUDA, CGAN, channels_last=True).channels_last


def test_an_explicit_setting_wins_over_auto(amx):
    assert Trainer(CGAN, TrainConfig(amp="off")).precision == "float32"
    trainer = Trainer(POINTS, TrainConfig(amp="bf16"))
    assert trainer.precision == "bf16" and trainer.precision_reason == "train.amp: bf16"


def test_the_bench_replaces_a_row_of_the_same_device_net_and_size(tmp_path):
    table = tmp_path / "table.json"
    row = {"device": "cpu", "net": "standard-conv", "size": 28, "batch": 64, "amp": "off", "channels_last": False,
           "images_per_s": {"float32": 10.0, "bf16": 5.0}, "machine": "m", "date": "d", "command": "c"}
    speed_table.record(row, table)
    speed_table.record({**row, "amp": "bf16", "images_per_s": {"float32": 5.0, "bf16": 10.0}}, table)
    speed_table.record({**row, "size": 64}, table)
    rows = json.loads(table.read_text())
    assert [(r["size"], r["amp"]) for r in rows] == [(28, "bf16"), (64, "off")]


def test_float32_kept_for_quality_survives_a_new_speed_measurement(tmp_path):
    table = tmp_path / "table.json"
    row = {"device": "cpu-bf16", "net": "standard-conv-fc", "size": 28, "batch": 64, "amp": "off",
           "channels_last": False, "images_per_s": {"float32": 7.0, "bf16": 10.0}, "machine": "m", "date": "d",
           "command": "c", "kept": "bf16 read worse"}
    speed_table.record(row, table)
    speed_table.record({k: v for k, v in row.items() if k != "kept"} | {"amp": "bf16"}, table)
    [kept] = json.loads(table.read_text())
    assert kept["amp"] == "off" and kept["kept"] == "bf16 read worse"
    assert speed_table.describe(kept, 28).startswith("float32: kept over the faster bf16 (bf16 read worse)")


def test_bf16_training_on_a_cpu_changes_g_keeps_float32_weights_and_finite_losses():
    images = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8)
    trainer = Trainer(CGAN, TrainConfig(max_steps=4, batch_size=16, amp="bf16"))
    before = [p.detach().clone() for p in trainer.generator.parameters()]
    history = trainer.fit(images, torch.arange(64) % 10).history
    assert all(p.dtype == torch.float32 for p in trainer.generator.parameters())  # autocast keeps fp32 weights
    assert all(torch.isfinite(torch.tensor([row["loss_d"], row["loss_g"]])).all() for row in history)
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.generator.parameters(), strict=True))


def test_infogans_fc_nets_are_not_taken_for_the_conv_nets_measured(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    infogan = GANConfig(arch="infogan", data_shape=(1, 28, 28), cat_codes=10, cont_codes=2, fc_stem=1024)
    assert speed_table.net_key(infogan) == "standard-conv-fc" and speed_table.choose(CPU, infogan).amp is None
