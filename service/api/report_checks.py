"""What the augmentation report needs, checked before a job is queued: a class-conditional image model, and a
labelled image set whose classes the model draws, with at least two images of each class (one to train on, one
to test on)."""

from __future__ import annotations

from core.card import ModelCard
from core.spec import EvaluationSpec
from service.api.problems import Problem

NEEDS = "the augmentation report needs labelled images of at least two classes"


def check_report_request(card: ModelCard, spec: EvaluationSpec, dataset: dict | None, max_images: int) -> None:
    if card.data_kind != "images" or not card.conditional:
        raise Problem(422, f"the augmentation report asks the generator for images of each class; model {card.id} "
                           f"is {'unconditional' if card.data_kind == 'images' else 'a 2-D point model'}: train a "
                           "class-conditional family (cgan, acgan, or conditional: true) on a labelled set")
    name = spec.dataset or (card.dataset.id if card.dataset else "?")
    if dataset is None:
        raise Problem(422 if spec.dataset else 409,
                      f"dataset: unknown data set {name!r}" if spec.dataset else
                      f"model {card.id}'s data set {name!r} no longer exists: name another with dataset")
    if dataset["kind"] != "images" or len(dataset["classes"]) < 2:
        held = "two domains" if dataset["kind"] in ("paired", "unpaired") else \
            "2-D points" if dataset["kind"] == "points" else "images of one class or none"
        raise Problem(422, f"{NEEDS}; data set {name} holds {held}")
    if dataset.get("count", 0) > max_images:
        raise Problem(422, f"data set {name} holds {dataset['count']} images; the augmentation report measures sets "
                           f"of at most {max_images} (the server's max_report_images): upload a stratified sample")
    unknown = [c for c in dataset["classes"] if c not in card.classes]
    if unknown:
        raise Problem(422, f"data set {name}'s classes {', '.join(map(repr, unknown[:10]))} are not among model "
                           f"{card.id}'s ({', '.join(card.classes[:20])}): the report asks the model for each class")
    thin = [c for c, k in dataset.get("class_counts", {}).items() if k < 2]
    if thin:
        raise Problem(422, f"{NEEDS}, and two images of each (one to train on, one to test on): class "
                           f"{', '.join(map(repr, thin[:10]))} of data set {name} has fewer")
    strangers = [c for c in spec.rare_classes or () if c not in dataset["classes"]]
    if strangers:
        raise Problem(422, f"rare_classes: {', '.join(map(repr, strangers[:10]))} not among data set {name}'s "
                           f"classes ({', '.join(dataset['classes'][:20])})")
