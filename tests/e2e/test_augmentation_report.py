"""The augmentation report over HTTP on the real worker: an imbalanced labelled upload, a cgan trained on it with
its evaluation split held out, the report (every row on two seeds, the recommendation; the session's one report,
tests/e2e/conftest.py), its summary on the card, and augment's recommended mix in both formats; the refusals
before any work."""

import io
import json
import zipfile

import numpy as np
import pytest

from tests.datasets_builders import class_zip
from tests.e2e.conftest import COMMON, RARE
from tests.e2e.test_train_and_generate import assert_problem
from tests.helpers import TINY_NETS

pytestmark = pytest.mark.e2e

def test_a_job_with_hold_out_never_trains_on_the_evaluation_split(imbalanced_cgan):
    assert imbalanced_cgan["dataset"]["held_out"] is True
    # A fifth of each class is held out: 8 of 40, and 1 of 6 (round(1.2))
    assert imbalanced_cgan["dataset"]["count"] == 5 * (COMMON - 8) + 5 * (RARE - 1)


def test_the_report_measures_every_row_on_every_seed(report):
    result = report["result"]
    assert result["metric"] == "augmentation_gain" and result["held_out_from_gan"] is True
    assert result["rare_classes"] == ["5", "6", "7", "8", "9"]
    assert result["split"]["test_counts"] == {**{str(c): 8 for c in range(5)}, **{str(c): 1 for c in range(5, 10)}}
    rows = {row["name"]: row for row in result["rows"]}
    assert {"real", "oversample", "deform", "reweight", "synthetic_balance", "synthetic_balance_filtered",
            "synthetic_25"} <= set(rows)
    for row in rows.values():
        assert [run["seed"] for run in row["seeds"]] == [0, 1]
        for run in row["seeds"]:
            assert 0 <= run["rare_recall"] <= 1 and 0 <= run["balanced_accuracy"] <= 1
        assert row["vs_real"] is not None and row["vs_best_classic"] is not None
    assert rows["real"]["added"] == 0 and rows["real"]["vs_real"] == {"mean": 0.0, "std": 0.0}
    # balance: every class up to the largest (32 training images of each)
    assert rows["oversample"]["images"] == rows["synthetic_balance"]["images"] == 10 * (COMMON - 8)
    assert result["best_classic"] in ("oversample", "deform", "reweight")
    recommended = result["recommended"]
    if recommended["row"] == "real":
        assert "no measured gain" in recommended["words"]
    else:
        chosen = rows[recommended["row"]]
        assert chosen["deliverable"] and chosen["vs_real"]["mean"] > chosen["vs_real"]["std"]
    assert result["reference"]["accuracy"] > 0 and "reliable" in result["reference"]


def test_the_card_summarises_the_report(client, imbalanced_cgan, report):
    card = client.get(f"/v1/models/{imbalanced_cgan['id']}").json()
    summary = card["metrics"]["augmentation"]
    assert summary["evaluation_id"] == report["id"]
    assert summary["recommended"] == report["result"]["recommended"]
    assert [row["name"] for row in summary["rows"]] == [row["name"] for row in report["result"]["rows"]]
    assert card["metrics"]["scores"]["augmentation_gain"] == report["result"]["recommended"]["gain"]


def test_augment_hands_out_the_recommended_mix(client, imbalanced_cgan, report):
    mix = report["result"]["mix"]
    response = client.post(f"/v1/models/{imbalanced_cgan['id']}/augment",
                           json={"mix": "recommended", "format": "npz"})
    assert response.status_code == 200, response.text
    assert response.headers["x-augmentation-report"] == report["id"]
    assert response.headers["x-mix-row"] == report["result"]["recommended"]["row"] == mix["row"]
    with np.load(io.BytesIO(response.content)) as npz:
        images, labels, source = npz["images"], npz["labels"], npz["source"]
        sources, manifest = list(npz["sources"]), json.loads(str(npz["manifest"]))
    assert images.shape == (mix["real"] + mix["added"], 28, 28, 1)
    assert (source == sources.index("real")).sum() == mix["real"] == 5 * COMMON + 5 * RARE
    assert manifest["report_id"] == report["id"] and manifest["measured_gain"]["row"] == mix["row"]
    added = labels[source != sources.index("real")]
    assert {str(c): int((added == c).sum()) for c in range(10)} == mix["added_counts"]

    zipped = client.post(f"/v1/models/{imbalanced_cgan['id']}/augment", json={"mix": "recommended"})
    assert zipped.status_code == 200
    with zipfile.ZipFile(io.BytesIO(zipped.content)) as archive:
        names = archive.namelist()
        assert json.loads(archive.read("manifest.json"))["total"] == len(images)
    assert len([n for n in names if n.endswith(".png")]) == len(images)
    assert sum(n.startswith("5/real_") for n in names) == RARE


def test_a_model_without_a_report_gets_409_that_says_how_to_make_one(client, cgan):
    assert_problem(client.post(f"/v1/models/{cgan['id']}/augment", json={"mix": "recommended"}), 409,
                   "no augmentation report", "augmentation_gain")


def test_bad_report_requests_are_refused_before_any_work(client, imbalanced_cgan, trained_model, imbalanced):
    url = f"/v1/models/{imbalanced_cgan['id']}/evaluations"
    assert_problem(client.post(url, json={"metrics": ["augmentation_gain", "kid"]}), 422, "alone")
    assert_problem(client.post(url, json={"metrics": ["kid"], "seeds": 2}), 422, "augmentation_gain")
    assert_problem(client.post(url, json={"metrics": ["augmentation_gain"], "dataset": "digits-stripes"}), 422,
                   "labelled images of at least two classes", "two domains")
    one_class = client.post("/v1/datasets", files={"file": ("one.zip", class_zip({"only": 4}))})
    assert one_class.status_code == 201, one_class.text
    assert_problem(client.post(url, json={"metrics": ["augmentation_gain"], "dataset": one_class.json()["id"]}), 422,
                   "labelled images of at least two classes")
    assert_problem(client.post(url, json={"metrics": ["augmentation_gain"], "rare_classes": ["11"]}), 422,
                   "rare_classes")
    assert_problem(client.post(f"/v1/models/{trained_model['id']}/evaluations",
                               json={"metrics": ["augmentation_gain"]}), 422, "unconditional")
    assert_problem(client.post(f"/v1/models/{imbalanced_cgan['id']}/augment",
                               json={"mix": "recommended", "total": 5}), 422, "leave out counts and total")
    # nothing stored was touched: the data set and the model are as they were
    assert client.get(f"/v1/datasets/{imbalanced['id']}").status_code == 200
    assert client.get(f"/v1/models/{imbalanced_cgan['id']}").json()["dataset"]["held_out"] is True


def test_hold_out_needs_a_labelled_image_set(client):
    response = client.post("/v1/jobs", json={"dataset": "ring8", "model": {"arch": "mlp", **TINY_NETS},
                                             "hold_out": True})
    assert_problem(response, 422, "hold_out")
