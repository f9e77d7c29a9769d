"""Every family is selectable over HTTP, trains on the real worker and serves its own inputs."""

import io

import pytest
from PIL import Image

from models.gan import FAMILIES
from tests import toy_family
from tests.e2e.test_train_and_generate import assert_problem, png
from tests.helpers import TINY_STEPS, train_model

pytestmark = pytest.mark.e2e

@pytest.mark.parametrize("arch,dataset,extra", [
    ("mlp", "ring8", {}), ("wgan-gp", "digits", {}), ("sngan", "digits", {"conditional": True}),
    ("acgan", "digits", {}),
])
def test_family_trains_over_http_with_its_defaults_and_card(client, worker_process, arch, dataset, extra):
    card = train_model(client, dataset, {"arch": arch, **extra}, {"max_steps": 2})
    assert card["arch"] == arch and card["reference"]
    resolved = card["training"]["resolved"]
    if arch == "wgan-gp":  # digits are 28 px: the 28 px recipe's critic steps and rates, the paper's betas
        recipe = FAMILIES["wgan-gp"].recipes["images@28"]
        assert (resolved["loss"], resolved["d_steps"], resolved["lr_g"], resolved["lr_d"], resolved["beta1"]) == \
            ("wasserstein-gp", recipe["d_steps"], recipe["lr_g"], recipe["lr_d"], 0.0)
    if arch == "sngan":
        assert resolved["loss"] == "hinge" and card["inputs"]["labels"] == [str(i) for i in range(10)]
    if dataset == "ring8":
        assert (card["kind"], card["data_kind"]) == ("sampler", "points") and card["latent_dim"] == 8
        scatter = png(client.get(f"/v1/models/{card['id']}/images", params={"n": 64, "seed": 1}))
        assert scatter.size == (256, 256)


def test_cgan_generates_the_label_asked_for_by_name_or_index(client, cgan):
    url = f"/v1/models/{cgan['id']}/generate"
    by_name = client.post(url, json={"n": 4, "seed": 3, "labels": "7"})
    by_index = client.post(url, json={"n": 4, "seed": 3, "labels": [7, 7, 7, 7]})
    other = client.post(url, json={"n": 4, "seed": 3, "labels": 2})
    assert png(by_name).size == (2 * 30 + 2, 2 * 30 + 2)
    assert by_name.content == by_index.content != other.content
    assert client.get(f"/v1/models/{cgan['id']}/images", params={"n": 4, "seed": 3, "label": "7"}).content \
        == by_name.content


def test_unknown_label_and_wrong_label_count_are_422(client, cgan):
    url = f"/v1/models/{cgan['id']}/generate"
    assert_problem(client.post(url, json={"n": 2, "labels": "cat"}), 422, "unknown label 'cat'")
    assert_problem(client.post(url, json={"n": 3, "labels": [1, 2]}), 422, "one per image (3)")


def test_labels_for_an_unconditional_model_are_422(client, trained_model):
    response = client.post(f"/v1/models/{trained_model['id']}/generate", json={"n": 1, "labels": 1})
    assert_problem(response, 422, "unconditional")


def test_infogan_serves_its_codes(client, infogan):
    assert infogan["inputs"]["codes"] == {"categorical": 4, "continuous": 2}
    url = f"/v1/models/{infogan['id']}/generate"
    a = client.post(url, json={"n": 1, "seed": 5, "codes": {"categorical": 0, "continuous": [0.5, -0.5]}})
    b = client.post(url, json={"n": 1, "seed": 5, "codes": {"categorical": 3, "continuous": [0.5, -0.5]}})
    assert Image.open(io.BytesIO(a.content)).size == (28, 28) and a.content != b.content
    assert_problem(client.post(url, json={"n": 1, "codes": {"categorical": 9}}), 422, "codes.categorical")
    assert_problem(client.post(url, json={"n": 1, "codes": {"continuous": [1.0]}}), 422, "codes.continuous")


def test_codes_for_a_non_infogan_model_are_422(client, cgan):
    response = client.post(f"/v1/models/{cgan['id']}/generate", json={"n": 1, "codes": {"categorical": 1}})
    assert_problem(response, 422, "not an InfoGAN")


@pytest.mark.parametrize("model,dataset,fragment", [
    ({"arch": "dcgan", "codes": {"categorical": 3}}, "digits", "dcgan takes no latent codes"),
    ({"arch": "wgan-gp", "loss": "hinge"}, "digits", "wgan-gp does not train with loss 'hinge'"),
    ({"arch": "dcgan"}, "ring8", "dcgan does not train on points"),
    ({"arch": "mlp", "image_size": 32}, "ring8", "image_size applies to images"),
    ({"arch": "dcgan", "conditional": True}, "digits", "dcgan is not conditional"),
    ({"arch": "cgan", "conditional": False}, "digits", "conditional by definition"),
    ({"arch": "stylegan"}, "digits", "model.arch"),
])
def test_incompatible_specs_are_refused_at_post_with_the_reason(client, model, dataset, fragment):
    response = client.post("/v1/jobs", json={"dataset": dataset, "model": model, "train": TINY_STEPS})
    assert_problem(response, 422, fragment)


def test_a_family_added_as_a_plugin_is_listed_trained_and_served_over_http(client, worker_process):
    """tests/toy_family.py is one Family row and two tiny nets; nothing else knows of it."""
    arch_enum = client.get("/openapi.json").json()["components"]["schemas"]["ModelSpec"]["properties"]["arch"]["enum"]
    assert toy_family.NAME in arch_enum

    card = train_model(client, "digits", {"arch": toy_family.NAME}, {"max_steps": 8})
    assert (card["arch"], card["kind"], card["data_kind"]) == (toy_family.NAME, "sampler", "images")
    assert card["training"]["resolved"]["loss"] == "least-squares" and card["reference"] == toy_family.TOY.reference
    history = client.get(f"/v1/jobs/{card['job_id']}").json()["progress"]
    assert history["step"] == 8 and history["loss_d"] == history["loss_d"]  # finite, not NaN
    one, other = (png(client.get(f"/v1/models/{card['id']}/images", params={"n": 4, "seed": s})) for s in (1, 2))
    assert one.size == (2 * 30 + 2, 2 * 30 + 2) and one.tobytes() != other.tobytes()

    points = train_model(client, "ring8", {"arch": toy_family.NAME}, {"max_steps": 4})
    assert points["data_kind"] == "points"
    assert client.post(f"/v1/models/{points['id']}/generate", json={"n": 5, "seed": 1, "format": "npz"}).status_code \
        == 200


def test_a_plugin_familys_own_limits_are_enforced_at_post(client):
    response = client.post("/v1/jobs", json={"dataset": "digits", "model": {"arch": toy_family.NAME,
                                                                            "image_size": 32}, "train": TINY_STEPS})
    assert_problem(response, 422, f"{toy_family.NAME} takes images of 28 px")
