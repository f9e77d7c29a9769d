"""Generators as ONNX and TorchScript files: named inputs, any batch size, the served pixels."""

import io

import numpy as np
import onnxruntime as ort
import pytest
import torch

from core.kinds import KINDS, family_kind
from models.export import to_onnx, to_torchscript
from models.gan import FAMILIES, Family, GANConfig, build_generator
from models.sampling import generate, to_uint8, translate

CGAN = GANConfig(arch="cgan", latent_dim=8, data_shape=(1, 28, 28), g_width=4, num_classes=3)
STYLEGAN = GANConfig(arch="stylegan2", latent_dim=8, data_shape=(3, 16, 16), g_width=4, mapping_layers=2,
                     num_classes=2)
INFOGAN = GANConfig(arch="infogan", latent_dim=8, data_shape=(1, 28, 28), g_width=4, cat_codes=3, cont_codes=2)


def graphs(gan: GANConfig):
    torch.manual_seed(0)
    net = build_generator(gan).eval()
    return net, family_kind(gan.arch).graphs(net, gan)


def onnx_pixels(graph, feeds: dict[str, torch.Tensor]) -> np.ndarray:
    session = ort.InferenceSession(to_onnx(graph))
    out = session.run(None, {name: value.numpy() for name, value in feeds.items()})[0]
    return to_uint8(torch.from_numpy(out)).numpy()


def close(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and int(np.abs(a.astype(int) - b.astype(int)).max()) <= 1


@pytest.mark.parametrize("gan", [STYLEGAN, INFOGAN], ids=["stylegan2", "infogan"])
def test_onnx_file_names_its_inputs_and_gives_the_served_pixels_for_any_batch(gan):
    net, (graph,) = graphs(gan)
    feeds = {i.name: i.example(5) for i in graph.inputs}  # traced with 2: the batch dimension is free
    if "labels" in feeds:
        feeds["labels"] = torch.arange(5) % gan.num_classes
    if "psi" in feeds:
        feeds["psi"] = torch.tensor([1.0, 0.5, 0.0, 0.7, 1.0])
    served = generate(net, feeds["z"], **{k: v for k, v in feeds.items() if k != "z"})
    session = ort.InferenceSession(to_onnx(graph))
    assert [i.name for i in session.get_inputs()] == list(feeds)
    assert session.get_outputs()[0].name == "images"
    assert close(onnx_pixels(graph, feeds), served.numpy())


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")  # torch 2.13 favours .pt2
def test_torchscript_file_takes_the_inputs_by_name():
    net, (graph,) = graphs(CGAN)
    scripted = torch.jit.load(io.BytesIO(to_torchscript(graph)))
    z, labels = torch.randn(3, 8), torch.tensor([2, 0, 1])
    with torch.no_grad():
        out = scripted(z=z, labels=labels)
    assert close(to_uint8(out).numpy(), generate(net, z, labels=labels).numpy())


def test_a_cyclegan_exports_a_graph_per_direction_taking_an_image():
    gan = GANConfig(arch="cyclegan", data_shape=(1, 16, 16), source_shape=(3, 16, 16), g_width=4, d_width=4, blocks=1)
    net, found = graphs(gan)
    assert [(g.name, [i.name for i in g.inputs], g.output_shape) for g in found] == [
        ("generator-a2b", ["image"], ("N", 1, 16, 16)), ("generator-b2a", ["image"], ("N", 3, 16, 16))]
    pixels = torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8)
    assert close(onnx_pixels(found[0], {"image": pixels.float() / 127.5 - 1}), translate(net, pixels, "a2b").numpy())


def tiny(arch: str, family: Family) -> GANConfig:
    size = 16 if 16 in family.image_sizes else 28
    source = (1, size // 2, size // 2) if family.upscales else (1, size, size)
    return GANConfig(arch=arch, latent_dim=8, data_shape=(1, size, size), g_width=4, d_width=4, blocks=1,
                     mapping_layers=2, num_classes=3 if family.conditional != "never" else 0,
                     cat_codes=2 if family.takes_codes else 0, cont_codes=2 if family.takes_codes else 0,
                     source_shape=source if family.directions else ())


EXPORTED = sorted(arch for arch, family in FAMILIES.items() if getattr(KINDS.get(family.kind), "graphs", None))


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("arch", EXPORTED)
def test_every_family_exports_files_that_compute_what_its_network_does(arch):
    net, found = graphs(tiny(arch, FAMILIES[arch]))
    for graph in found:
        feeds = graph.examples(3)
        with torch.no_grad():
            expected = to_uint8(graph.module(**feeds)).numpy()
            scripted = torch.jit.load(io.BytesIO(to_torchscript(graph)))(**feeds)
        assert close(onnx_pixels(graph, feeds), expected), graph.name
        assert close(to_uint8(scripted).numpy(), expected), graph.name
