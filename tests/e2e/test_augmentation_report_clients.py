"""The augmentation report from the Python client, the `ganforge` command and the dashboard, against the real API,
worker and browser: one report, made once for the module by `ganforge evaluate` (the client underneath), then its
recommended mix through Client, AsyncClient, SyntheticDataset and `ganforge augment`, and its chart on the model's
page. The report is the session's one (tests/e2e/conftest.py), made by `ganforge evaluate`."""

import asyncio
import json
from collections import Counter

import numpy as np
import pytest
from ganforge_client import AsyncClient, Client, GANForgeError

from tests.e2e.conftest import COMMON, RARE, ganforge
from tests.e2e.test_dashboard import browser, page, shots  # noqa: F401

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def gf(api_url):
    with Client(api_url, timeout=60) as client:
        yield client


def test_the_cli_prints_the_recommendation_and_a_row_per_training_set(evaluated, report):
    result = report["result"]
    assert report["status"] == "succeeded" and result["metric"] == "augmentation_gain"
    assert [run["seed"] for run in result["rows"][0]["seeds"]] == [0, 1]
    lines = evaluated.stdout.splitlines()
    assert lines[0].startswith(f"job {report['id']} queued (augmentation report of ")
    assert f"recommended: {result['recommended']['words']}" in lines
    table = {line.split()[0]: line for line in lines if line.split() and line.split()[0] in
             {row["name"] for row in result["rows"]}}
    assert list(table) == [row["name"] for row in result["rows"]]
    real = result["rows"][0]["balanced_accuracy"]
    assert f"{100 * real['mean']:.1f} ± {100 * real['std']:.1f} %" in table["real"]
    assert table[result["recommended"]["row"]].endswith(" *")
    if result["best_classic"] != result["recommended"]["row"]:
        assert table[result["best_classic"]].endswith("(best classic)")
    assert [line[len("note: "):] for line in lines if line.startswith("note: ")] == result["notes"]


def test_the_client_downloads_the_recommended_mix_with_what_it_follows(gf, imbalanced_cgan, report, tmp_path):
    mix = report["result"]["mix"]
    got = gf.augment(imbalanced_cgan["id"], tmp_path, mix="recommended")
    assert (got.report_id, got.mix_row) == (report["id"], report["result"]["recommended"]["row"])
    assert got.measured_gain.startswith(f"{report['result']['recommended']['gain']:+.4f} balanced accuracy")
    assert got.image_count == mix["real"] + mix["added"] == got.manifest["total"]
    assert got.manifest["report_id"] == report["id"] and got.warning is None
    pngs = list(tmp_path.rglob("*.png"))
    assert len(pngs) == got.image_count
    assert Counter(p.name.split("_")[0] for p in pngs)["real"] == mix["real"] == 5 * COMMON + 5 * RARE
    assert sum(1 for p in pngs if p.parent.name == "5" and p.name.startswith("real_")) == RARE


def test_plain_synthetic_data_carries_the_reports_warning_when_it_measured_a_loss(gf, imbalanced_cgan, report,
                                                                                   tmp_path):
    got = gf.augment(imbalanced_cgan["id"], tmp_path, total=20, seed=0)
    assert got.mix_row is None and got.image_count == 20
    card = gf.model(imbalanced_cgan["id"])
    if card["metrics"]["augmentation"]["synthetic_verdict"]:
        assert report["id"] in got.warning and got.manifest["warning"] == got.warning
    else:
        assert got.warning is None and "warning" not in got.manifest


def test_the_async_client_downloads_the_recommended_mix_as_npz(api_url, imbalanced_cgan, report, tmp_path):
    async def download():
        async with AsyncClient(api_url, timeout=60) as client:
            return await client.augment(imbalanced_cgan["id"], tmp_path, format="npz", mix="recommended")

    got = asyncio.run(download())
    assert got.path == tmp_path / "augment.npz" and got.report_id == report["id"]
    with np.load(got.path) as npz:
        assert len(npz["images"]) == got.image_count
        assert json.loads(str(npz["manifest"]))["row"] == got.mix_row


def test_the_synthetic_dataset_streams_the_recommended_mix_with_labels(api_url, imbalanced_cgan, report):
    from ganforge_client import SyntheticDataset

    mix = report["result"]["mix"]
    data = SyntheticDataset(imbalanced_cgan["id"], mix="recommended", base_url=api_url)
    assert len(data) == mix["real"] + mix["added"]
    pairs = list(data)
    assert len(pairs) == len(data) and pairs[0][0].shape == (1, 28, 28)
    classes = imbalanced_cgan["classes"]
    have = {str(c): COMMON if c < 5 else RARE for c in range(10)}
    assert Counter(classes[label] for _, label in pairs) == {
        name: have[name] + mix["added_counts"][name] for name in have if have[name] + mix["added_counts"][name]}


def test_the_cli_downloads_the_recommended_mix(api_url, imbalanced_cgan, report, tmp_path):
    made = ganforge("augment", imbalanced_cgan["id"], "--mix", "recommended", "-o", str(tmp_path / "mix"),
                    "--url", api_url)
    assert made.returncode == 0, made.stderr
    mix = report["result"]["mix"]
    assert f"{mix['real'] + mix['added']} images in " in made.stdout and report["id"] in made.stdout
    assert sum(1 for _ in (tmp_path / "mix").rglob("*.png")) == mix["real"] + mix["added"]


def test_the_models_page_charts_every_row_with_the_recommended_one_marked(page, imbalanced_cgan, report,  # noqa: F811
                                                                          shots):  # noqa: F811
    result = report["result"]
    page.goto(f"/ui/#/models/{imbalanced_cgan['id']}")
    page.wait_for_function("() => document.querySelectorAll('#augmentation-chart rect.bar').length > 0")
    bars = page.locator("#augmentation-chart rect.bar")
    assert bars.count() == len(result["rows"])
    assert [bars.nth(i).get_attribute("data-row") for i in range(bars.count())] == [r["name"] for r in result["rows"]]
    recommended = page.locator("#augmentation-chart rect.bar.recommended")
    assert recommended.count() == 1 and recommended.get_attribute("data-row") == result["recommended"]["row"]
    assert page.locator("#augmentation-chart rect.bar.real").get_attribute("data-row") == "real"
    assert page.locator("#augmentation-chart rect.bar.best-classic").get_attribute("data-row") == result["best_classic"]
    assert page.locator("#augmentation-chart line.error-bar").count() == 3 * len(result["rows"])
    # a longer bar for a higher mean balanced accuracy
    widths = {r["name"]: float(bars.nth(i).get_attribute("width")) for i, r in enumerate(result["rows"])}
    means = {r["name"]: r["balanced_accuracy"]["mean"] for r in result["rows"]}
    assert sorted(widths, key=widths.get) == sorted(means, key=means.get)
    assert result["recommended"]["words"] in page.text_content("#augmentation-words")
    assert page.locator("#augmentation-notes li").all_text_contents() == result["notes"]
    page.locator("#augmentation").screenshot(path=shots / "dashboard-augmentation.png")


def test_the_client_refuses_counts_with_the_recommended_mix_before_asking(gf, imbalanced_cgan, tmp_path):
    with pytest.raises(ValueError, match="leave out counts and total"):
        gf.augment(imbalanced_cgan["id"], tmp_path, total=5, mix="recommended")
    assert list(tmp_path.iterdir()) == []


def test_a_model_without_a_report_raises_the_servers_409(gf, trained_model, tmp_path):
    with pytest.raises(GANForgeError) as refused:
        gf.augment(trained_model["id"], tmp_path, mix="recommended")
    assert refused.value.status == 409 and "augmentation_gain" in refused.value.detail
    assert list(tmp_path.iterdir()) == []  # the spool file is gone


def test_submit_job_sends_hold_out(gf):
    # the server refuses hold_out on a data set of points: it was sent
    with pytest.raises(GANForgeError, match="hold_out"):
        gf.submit_job("ring8", model={"arch": "mlp"}, hold_out=True)


def test_the_cli_sends_hold_out(api_url):
    refused = ganforge("train", "ring8", "--arch", "mlp", "--hold-out", "--url", api_url)
    assert refused.returncode == 1 and "hold_out" in refused.stderr


def test_augmentation_report_sends_its_options_and_the_server_checks_them(gf, imbalanced_cgan):
    with pytest.raises(GANForgeError, match="rare_classes"):
        gf.augmentation_report(imbalanced_cgan["id"], seeds=2, rare_classes=["11"])


def test_the_cli_refuses_misplaced_options_before_asking(api_url, imbalanced_cgan):
    mixed = ganforge("augment", imbalanced_cgan["id"], "--mix", "recommended", "--total", "5", "--url", api_url)
    assert mixed.returncode == 1 and "leave out --total and --count" in mixed.stderr
    report_only = ganforge("evaluate", imbalanced_cgan["id"], "--metrics", "kid", "--seeds", "2", "--url", api_url)
    assert report_only.returncode == 1 and "--seeds apply to --metrics augmentation_gain alone" in report_only.stderr
    samples = ganforge("evaluate", imbalanced_cgan["id"], "--metrics", "augmentation_gain", "--samples", "100",
                       "--url", api_url)
    assert samples.returncode == 1 and "--samples score generated samples" in samples.stderr


def test_the_cli_evaluates_other_metrics_and_prints_their_scores(api_url, gf, imbalanced_cgan, report):
    # last in the module: it changes the card's scores (its augmentation summary stays)
    scored = ganforge("evaluate", imbalanced_cgan["id"], "--metrics", "domain,kid", "--samples", "100", "--seed", "3",
                      "--url", api_url, timeout=300)
    assert scored.returncode == 0, scored.stderr
    job = gf.job(scored.stdout.splitlines()[0].split()[1])
    assert job["spec"]["metrics"] == ["domain", "kid"] and job["spec"]["samples"] == 100
    printed = dict(line.split() for line in scored.stdout.splitlines()[1:])
    assert set(printed) == set(job["result"]["scores"]) and "kid_classifier" in printed
    assert gf.model(imbalanced_cgan["id"])["metrics"]["augmentation"]["evaluation_id"] == report["id"]
