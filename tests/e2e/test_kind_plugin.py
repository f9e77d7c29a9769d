"""A new kind of model arrives as a plugin (tests/inpainter: a kind, a family of it and the family's own loop) and is
trained, scored, carded and served over real HTTP by the real worker, with no edit to the product."""

import io

import numpy as np
import pytest
from PIL import Image

from models.data import load_builtin
from tests.helpers import train_model

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def inpainter(client, worker_process) -> dict:
    return train_model(client, "mnist", {"arch": "toy-inpainter"}, {"epochs": 2, "max_steps": 200, "batch_size": 32},
                       {"g_width": 8, "d_width": 8})


def digit_png(index: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(load_builtin("mnist").images[index][0].numpy()).save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_server_lists_the_plugins_kind_with_its_route_and_family(client):
    kinds = {kind["name"]: kind for kind in client.get("/v1/kinds").json()["kinds"]}
    assert {"sampler", "translator", "augmenter", "inpainter"} <= set(kinds)
    assert kinds["inpainter"]["route"] == "/inpaint" and kinds["inpainter"]["families"] == ["toy-inpainter"]
    assert kinds["inpainter"]["dashboard"] == {"playground": "images", "route": "inpaint"}


def test_the_job_trains_with_the_familys_own_loop_and_the_card_comes_from_the_kind(client, inpainter):
    assert (inpainter["kind"], inpainter["arch"]) == ("inpainter", "toy-inpainter")
    assert inpainter["inputs"]["images"] == {"inpaint": [1, 28, 28]} and inpainter["latent_dim"] == 0
    first, last = client.get(f"/v1/jobs/{inpainter['job_id']}/metrics").json()["epochs"]
    assert last["step"] == 200, "the job ran the schedule it asked for"
    assert 0 < last["aux_loss"] < first["aux_loss"], "the loop's own term (L1 in the hole) is reported, and falls"


def test_the_kinds_scorer_scored_it_and_it_beats_the_mean_image(inpainter):
    scores = inpainter["metrics"]["scores"]
    assert set(scores) == {"hole_l1", "hole_l1_mean_image"}
    assert scores["hole_l1"] < scores["hole_l1_mean_image"], "200 steps learn more than the average digit"


def test_the_plugins_route_serves_it_and_fills_only_the_hole(client, inpainter):
    url = f"/v1/models/{inpainter['id']}/inpaint"
    sent = digit_png(7)
    first = client.post(url, files={"file": ("7.png", sent, "image/png")})
    again = client.post(url, files={"file": ("7.png", sent, "image/png")})
    assert first.status_code == 200, first.text
    assert first.headers["content-type"] == "image/png" and first.content == again.content
    out = np.asarray(Image.open(io.BytesIO(first.content)).convert("L"))
    original = np.asarray(Image.open(io.BytesIO(sent)))
    assert out.shape == (28, 28)
    assert np.array_equal(out[:7], original[:7]), "outside the hole (the centred 14 px square) the image is kept"
    assert not np.array_equal(out[7:21, 7:21], original[7:21, 7:21]), "the hole is filled by the model"


def test_other_kinds_routes_refuse_it_naming_its_own(client, inpainter):
    response = client.post(f"/v1/models/{inpainter['id']}/generate", json={"n": 1, "seed": 0})
    assert response.status_code == 422
    assert "is an inpainter (toy-inpainter)" in response.json()["detail"] and "/inpaint" in response.json()["detail"]


def test_options_of_other_kinds_are_refused_by_the_kinds_rules(client):
    response = client.post("/v1/jobs", json={"dataset": "mnist", "model": {"arch": "toy-inpainter",
                                                                            "latent_dim": 8}})
    assert response.status_code == 422
    assert "toy-inpainter fills the hole in the middle of an image: leave out latent_dim" in response.text
