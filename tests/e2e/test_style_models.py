"""stylegan2 and progan over HTTP: trained by the real worker on the built-in shapes, then served with psi
truncation, explicit ws, style mixing and interpolation in w."""

import base64
import io

import numpy as np
import pytest
from ganforge_client import Client
from PIL import Image

from tests.e2e.test_train_and_generate import assert_problem, png
from tests.helpers import train_model, wait_for_job

pytestmark = pytest.mark.e2e

STYLE_NETS = {"latent_dim": 16, "g_width": 4, "d_width": 4, "mapping_layers": 2, "image_size": 16}


@pytest.fixture(scope="module")
def stylegan(client, worker_process) -> dict:
    """A conditional stylegan2 on the shapes' four classes, at 16 px: 6 ws, coarse 0-3, fine 4-5."""
    return train_model(client, "shapes", {"arch": "stylegan2", "conditional": True}, {"max_steps": 6},
                       nets=STYLE_NETS)


def arrays(response) -> dict:
    assert response.status_code == 200, response.text
    return dict(np.load(io.BytesIO(response.content)))


def images(client, model_id: str, **body) -> np.ndarray:
    return arrays(client.post(f"/v1/models/{model_id}/generate", json={**body, "format": "npz"}))["images"]


def test_a_style_model_card_describes_its_ws(stylegan):
    styles = stylegan["inputs"]["styles"]
    assert (styles["num_ws"], styles["w_dim"]) == (6, 16)
    assert styles["layers"] == [4, 4, 8, 8, 16, 16]
    assert styles["groups"] == {"coarse": [0, 1, 2, 3], "middle": [], "fine": [4, 5]}
    assert stylegan["inputs"]["labels"] == ["circle", "square", "triangle", "cross"]


def test_psi_zero_draws_the_mean_image_and_psi_one_changes_nothing(client, stylegan):
    model = stylegan["id"]
    plain = images(client, model, n=4, seed=1, labels=0)
    assert np.array_equal(images(client, model, n=4, seed=1, labels=0, psi=1.0), plain)
    mean = images(client, model, n=4, seed=1, labels=0, psi=0.0)
    assert all(np.array_equal(mean[0], other) for other in mean[1:])  # every seed lands on w_avg
    half = images(client, model, n=4, seed=1, labels=0, psi=[0.0, 1.0, 0.5, 0.0])
    assert np.array_equal(half[0], mean[0]) and np.array_equal(half[1], plain[1])
    assert not np.array_equal(half[2], plain[2])


def test_psi_cutoff_truncates_only_the_first_ws(client, stylegan):
    model = stylegan["id"]
    coarse_only = images(client, model, n=2, seed=3, labels=1, psi=0.0, psi_cutoff=4)
    # The coarse layers are all at w_avg: what differs between the two images comes from the fine ws alone.
    assert not np.array_equal(coarse_only[0], coarse_only[1])
    assert not np.array_equal(coarse_only, images(client, model, n=2, seed=3, labels=1, psi=0.0))
    assert_problem(client.post(f"/v1/models/{model}/generate", json={"n": 1, "psi": 0.5, "psi_cutoff": 7}), 422,
                   "has 6 ws")


def test_ws_in_give_the_same_pixels_every_time_and_are_checked(client, stylegan):
    model = stylegan["id"]
    one_w = [[0.1 * i for i in range(16)]]
    per_layer = [[[0.1 * i for i in range(16)]] * 6]
    assert np.array_equal(images(client, model, ws=one_w), images(client, model, ws=per_layer))
    made = arrays(client.post(f"/v1/models/{model}/generate", json={"ws": one_w * 2, "format": "npz"}))
    assert made["ws"].shape == (2, 6, 16)
    url = f"/v1/models/{model}/generate"
    assert_problem(client.post(url, json={"ws": [[0.0] * 15]}), 422, "one w of 16 values, or 6 of them")
    assert_problem(client.post(url, json={"ws": one_w, "labels": 1}), 422, "leave labels out")
    assert client.post(url, json={"ws": one_w, "seed": 1}).status_code == 422


def test_style_mix_takes_the_chosen_layers_from_the_columns(client, stylegan):
    model = stylegan["id"]
    url = f"/v1/models/{model}/style-mix"
    body = {"rows": [{"seed": 10}, {"seed": 11}], "columns": [{"seed": 20}, {"seed": 21}, {"seed": 22}],
            "labels": 2, "format": "npz"}
    rows = images(client, model, n=1, seed=10, labels=2)[0], images(client, model, n=1, seed=11, labels=2)[0]
    columns = [images(client, model, n=1, seed=s, labels=2)[0] for s in (20, 21, 22)]
    replaced = arrays(client.post(url, json={**body, "from_columns": list(range(6))}))["images"]
    assert all(np.array_equal(replaced[r * 3 + c], columns[c]) for r in range(2) for c in range(3))
    fine = arrays(client.post(url, json={**body}))["images"]  # the default: the fine styles from the columns
    assert not np.array_equal(fine[0], rows[0]) and not np.array_equal(fine[0], columns[0])

    figure = png(client.post(url, json={**body, "format": "grid"}))
    assert figure.size == (4 * 18 + 2, 3 * 18 + 2)  # a corner, 3 columns; a header row and 2 rows, 16 px + 2 px gaps
    assert_problem(client.post(url, json={**body, "from_columns": "middle"}), 422, "no middle styles")
    assert_problem(client.post(url, json={**body, "from_columns": [6]}), 422, "w indices are 0..5")
    # No index at all would mix nothing: refused rather than a figure of unchanged rows.
    assert_problem(client.post(url, json={**body, "from_columns": []}), 422, "from_columns")


def test_style_mix_on_a_conditional_model_is_told_the_class_as_interpolate_is(client, stylegan):
    model = stylegan["id"]
    url = f"/v1/models/{model}/style-mix"
    body = {"rows": [{"seed": 10}], "columns": [{"seed": 20}], "from_columns": list(range(6)), "format": "npz"}
    # No silent first class: the 422 names the classes to choose from.
    assert_problem(client.post(url, json=body), 422, "is conditional", "'cross'", "0..3")
    cell = arrays(client.post(url, json={**body, "labels": "cross"}))["images"][0]  # every w from its column
    assert np.array_equal(cell, images(client, model, n=1, seed=20, labels=3)[0])
    w = {"ws": [0.0] * 16}  # ws hold their class already
    assert_problem(client.post(url, json={**body, "rows": [w], "columns": [w], "labels": 1}), 422, "leave labels out")
    assert client.post(url, json={**body, "rows": [w], "columns": [w]}).status_code == 200
    assert client.post(url, json={**body, "rows": [w], "labels": 1}).status_code == 200


def test_interpolation_in_w_runs_between_the_ends(client, stylegan):
    model = stylegan["id"]
    url = f"/v1/models/{model}/interpolate"
    frames = arrays(client.post(url, json={"start": {"seed": 4}, "end": {"seed": 5}, "steps": 5, "space": "w",
                                           "labels": 3, "format": "npz"}))["images"]
    assert np.array_equal(frames[0], images(client, model, n=1, seed=4, labels=3)[0])
    assert np.array_equal(frames[-1], images(client, model, n=1, seed=5, labels=3)[0])
    assert len({frame.tobytes() for frame in frames}) == 5
    w_end = {"ws": [0.0] * 16}
    assert client.post(url, json={"start": {"seed": 4}, "end": w_end, "space": "w", "labels": 3}).status_code == 200
    assert_problem(client.post(url, json={"start": {"seed": 4}, "end": w_end, "labels": 3}), 422, "set space to w")


def test_interpolation_in_w_maps_each_end_with_its_own_label(client, stylegan):
    model = stylegan["id"]
    url = f"/v1/models/{model}/interpolate"
    body = {"start": {"seed": 4}, "end": {"seed": 5}, "steps": 4, "space": "w", "format": "npz"}
    frames = arrays(client.post(url, json={**body, "labels": ["circle", 3]}))["images"]
    assert np.array_equal(frames[0], images(client, model, n=1, seed=4, labels=0)[0])
    assert np.array_equal(frames[-1], images(client, model, n=1, seed=5, labels=3)[0])
    assert_problem(client.post(url, json=body), 422, "is conditional", "one per end", "'cross'", "0..3")
    w_end = {"ws": [0.0] * 16}
    assert_problem(client.post(url, json={**body, "end": w_end, "labels": [0, 3]}), 422, "labels[1]: that end is ws")
    assert_problem(client.post(url, json={**body, "start": w_end, "end": w_end, "labels": 1}), 422,
                   "leave labels out")
    assert client.post(url, json={**body, "start": w_end, "end": w_end}).status_code == 200


def test_augment_with_psi_makes_the_truncated_images(client, stylegan):
    model = stylegan["id"]
    made = arrays(client.post(f"/v1/models/{model}/augment", json={"total": 8, "seed": 2, "psi": 0.0,
                                                                   "format": "npz"}))
    by_class = made["images"].reshape(4, 2, *made["images"].shape[1:])
    assert all(np.array_equal(pair[0], pair[1]) for pair in by_class)  # psi 0: one image per class
    assert made["psi"].tolist() == [0.0] * 8


def test_style_requests_to_a_model_without_styles_are_422(client, trained_model):
    model = trained_model["id"]
    assert_problem(client.post(f"/v1/models/{model}/generate", json={"n": 1, "psi": 0.5}), 422, "not style-based")
    assert_problem(client.post(f"/v1/models/{model}/style-mix", json={"rows": [{"seed": 1}],
                                                                      "columns": [{"seed": 2}]}), 422,
                   "not style-based")
    assert_problem(client.post(f"/v1/models/{model}/interpolate", json={"start": {"seed": 1}, "end": {"seed": 2},
                                                                        "space": "w"}), 422, "not style-based")


def test_progan_trains_over_http_and_serves_full_size_images(client, worker_process):
    card = train_model(client, "shapes", {"arch": "progan"}, {"max_steps": 8},
                       nets={"latent_dim": 16, "g_width": 4, "d_width": 4, "image_size": 16})
    assert card["arch"] == "progan" and card["inputs"]["styles"] is None
    assert card["image_shape"] == [3, 16, 16]
    out = images(client, card["id"], n=3, seed=0)
    assert out.shape == (3, 16, 16, 3) and len({image.tobytes() for image in out}) == 3


def test_family_options_of_another_loop_are_refused_at_post(client):
    for model, train, fragment in [({"arch": "dcgan"}, {"r1_gamma": 1.0}, "train.r1_gamma applies to stylegan2"),
                                   ({"arch": "stylegan2"}, {"phase_images": 100}, "applies to progan"),
                                   ({"arch": "progan"}, {"reuse_fakes": True}, "train.reuse_fakes applies to "
                                    "acgan, cgan, dcgan"),
                                   ({"arch": "dcgan", "mapping_layers": 2}, {}, "mapping_layers applies")]:
        response = client.post("/v1/jobs", json={"dataset": "shapes", "model": {**model, "image_size": 32},
                                                 "train": {"max_steps": 1, **train}})
        assert_problem(response, 422, fragment)


def project(client, model_id: str, **body) -> dict:
    response = client.post(f"/v1/models/{model_id}/projections", json={"steps": 40, **body})
    assert response.status_code == 202, response.text
    assert response.headers["Location"] == f"/v1/models/{model_id}/projections/{response.json()['id']}"
    job = wait_for_job(client, response.json()["id"])
    assert job["status"] == "succeeded", job
    return job


def test_projecting_a_training_image_beats_the_mean_w_and_its_ws_remake_it(client, stylegan):
    model = stylegan["id"]
    job = project(client, model, dataset_index=7)
    result = job["result"]
    assert np.array(result["ws"]).shape == (6, 16) and result["space"] == "w"
    distance = result["distance"]
    assert distance["pixel_mse"] < distance["mean_w_pixel_mse"]
    assert distance["objective"] < distance["mean_w_objective"]
    remade = client.post(f"/v1/models/{model}/generate", json={"ws": [result["ws"]], "format": "png"})
    assert np.array_equal(np.asarray(png(remade)), np.asarray(Image.open(io.BytesIO(
        base64.b64decode(result["reconstruction_png"])))))
    listed = client.get(f"/v1/models/{model}/projections").json()["jobs"]
    assert job["id"] in [j["id"] for j in listed]


def test_a_sent_image_is_projected_in_w_plus(client, stylegan):
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 40, 40)).save(buffer, format="PNG")  # not square: cropped, then resized
    job = project(client, stylegan["id"], image=base64.b64encode(buffer.getvalue()).decode(), space="w+")
    target = np.asarray(Image.open(io.BytesIO(base64.b64decode(job["result"]["target_png"]))))
    assert target.shape == (16, 16, 3) and (target == [200, 40, 40]).all()
    ws = np.array(job["result"]["ws"])
    assert not np.allclose(ws[0], ws[-1])  # w+: a w per layer


def test_bad_projection_requests_are_refused(client, stylegan, trained_model):
    url = f"/v1/models/{stylegan['id']}/projections"
    assert_problem(client.post(url, json={"dataset_index": 4000}), 422, "holds 4000 images")
    assert_problem(client.post(url, json={"image": "not base64!"}), 422, "not valid base64")
    assert client.post(url, json={"dataset_index": 1, "image": "AAAA"}).status_code == 422
    assert_problem(client.post(f"/v1/models/{trained_model['id']}/projections", json={"dataset_index": 0}), 422,
                   "not style-based")
    assert client.get(f"{url}/job_0000000000000000").status_code == 404


def test_the_python_client_speaks_the_style_routes(api_url, stylegan):
    with Client(api_url) as gf:
        made = gf.generate(stylegan["id"], n=2, seed=1, labels=0, psi=0.5, as_="array")
        assert made.psi.tolist() == [0.5, 0.5] and made.ws is None
        result = gf.project(stylegan["id"], dataset_index=3, steps=20, poll_s=0.2)
        again = gf.generate(stylegan["id"], ws=np.array([result["ws"]]), as_="array")
        assert again.ws.shape == (1, 6, 16) and again.latents is None
        figure = Image.open(io.BytesIO(gf.style_mix(stylegan["id"], rows=[{"seed": 1}], columns=[{"ws": result["ws"]}],
                                                    labels=0)))
        assert figure.size == (2 * 18 + 2, 2 * 18 + 2)
