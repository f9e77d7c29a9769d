"""What a GAN is made of, as data: the config that rebuilds its networks."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from torch import nn

from models.nets import dcgan

ARCHITECTURES = ("dcgan",)


@dataclass(frozen=True)
class GANConfig:
    arch: str = "dcgan"
    latent_dim: int = 100
    channels: int = 1
    image_size: int = 28
    g_width: int = 64
    d_width: int = 64

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> GANConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def build_generator(config: GANConfig) -> nn.Module:
    _check_arch(config)
    net = dcgan.Generator(config.latent_dim, config.channels, config.image_size, config.g_width)
    net.apply(dcgan.init_weights)
    return net


def build_discriminator(config: GANConfig) -> nn.Module:
    _check_arch(config)
    net = dcgan.Discriminator(config.channels, config.image_size, config.d_width)
    net.apply(dcgan.init_weights)
    return net


def _check_arch(config: GANConfig) -> None:
    if config.arch not in ARCHITECTURES:
        raise ValueError(f"unknown arch {config.arch!r}; known: {', '.join(ARCHITECTURES)}")
