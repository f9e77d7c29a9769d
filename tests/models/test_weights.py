"""Weights trained elsewhere: read without running the file, renamed from pytorch/examples' DCGAN, checked."""

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from models.gan import FAMILIES, GANConfig, build_generator
from models.sampling import generate
from models.weights import RefusedWeights, fitted, read_state_dict, renamed


class ExamplesNetG(nn.Module):
    """pytorch/examples dcgan/main.py's Generator, as written there."""

    def __init__(self, nz: int = 100, ngf: int = 64, nc: int = 3):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


def trained_looking(net: nn.Module) -> nn.Module:
    """Running statistics away from their defaults, so that a mix-up of BatchNorm tensors would show."""
    torch.manual_seed(1)
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return net.eval()


def test_pytorch_examples_dcgan_at_64_px_is_our_dcgan_tensor_for_tensor(tmp_path):
    theirs = trained_looking(ExamplesNetG(nz=100, ngf=64, nc=3))
    torch.save(theirs.state_dict(), tmp_path / "netG.pth")
    gan = GANConfig(arch="dcgan", latent_dim=100, data_shape=(3, 64, 64), g_width=64)
    tensors, prefix = renamed(read_state_dict(tmp_path / "netG.pth"), FAMILIES["dcgan"].import_prefixes)
    ours = build_generator(gan)
    ours.load_state_dict(fitted(ours, tensors), strict=True)
    z = torch.randn(3, 100)
    with torch.no_grad():
        expected = theirs(z[:, :, None, None])
    assert prefix == "main."
    assert torch.equal(generate(ours.eval(), z), ((expected.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8))


class WritesAFile:
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):  # what unpickling would run: open(path, "w"), which creates the file
        return open, (self.path, "w")


def test_a_pickle_of_other_objects_is_refused_without_running_it(tmp_path):
    planted = tmp_path / "pwned"
    torch.save({"weight": torch.zeros(2), "payload": WritesAFile(planted)}, tmp_path / "evil.pt")
    with pytest.raises(RefusedWeights, match=r"arbitrary unpickling \(io.open\)"):
        read_state_dict(tmp_path / "evil.pt")
    assert not planted.exists()


def test_safetensors_and_state_dicts_are_read_alike(tmp_path):
    tensors = {"a": torch.arange(4.0), "b": torch.ones(2, 2)}
    save_file(tensors, tmp_path / "w.safetensors")
    torch.save({"state_dict": tensors, "epoch": 3}, tmp_path / "w.pt")
    for name in ("w.safetensors", "w.pt"):
        read = read_state_dict(tmp_path / name)
        assert set(read) == {"a", "b"} and torch.equal(read["b"], tensors["b"])
    (tmp_path / "junk.bin").write_bytes(b"not weights at all")
    with pytest.raises(RefusedWeights, match="nor a PyTorch state dict"):
        read_state_dict(tmp_path / "junk.bin")


def test_the_first_tensor_that_does_not_fit_is_named():
    net = build_generator(GANConfig(arch="dcgan", latent_dim=8, data_shape=(1, 28, 28), g_width=4))
    state = net.state_dict()
    first = next(iter(state))
    with pytest.raises(RefusedWeights, match=rf"tensor '{first}' has shape \[9, 8, 7, 7\] in the file; the model "
                                             r"config needs \[8, 8, 7, 7\]"):
        fitted(net, {**state, first: torch.zeros(9, 8, 7, 7)})
    with pytest.raises(RefusedWeights, match=f"missing tensor '{first}'"):
        fitted(net, {k: v for k, v in state.items() if k != first})
    with pytest.raises(RefusedWeights, match="unexpected tensor 'extra.weight'"):
        fitted(net, {**state, "extra.weight": torch.zeros(1)})
    with pytest.raises(RefusedWeights, match="NaN or infinite"):
        fitted(net, {**state, first: torch.full_like(state[first], float("nan"))})
