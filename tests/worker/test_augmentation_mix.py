"""The recommended mix end to end in one process: what the report's job stores for a row that adds images, and
what augment (mix recommended) streams from it — every real image, then the row's additions, named by source."""

import io
import json
import zipfile

import numpy as np
import pytest
import torch

from core.datasets import dataset_checksum, load_dataset
from core.kinds import card_for
from core.store import LocalStore
from models.gan import GANConfig, build_generator
from models.metrics import augmentation_gain as report
from service.api.problems import Problem
from service.serving import mixes
from worker.augmentation_report import _store_mix, synthesizer

JOB = "job_00000000000000e1"


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", None, 28)


def made_mix(row: str, digits, store):
    gan = GANConfig(arch="cgan", num_classes=10, latent_dim=8, g_width=8, d_width=8)
    torch.manual_seed(0)
    card = card_for(gan, list(digits.classes), model_id="model_00000000000000e1")
    classes = list(digits.classes)
    inputs = report.ReportInputs(report.Split(digits.images, digits.labels),
                                 report.Split(digits.images[:10], digits.labels[:10]), classes, [], 1,
                                 synthesizer(build_generator(gan).eval(), card, classes))
    result = {"recommended": {"row": row, "gain": 0.03, "spread": 0.01, "words": f"{row}: +3.0 ± 1.0 points"},
              "dataset": {"id": "digits", "checksum": dataset_checksum("digits", store), "own": True}}
    mix = _store_mix(JOB, result, digits, inputs, store)
    summary = {"evaluation_id": JOB, "recommended": result["recommended"], "dataset": "digits",
               "held_out_from_gan": False, "reliable": True, "mix": mix}
    return card.model_copy(update={"metrics": {"augmentation": summary}}), mix


def npz_of(plan) -> dict:
    with np.load(io.BytesIO(b"".join(mixes.stream(plan, "npz", lambda n: None)))) as npz:
        return {name: npz[name] for name in npz.files}


def test_oversample_plus_synthetic_streams_every_real_image_then_repeats_and_synthetic_ones(digits, tmp_path):
    store = LocalStore(tmp_path / "store")
    card, mix = made_mix("oversample_synthetic_25", digits, store)
    counts = torch.bincount(digits.labels, minlength=10)
    top = int(counts.max())
    arrays = npz_of(mixes.plan_mix(card, store, 100_000))
    source, labels, sources = arrays["source"], arrays["labels"], list(arrays["sources"])
    assert (source == sources.index("real")).sum() == len(digits.labels) == mix["real"]
    assert np.array_equal(arrays["images"][: len(digits.labels), ..., 0], digits.images[:, 0].numpy())
    repeats = labels[source == sources.index("repeated")]
    assert np.array_equal(np.bincount(repeats, minlength=10), (top - counts).numpy())  # balanced by repeats
    synthetic = labels[source == sources.index("synthetic")]
    assert len(synthetic) == round(0.25 / 0.75 * top * 10) and np.ptp(np.bincount(synthetic, minlength=10)) <= 1
    assert {c: int((labels[len(digits.labels):] == int(c)).sum()) for c in digits.classes} == mix["added_counts"]
    manifest = json.loads(str(arrays["manifest"]))
    assert manifest["row"] == "oversample_synthetic_25" and manifest["by_source"]["synthetic"] == len(synthetic)


def test_deform_streams_a_zip_named_by_source_and_the_same_bytes_again(digits, tmp_path):
    store = LocalStore(tmp_path / "store")
    card, mix = made_mix("deform", digits, store)
    plan = mixes.plan_mix(card, store, 100_000)
    data = b"".join(mixes.stream(plan, "zip", lambda n: None))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = [n for n in archive.namelist() if n.endswith(".png")]
    assert len(names) == mix["real"] + mix["added"]
    assert {n.split("/")[1].split("_")[0] for n in names} == {"real", "repeated", "deformed"}
    assert sum(n.startswith("7/deformed_") for n in names) == int(torch.bincount(digits.labels).max())
    assert data[:1000] == b"".join(mixes.stream(mixes.plan_mix(card, store, 100_000), "zip", lambda n: None))[:1000]


def test_a_mix_over_the_servers_cap_or_whose_report_is_gone_is_refused(digits, tmp_path):
    store = LocalStore(tmp_path / "store")
    card, mix = made_mix("oversample", digits, store)
    with pytest.raises(Problem) as over:
        mixes.plan_mix(card, store, 100)
    assert over.value.status == 422 and "max_augment_images" in over.value.detail
    store.delete_prefix(f"jobs/{JOB}")
    with pytest.raises(Problem) as gone:
        mixes.plan_mix(card, store, 100_000)
    assert gone.value.status == 409 and "make a new report" in gone.value.detail
