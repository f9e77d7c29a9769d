"""A generator as a file that runs without this code: ONNX (onnxruntime and other runtimes) or TorchScript (plain
torch), its inputs named in the file.

A model becomes one or more graphs (a CycleGAN one per direction), each a small module whose forward takes named
tensors: `z`, `labels`, `categorical`, `continuous`, `psi` (samplers), `image` (translators, augmenters). What a
model takes is read from its config by its kind's `graphs` function (core/kinds.py names it); this module knows
nothing of kinds or cards. Graphs are traced, so each holds the eval-mode network and nothing of its Python code.
"""

from __future__ import annotations

import copy
import io
import warnings
from dataclasses import dataclass

import torch
from torch import nn

from models.family import GANConfig

ONNX_OPSET = 17  # onnxruntime 1.16 and later run it
PIXELS = "uint8 pixels = round((clamp(x, -1, 1) + 1) * 127.5), channels first (N, C, H, W)"
IMAGE_IN = "in [-1, 1]: pixels / 127.5 - 1, channels first"


@dataclass(frozen=True)
class GraphInput:
    name: str
    shape: tuple[int | str, ...]  # "N": the batch, any size
    dtype: str  # float32 | int64
    meaning: str

    def example(self, n: int) -> torch.Tensor:
        shape = [n if d == "N" else d for d in self.shape]
        if self.dtype == "int64":
            return torch.zeros(shape, dtype=torch.long)
        return torch.zeros(shape) if self.name == "image" else torch.randn(shape, generator=torch.Generator())


@dataclass(frozen=True)
class Graph:
    """One file's worth: the module, its inputs in order, and what its one output is."""

    name: str  # the file's stem: generator, generator-a2b, ...
    module: nn.Module
    inputs: tuple[GraphInput, ...]
    output: str  # images | points
    output_shape: tuple[int | str, ...]
    output_meaning: str

    def examples(self, n: int = 2) -> dict[str, torch.Tensor]:
        return {i.name: i.example(n) for i in self.inputs}


class _Sampler(nn.Module):
    """A sampler's forward by keyword, so that a traced file's inputs carry the names they are given."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None, categorical: torch.Tensor | None = None,
                continuous: torch.Tensor | None = None, psi: torch.Tensor | None = None) -> torch.Tensor:
        given = {"labels": labels, "categorical": categorical, "continuous": continuous, "psi": psi}
        return self.net(z, **{name: value for name, value in given.items() if value is not None})


class _Translator(nn.Module):
    def __init__(self, net: nn.Module, direction: str):
        super().__init__()
        self.net, self.direction = net, direction

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(image, self.direction)


class _Augmenter(nn.Module):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.net(image, z)


def _noise(gan: GANConfig) -> GraphInput:
    return GraphInput("z", ("N", gan.latent_dim), "float32", "latents, standard normal noise")


def _frozen(net: nn.Module) -> nn.Module:
    """A copy on the CPU in eval mode: tracing never touches the served network (its mode, its device), and a file
    traced on the CPU loads on any machine."""
    return copy.deepcopy(net).cpu().eval()


def sampler_graphs(net: nn.Module, gan: GANConfig) -> list[Graph]:
    """One graph: latents and whatever the model takes beside them, to images (or 2-D points)."""
    inputs = [_noise(gan)]
    if gan.conditions_generator:
        inputs.append(GraphInput("labels", ("N",), "int64", f"class indices 0..{gan.num_classes - 1}, in the order "
                                                            "of the card's classes"))
    if gan.cat_codes:
        inputs.append(GraphInput("categorical", ("N",), "int64", f"InfoGAN category 0..{gan.cat_codes - 1}"))
    if gan.cont_codes:
        inputs.append(GraphInput("continuous", ("N", gan.cont_codes), "float32",
                                 "InfoGAN continuous codes, each in [-1, 1] (0: the centre)"))
    if gan.family.style_layers is not None:
        inputs.append(GraphInput("psi", ("N",), "float32", "truncation towards the mean w: 1 none, 0 the mean "
                                                           "image (usually 0.5-1)"))
    if gan.is_image:
        return [Graph("generator", _Sampler(_frozen(net)), tuple(inputs), "images", ("N", *gan.data_shape),
                      f"float32 in [-1, 1]; {PIXELS}")]
    return [Graph("generator", _Sampler(_frozen(net)), tuple(inputs), "points", ("N", 2), "float32 2-D points")]


def translator_graphs(net: nn.Module, gan: GANConfig) -> list[Graph]:
    """A graph per direction the model translates (a2b: domain A to B; b2a: back)."""
    shapes = {"a2b": (gan.source_shape, gan.data_shape), "b2a": (gan.data_shape, gan.source_shape)}
    graphs = []
    for direction in gan.family.directions:
        source, target = shapes[direction]
        name = "generator" if len(gan.family.directions) == 1 else f"generator-{direction}"
        graphs.append(Graph(name, _Translator(_frozen(net), direction),
                            (GraphInput("image", ("N", *source), "float32", f"an input image, {IMAGE_IN}"),),
                            "images", ("N", *target), f"float32 in [-1, 1]; {PIXELS}"))
    return graphs


def augmenter_graphs(net: nn.Module, gan: GANConfig) -> list[Graph]:
    """One graph: an image and its noise to a variation of the image."""
    inputs = (GraphInput("image", ("N", *gan.data_shape), "float32", f"the image to vary, {IMAGE_IN}"), _noise(gan))
    return [Graph("generator", _Augmenter(_frozen(net)), inputs, "images", ("N", *gan.data_shape),
                  f"float32 in [-1, 1]; {PIXELS}")]


@torch.no_grad()
def to_onnx(graph: Graph) -> bytes:
    """The graph as an ONNX model, its batch dimension free. The TorchScript-based exporter: on these nets it
    exports in a tenth of the time of the dynamo exporter (docs/export.md has the figures)."""
    examples = graph.examples()
    names = [*examples, graph.output]
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes on shape checks in the nets, and the exporter's deprecation
        try:
            torch.onnx.export(graph.module, (), buffer, kwargs=examples, input_names=list(examples),
                              output_names=[graph.output], dynamic_axes={name: {0: "N"} for name in names},
                              opset_version=ONNX_OPSET, dynamo=False)
        finally:
            graph.module.eval()  # the exporter leaves the module in training mode (torch 2.13)
    return buffer.getvalue()


@torch.no_grad()
def to_torchscript(graph: Graph) -> bytes:
    """The graph traced by keyword (its forward takes the inputs by name), as torch.jit.load reads it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes on the nets' shape checks (they hold for any batch)
        traced = torch.jit.trace(graph.module, example_kwarg_inputs=graph.examples(), check_trace=False)
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer)  # deprecated for torch.export, whose files need torch's newest readers
    return buffer.getvalue()
