"""What the augmentation report needs, refused before a job is queued: each refusal says what it needs."""

import pytest

from core.kinds import card_for
from core.spec import EvaluationSpec
from models.gan import GANConfig
from service.api.problems import Problem
from service.api.report_checks import check_report_request

CLASSES = ["cat", "dog"]
CONDITIONAL = card_for(GANConfig(arch="cgan", num_classes=2), CLASSES, model_id="model_00000000000000f1")
SPEC = EvaluationSpec(metrics=["augmentation_gain"], model_id=CONDITIONAL.id)


def manifest(**changes) -> dict:
    return {"kind": "images", "classes": CLASSES, "class_counts": {"cat": 30, "dog": 4}, "count": 34, **changes}


def refusal(card=CONDITIONAL, spec=SPEC, dataset=None, cap=20_000) -> Problem:
    with pytest.raises(Problem) as refused:
        check_report_request(card, spec, manifest() if dataset is None else dataset, cap)
    return refused.value


def test_a_labelled_set_the_model_draws_is_accepted():
    check_report_request(CONDITIONAL, SPEC, manifest(), 20_000)


@pytest.mark.parametrize(("dataset", "says"), [
    (manifest(kind="unpaired"), "two domains"),
    (manifest(classes=["cat"], class_counts={"cat": 9}), "images of one class or none"),
    (manifest(kind="points"), "2-D points"),
    (manifest(class_counts={"cat": 30, "dog": 1}), "two images of each"),
    (manifest(classes=["cat", "cow"], class_counts={"cat": 3, "cow": 3}), "'cow'"),
])
def test_what_the_data_set_lacks_is_said(dataset, says):
    problem = refusal(dataset=dataset)
    assert problem.status == 422 and says in problem.detail


def test_a_set_over_the_servers_cap_and_unknown_rare_classes_are_refused():
    assert "max_report_images" in refusal(cap=20).detail
    spec = EvaluationSpec(metrics=["augmentation_gain"], rare_classes=["bird"], model_id=CONDITIONAL.id)
    assert "rare_classes" in refusal(spec=spec).detail


def test_an_unconditional_model_cannot_be_asked_for_each_class():
    dcgan = card_for(GANConfig(arch="dcgan"), [], model_id="model_00000000000000f2")
    assert "unconditional" in refusal(card=dcgan).detail
