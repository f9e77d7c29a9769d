"""Generators in and out over HTTP: a model imported from a weights file serves, scores and exports like a trained
one; its ONNX file run in onnxruntime and its TorchScript file run by a Python that cannot import GANForge give the
pixels /generate gives; hostile and ill-fitting files are refused."""

import io
import json
import subprocess
import sys
import zipfile

import numpy as np
import onnxruntime as ort
import pytest
import torch
from ganforge_client import Client
from safetensors.torch import save
from torch import nn

from models.gan import GANConfig, build_generator
from tests.e2e.conftest import ganforge
from tests.e2e.test_train_and_generate import assert_problem
from tests.helpers import wait_for_job
from tests.models.test_weights import ExamplesNetG, WritesAFile, trained_looking

pytestmark = pytest.mark.e2e

CGAN = {"arch": "cgan", "latent_dim": 8, "g_width": 4}
CGAN_SHAPE, CLASSES = [1, 28, 28], ["zero", "one", "two"]
STYLEGAN = {"arch": "stylegan2", "latent_dim": 8, "g_width": 4, "mapping_layers": 2, "conditional": True}
# Runs a TorchScript file where no module of ours can be imported: isolated mode (no cwd, no PYTHONPATH) and a
# finder that refuses our packages, were they installed.
PLAIN_TORCH = """
import sys
OURS = {"models", "core", "service", "worker", "ganforge_client", "tests"}
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in OURS:
            raise ImportError(f"{name} is GANForge's")
sys.meta_path.insert(0, Refuse())
import warnings
warnings.simplefilter("ignore")
import numpy as np, torch
inputs = np.load(sys.argv[2])
net = torch.jit.load(sys.argv[1]).eval()
with torch.no_grad():
    out = net(**{name: torch.from_numpy(inputs[name]) for name in inputs.files})
np.save(sys.argv[3], out.numpy())
assert not [m for m in sys.modules if m.split(".")[0] in OURS]
"""


def weights_of(gan: GANConfig, seed: int = 0) -> tuple[nn.Module, bytes]:
    torch.manual_seed(seed)
    net = build_generator(gan).eval()
    return net, save({k: v.contiguous() for k, v in net.state_dict().items()})


def upload(client, data: bytes, filename: str = "g.safetensors", **fields) -> object:
    form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()}
    return client.post("/v1/models/import", files={"file": (filename, data)}, data=form)


def imported(client, data: bytes, **fields) -> dict:
    response = upload(client, data, **fields)
    assert response.status_code == 201, response.text
    return response.json()


def served_pixels(client, model_id: str, latents: np.ndarray, **body) -> np.ndarray:
    response = client.post(f"/v1/models/{model_id}/generate",
                           json={"latents": latents.tolist(), "format": "npz", **body})
    assert response.status_code == 200, response.text
    return np.load(io.BytesIO(response.content))["images"].transpose(0, 3, 1, 2)  # NHWC -> NCHW


def exported(client, model_id: str, fmt: str) -> zipfile.ZipFile:
    response = client.get(f"/v1/models/{model_id}/export", params={"format": fmt})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(response.content))


def to_pixels(out: np.ndarray) -> np.ndarray:
    return ((np.clip(out, -1, 1) + 1) * 127.5).round().astype(np.uint8)


def assert_within_one(a: np.ndarray, b: np.ndarray) -> None:
    assert a.shape == b.shape
    assert int(np.abs(a.astype(int) - b.astype(int)).max()) <= 1


@pytest.fixture(scope="module")
def cgan(client) -> dict:
    _, data = weights_of(GANConfig(arch="cgan", latent_dim=8, data_shape=tuple(CGAN_SHAPE), g_width=4, num_classes=3))
    return imported(client, data, model=CGAN, image_shape=CGAN_SHAPE, classes=CLASSES, name="tiny cgan")


def test_an_imported_model_has_a_card_of_its_own_and_no_job(client, cgan):
    card = client.get(f"/v1/models/{cgan['id']}").json()
    assert (card["arch"], card["kind"], card["classes"], card["job_id"]) == ("cgan", "sampler", CLASSES, None)
    assert card["lineage"]["source"] == "imported" and card["lineage"]["name"] == "tiny cgan"
    assert card["lineage"]["layout"] == "ganforge" and card["lineage"]["sha256"].startswith("sha256:")
    assert card["inputs"]["labels"] == CLASSES


def test_the_onnx_export_names_its_inputs_and_gives_the_served_pixels(client, cgan):
    archive = exported(client, cgan["id"], "onnx")
    assert sorted(archive.namelist()) == ["README.txt", "card.json", "generator.onnx"]
    assert json.loads(archive.read("card.json"))["id"] == cgan["id"]
    readme = archive.read("README.txt").decode()
    assert "labels       int64    (N,)" in readme and "0: zero, 1: one, 2: two" in readme
    session = ort.InferenceSession(archive.read("generator.onnx"))
    assert [(i.name, i.type) for i in session.get_inputs()] == [("z", "tensor(float)"), ("labels", "tensor(int64)")]
    latents = np.random.default_rng(0).standard_normal((5, 8)).astype(np.float32)
    labels = np.array([0, 1, 2, 1, 0])
    out = session.run(None, {"z": latents, "labels": labels})[0]
    assert_within_one(to_pixels(out), served_pixels(client, cgan["id"], latents, labels=labels.tolist()))


def test_the_torchscript_export_runs_in_plain_torch_and_gives_the_served_pixels(client, cgan, tmp_path):
    archive = exported(client, cgan["id"], "torchscript")
    (tmp_path / "generator.pt").write_bytes(archive.read("generator.pt"))
    latents = np.random.default_rng(1).standard_normal((4, 8)).astype(np.float32)
    labels = np.array([2, 2, 0, 1])
    np.savez(tmp_path / "inputs.npz", z=latents, labels=labels)
    run = subprocess.run([sys.executable, "-I", "-c", PLAIN_TORCH, str(tmp_path / "generator.pt"),
                          str(tmp_path / "inputs.npz"), str(tmp_path / "out.npy")], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert_within_one(to_pixels(np.load(tmp_path / "out.npy")),
                      served_pixels(client, cgan["id"], latents, labels=labels.tolist()))


def test_a_style_model_exports_psi_as_an_input(client):
    _, data = weights_of(GANConfig(arch="stylegan2", latent_dim=8, data_shape=(3, 16, 16), g_width=4,
                                   mapping_layers=2, num_classes=2))
    card = imported(client, data, model=STYLEGAN, image_shape=[3, 16, 16], classes=["a", "b"])
    session = ort.InferenceSession(exported(client, card["id"], "onnx").read("generator.onnx"))
    assert [i.name for i in session.get_inputs()] == ["z", "labels", "psi"]
    latents = np.random.default_rng(2).standard_normal((3, 8)).astype(np.float32)
    psi = np.array([1.0, 0.5, 0.0], dtype=np.float32)
    out = session.run(None, {"z": latents, "labels": np.array([0, 1, 1]), "psi": psi})[0]
    assert_within_one(to_pixels(out), served_pixels(client, card["id"], latents, labels=[0, 1, 1], psi=psi.tolist()))


def test_pytorch_examples_dcgan_netg_imports_onto_dcgan(client):
    netg = trained_looking(ExamplesNetG(nz=100, ngf=8, nc=1))  # the example's layout at a width the upload cap takes
    buffer = io.BytesIO()
    torch.save(netg.state_dict(), buffer)
    card = imported(client, buffer.getvalue(), filename="netG_epoch_24.pth",
                    model={"arch": "dcgan", "latent_dim": 100, "g_width": 8}, image_shape=[1, 64, 64])
    assert card["lineage"]["layout"] == "foreign: main.* renamed to backbone.net.*"
    latents = np.random.default_rng(3).standard_normal((2, 100)).astype(np.float32)
    with torch.no_grad():
        theirs = netg(torch.from_numpy(latents)[:, :, None, None]).numpy()
    assert_within_one(to_pixels(theirs), served_pixels(client, card["id"], latents))


def test_a_translator_imports_and_exports_a_graph_taking_an_image(client):
    _, data = weights_of(GANConfig(arch="pix2pix", data_shape=(1, 28, 28), source_shape=(1, 28, 28), g_width=4))
    card = imported(client, data, model={"arch": "pix2pix", "g_width": 4}, image_shape=[1, 28, 28])
    assert (card["kind"], card["inputs"]["images"]) == ("translator", {"a2b": [1, 28, 28]})
    archive = exported(client, card["id"], "onnx")
    session = ort.InferenceSession(archive.read("generator.onnx"))
    assert [(i.name, i.shape) for i in session.get_inputs()] == [("image", ["N", 1, 28, 28])]
    assert "pixels / 127.5 - 1" in archive.read("README.txt").decode()


def test_an_exported_safetensors_file_imports_again_without_a_config(client, cgan):
    archive = exported(client, cgan["id"], "safetensors")
    assert "POST /v1/models/import takes it back" in archive.read("README.txt").decode()
    again = imported(client, archive.read("generator.safetensors"))
    assert (again["config"], again["classes"]) == (cgan["config"], CLASSES) and again["id"] != cgan["id"]
    latents = np.random.default_rng(4).standard_normal((2, 8)).astype(np.float32)
    assert np.array_equal(served_pixels(client, again["id"], latents, labels=1),
                          served_pixels(client, cgan["id"], latents, labels=1))


def test_an_imported_model_is_scored_against_the_data_set_it_names(client, worker_process):
    _, data = weights_of(GANConfig(arch="mlp", latent_dim=2, data_shape=(2,), hidden=16, depth=2))
    card = imported(client, data, model={"arch": "mlp", "latent_dim": 2, "hidden": 16, "depth": 2},
                    image_shape=[2], dataset="ring8")
    assert card["dataset"]["id"] == "ring8" and card["dataset"]["checksum"]
    response = client.post(f"/v1/models/{card['id']}/evaluations", json={"metrics": ["mixture"]})
    assert response.status_code == 202, response.text
    job = wait_for_job(client, response.json()["id"])
    assert job["status"] == "succeeded", job
    assert "mixture" in json.dumps(client.get(f"/v1/models/{card['id']}").json()["metrics"])


def test_a_pickle_that_would_run_code_is_refused_and_never_run(client, tmp_path):
    planted = tmp_path / "pwned"
    buffer = io.BytesIO()
    torch.save({"backbone.net.0.weight": torch.zeros(1), "payload": WritesAFile(planted)}, buffer)
    response = upload(client, buffer.getvalue(), filename="evil.pt", model=CGAN, image_shape=CGAN_SHAPE,
                      classes=CLASSES)
    assert_problem(response, 422, "arbitrary unpickling", "never done here")
    assert not planted.exists()


def test_a_state_dict_that_does_not_fit_is_refused_naming_the_first_tensor(client):
    _, data = weights_of(GANConfig(arch="cgan", latent_dim=8, data_shape=(1, 28, 28), g_width=4, num_classes=3))
    wider = {**CGAN, "g_width": 8}
    assert_problem(upload(client, data, model=wider, image_shape=CGAN_SHAPE, classes=CLASSES), 422,
                   "tensor 'backbone.net.0.weight' has shape [11, 8, 7, 7] in the file; the model config needs "
                   "[11, 16, 7, 7]")
    assert_problem(upload(client, data, model=CGAN, image_shape=CGAN_SHAPE), 422, "classes: a conditional model")
    assert_problem(upload(client, data, model={"arch": "nope"}, image_shape=CGAN_SHAPE), 422, "unknown arch 'nope'")


def test_export_refuses_unknown_formats_and_models(client, cgan):
    assert_problem(client.get(f"/v1/models/{cgan['id']}/export", params={"format": "gif"}), 422, "format")
    assert_problem(client.get("/v1/models/model-nothere/export"), 404, "no model with id")


def test_an_upload_over_the_cap_is_refused_with_413(client):
    response = upload(client, b"\0" * 2_100_000, model=CGAN, image_shape=CGAN_SHAPE, classes=CLASSES)
    assert response.status_code == 413, response.text


def test_the_client_imports_a_file_and_exports_the_model(api_url, tmp_path):
    _, data = weights_of(GANConfig(arch="cgan", latent_dim=8, data_shape=(1, 28, 28), g_width=4, num_classes=3), 5)
    (tmp_path / "g.safetensors").write_bytes(data)
    with Client(api_url) as client:
        card = client.import_model(tmp_path / "g.safetensors", CGAN, CGAN_SHAPE, classes=CLASSES, name="from client")
        path = client.export_model(card["id"], "torchscript", tmp_path / "out.zip")
    assert card["lineage"]["name"] == "from client"
    assert sorted(zipfile.ZipFile(path).namelist()) == ["README.txt", "card.json", "generator.pt"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no spool left behind


def test_ganforge_import_and_export_commands(api_url, tmp_path):
    _, data = weights_of(GANConfig(arch="cgan", latent_dim=8, data_shape=(1, 28, 28), g_width=4, num_classes=3), 6)
    (tmp_path / "g.safetensors").write_bytes(data)
    made = ganforge("import", str(tmp_path / "g.safetensors"), "--arch", "cgan", "--model", "latent_dim=8", "--model",
                    "g_width=4", "--image-shape", "1,28,28", "--classes", "zero,one,two", "--url", api_url)
    assert made.returncode == 0, made.stderr
    model_id = made.stdout.split()[1]  # "model <id> imported (cgan, sampler, 1x28x28)"
    out = tmp_path / "exported.zip"
    sent = ganforge("export", model_id, "--format", "onnx", "-o", str(out), "--url", api_url)
    assert sent.returncode == 0, sent.stderr
    assert "generator.onnx" in zipfile.ZipFile(out).namelist()
    refused = ganforge("import", str(tmp_path / "g.safetensors"), "--arch", "cgan", "--image-shape", "1,28,28",
                       "--url", api_url)
    assert refused.returncode == 1 and "classes: a conditional model" in refused.stderr
