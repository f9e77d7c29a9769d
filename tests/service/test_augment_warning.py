"""What augment says of plain synthetic data when the model's augmentation report measured it lowering accuracy."""

from core.kinds import card_for
from models.gan import GANConfig
from models.metrics.augmentation_gain import synthetic_verdict
from service.api.schemas import AugmentRequest
from service.serving.augment import plan_augment

CLASSES = [str(c) for c in range(10)]


def _row(name: str, group: str, change: float, filtered: bool = False) -> dict:
    return {"name": name, "group": group, "filtered": filtered, "vs_real": {"mean": change, "std": 0.01}}


def _card(report_rows: list[dict] | None):
    card = card_for(GANConfig(arch="cgan", num_classes=10), CLASSES, model_id="model_00000000000000ab")
    if report_rows is None:
        return card
    summary = {"evaluation_id": "job_00000000000000cd", "dataset": "mnist",
               "synthetic_verdict": synthetic_verdict({"rows": report_rows})}
    return card.model_copy(update={"metrics": {"augmentation": summary}})


def test_a_measured_loss_is_said_in_the_header_and_manifest_and_the_images_stay_the_same():
    rows = [_row("real", "real", 0.0), _row("synthetic_balance", "synthetic", -0.052),
            _row("synthetic_25", "synthetic", -0.01), _row("synthetic_balance_filtered", "synthetic", 0.03, True)]
    request = AugmentRequest(total=20, seed=3)
    warned, plain = plan_augment(_card(rows), request, 100), plan_augment(_card(None), request, 100)
    assert "job_00000000000000cd" in warned.warning and "-1.0 points" in warned.warning
    assert "mix recommended" in warned.manifest("zip")["warning"]
    assert plain.warning is None and "warning" not in plain.manifest("zip")
    assert warned.counts == plain.counts and warned.seed == plain.seed  # the same images, only the words differ


def test_no_warning_when_any_plain_synthetic_row_did_not_lose():
    rows = [_row("real", "real", 0.0), _row("synthetic_balance", "synthetic", -0.05),
            _row("synthetic_25", "synthetic", 0.0)]
    assert plan_augment(_card(rows), AugmentRequest(total=10), 100).warning is None
