"""How far the reference classifier's readings can be trusted, and what a job queued behind its training is told."""

from __future__ import annotations

import pytest
import torch
from redis import Redis

from core.card import ModelCard
from core.references import reference_wanted
from core.registry import Registry
from core.states import JobStatus
from core.store import LocalStore
from core.store.keys import reference_key
from models.checkpoint import tensors_from_bytes, tensors_to_bytes
from models.data import ImageDataset
from models.metrics.classifier import ClassifierConfig, ReferenceCNN, classifier_state, noise_confidence
from tests.helpers import TINY_JOB
from worker.evaluation import card_with
from worker.references import (
    RELIABLE_ACCURACY,
    NoLongerWanted,
    Reference,
    reference_classifier,
    until_unwanted,
    waiting_reporter,
)


def reference_at(accuracy: float, held_out: int = 200) -> Reference:
    return Reference(net=None, held_out=torch.arange(held_out), accuracy=accuracy, fingerprint="f" * 64)


def test_a_classifier_at_95_percent_or_more_is_reliable():
    assert RELIABLE_ACCURACY == 0.95
    assert reference_at(0.981, 1000).reliability() == {"accuracy": 0.981, "held_out_images": 1000, "reliable": True}
    assert reference_at(0.95).reliability()["reliable"] is True


def test_a_weak_classifier_says_why_its_figures_are_weak_evidence():
    reliability = reference_at(0.525, 40).reliability()
    assert reliability["reliable"] is False and reliability["held_out_images"] == 40
    assert reliability["why"] == ("the data set's reference classifier reaches 52.5 % on its held-out images (below "
                                  "95 %): figures it reads (domain scores, classifier-feature FD/KID/PRDC, CAS) are "
                                  "weak evidence")


def reading_noise_at(confidence: float, classes: int) -> Reference:
    net = ReferenceCNN(ClassifierConfig(channels=1, image_size=8, num_classes=classes))
    return Reference(net=net, held_out=torch.arange(200), accuracy=0.98, fingerprint="f" * 64,
                     noise_confidence=confidence)


def test_a_classifier_sure_of_noise_says_what_its_confidence_means():
    sure = reading_noise_at(0.997, 10).reliability()
    assert sure["noise_confidence"] == 0.997 and sure["reliable"] is True
    assert sure["confidence_caveat"].startswith("it reads uniform noise with a mean confidence of 1.00: its confidence "
                                                "and class shares say which class")
    assert reading_noise_at(0.26, 4).reliability() == {"accuracy": 0.98, "held_out_images": 200, "reliable": True,
                                                       "noise_confidence": 0.26}


@pytest.mark.parametrize(("classes", "unsure", "sure"), [(2, 0.74, 0.76), (4, 0.62, 0.63), (10, 0.54, 0.56)])
def test_sure_of_noise_means_more_than_halfway_from_an_even_reading_to_certainty(classes, unsure, sure):
    assert "confidence_caveat" not in reading_noise_at(unsure, classes).reliability()
    assert "confidence_caveat" in reading_noise_at(sure, classes).reliability()


def two_classes(name: str, separable: bool) -> ImageDataset:
    """40 8x8 images of two classes: a flat gray level per class (easy), or noise with random labels (hopeless)."""
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(40) % 2
    if separable:
        images = (40 + 160 * labels).to(torch.uint8).view(-1, 1, 1, 1).expand(-1, 1, 8, 8).contiguous()
    else:
        images = torch.randint(0, 256, (40, 1, 8, 8), dtype=torch.uint8, generator=generator)
        labels = labels[torch.randperm(40, generator=generator)]
    return ImageDataset(name, images, labels, ("a", "b"))


@pytest.mark.parametrize("separable", [True, False])
def test_the_trained_classifier_is_flagged_by_its_held_out_accuracy_also_when_read_back(tmp_path, separable):
    store, dataset = LocalStore(tmp_path), two_classes("tiny", separable)
    epochs: list[tuple[int, int]] = []
    trained = reference_classifier(dataset, store, on_epoch=lambda done, total: epochs.append((done, total)))
    assert epochs == [(i, 8) for i in range(1, 9)]
    assert trained.reliability()["reliable"] is separable
    assert trained.reliability()["held_out_images"] == 8  # a fifth of each class
    assert ("why" in trained.reliability()) is not separable
    assert reference_classifier(dataset, store).reliability() == trained.reliability()  # from the store


def test_the_confidence_on_noise_is_measured_once_and_stored_and_measured_again_for_a_store_from_before(tmp_path):
    store, dataset = LocalStore(tmp_path), two_classes("tiny", True)
    trained = reference_classifier(dataset, store)
    key = reference_key(dataset.checksum(), dataset.shape)
    tensors, meta = tensors_from_bytes(store.get_bytes(key))
    assert meta["noise_confidence"] == trained.noise_confidence == noise_confidence(trained.net)
    store.put_bytes(key, tensors_to_bytes(tensors, {**meta, "noise_confidence": 0.123}))
    assert reference_classifier(dataset, store).noise_confidence == 0.123  # read, not measured
    store.put_bytes(key, tensors_to_bytes(tensors, {k: v for k, v in meta.items() if k != "noise_confidence"}))
    assert reference_classifier(dataset, store).noise_confidence == trained.noise_confidence


@pytest.mark.parametrize("rule", ["min_blocks", "outlier_weight"])
def test_a_stored_classifier_built_by_an_older_rule_is_trained_again(tmp_path, rule):
    store = LocalStore(tmp_path)
    colour = ImageDataset("colour", torch.randint(0, 256, (40, 3, 16, 16), dtype=torch.uint8), torch.arange(40) % 2,
                          ("a", "b"))
    current = reference_classifier(colour, store)
    assert (current.net.config.blocks, current.net.config.outlier_weight) == (3, 0.5)
    tensors, meta = tensors_from_bytes(store.get_bytes(reference_key(colour.checksum(), colour.shape)))
    old_config = {k: v for k, v in meta["config"].items() if k != rule}  # as stored before the field
    old_net = ReferenceCNN(ClassifierConfig.from_json(old_config))
    old_tensors, _ = classifier_state(old_net)
    store.put_bytes(reference_key(colour.checksum(), colour.shape), tensors_to_bytes(
        {**old_tensors, "held_out": tensors["held_out"]}, {**meta, "config": old_config, "fingerprint": "old"}))
    again = reference_classifier(colour, store)
    assert (again.net.config.blocks, again.net.config.outlier_weight) == (3, 0.5)
    assert again.fingerprint not in ("old", None)
    assert reference_classifier(colour, store).fingerprint == again.fingerprint  # and stored for the next job


def test_the_card_carries_the_reliability_of_the_figures_it_shows():
    card = ModelCard.model_construct(metrics={"scores": {"fid_inception": 3.0}})
    result = {"rows": [], "scores": {"confidence": 0.9}, "seconds": 1.0, "spec": {},
              "reference": reference_at(0.525).reliability()}
    scored = card_with(card, result, "job-1")
    assert scored.metrics["reference"] == result["reference"] and scored.metrics["reference"]["reliable"] is False
    assert scored.metrics["scores"] == {"fid_inception": 3.0, "confidence": 0.9}
    without = {k: v for k, v in result.items() if k != "reference"}  # figures that do not rest on its readings
    assert "reference" not in card_with(card, without, None).metrics


def test_each_epoch_reports_progress_and_an_eta():
    reports: list[dict] = []
    on_epoch = waiting_reporter(reports.append, "ds-1")
    for done in (1, 2, 4):
        on_epoch(done, 4)
    assert [(r["epoch"], r["epochs"]) for r in reports] == [(1, 4), (2, 4), (4, 4)]
    assert {r["for"] for r in reports} == {"reference classifier"} and {r["dataset"] for r in reports} == {"ds-1"}
    assert all(r["eta_s"] >= 0 for r in reports) and reports[-1]["eta_s"] == 0


@pytest.fixture
def quiet_registry(redis_url):
    """A database no worker listens on, so the job stays queued."""
    client = Redis.from_url(redis_url.rsplit("/", 1)[0] + "/4")
    yield Registry(client)
    client.close()


def test_a_queued_job_shows_what_it_waits_for_until_it_runs(quiet_registry):
    registry = quiet_registry
    job, _ = registry.create_job(TINY_JOB)
    waiting = {"for": "reference classifier", "dataset": "ds-1", "epoch": 3, "epochs": 8, "eta_s": 12.5}
    assert registry.note_waiting(job["id"], waiting)
    assert registry.get_job(job["id"])["waiting"] == waiting
    assert registry.get_job(job["id"])["status"] == JobStatus.QUEUED
    assert registry.events(job["id"])[-1] == {**registry.events(job["id"])[-1], "event": "waiting", "data": waiting}

    assert registry.begin_job(job["id"], "token", ttl_s=30, worker="w", max_attempts=3) == ("running", 1)
    assert "waiting" not in registry.get_job(job["id"])  # moot once it runs
    late = {**waiting, "epoch": 8, "eta_s": 0}
    assert not registry.note_waiting(job["id"], late)  # a late note never touches a running job
    job_now = registry.get_job(job["id"])
    assert job_now["status"] == JobStatus.RUNNING and "waiting" not in job_now
    assert registry.events(job["id"])[-1]["event"] == "status"


def test_a_note_on_a_missing_or_cancelled_job_is_dropped(quiet_registry):
    registry = quiet_registry
    assert not registry.note_waiting("job-missing", {"for": "reference classifier"})
    assert not registry.redis.exists("gf:job:job-missing")
    job, _ = registry.create_job(TINY_JOB)
    registry.note_waiting(job["id"], {"for": "reference classifier"})
    registry.cancel_job(job["id"])
    assert "waiting" not in registry.get_job(job["id"])
    assert not registry.note_waiting(job["id"], {"for": "reference classifier"})


def test_a_reference_classifier_is_wanted_while_a_job_on_its_set_and_size_is_queued(quiet_registry):
    registry = quiet_registry
    first, _ = registry.create_job({**TINY_JOB, "dataset": "ds-wanted"})
    assert reference_wanted(registry, "ds-wanted", None, first["id"])
    registry.cancel_job(first["id"])
    assert not reference_wanted(registry, "ds-wanted", None, first["id"])
    larger, _ = registry.create_job({**TINY_JOB, "dataset": "ds-wanted",
                                     "model": {**TINY_JOB["model"], "image_size": 32}})
    assert not reference_wanted(registry, "ds-wanted", None, first["id"])  # another size: another classifier
    assert reference_wanted(registry, "ds-wanted", 32, first["id"])
    second, _ = registry.create_job({**TINY_JOB, "dataset": "ds-wanted"})
    assert reference_wanted(registry, "ds-wanted", None, first["id"])  # its own task would train the same
    for job in (larger, second):
        registry.cancel_job(job["id"])


def test_a_reference_training_stops_at_the_pass_after_its_last_job_is_cancelled(tmp_path, quiet_registry):
    registry, store = quiet_registry, LocalStore(tmp_path)
    job, _ = registry.create_job({**TINY_JOB, "dataset": "ds-stop"})
    passes: list[int] = []

    def on_epoch(done: int, epochs: int) -> None:
        passes.append(done)
        if done == 2:
            registry.cancel_job(job["id"])  # the user cancels while the classifier trains

    wanted = lambda: reference_wanted(registry, "ds-stop", None, job["id"])  # noqa: E731
    dataset = two_classes("stop", True)
    with pytest.raises(NoLongerWanted, match="after pass 2 of 8"):
        reference_classifier(dataset, store, on_epoch=until_unwanted(on_epoch, wanted))
    assert passes == [1, 2]
    assert not store.exists(reference_key(dataset.checksum(), dataset.shape)), "nothing stored that no one waits for"
