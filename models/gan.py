"""The GAN families and the config that rebuilds a family's networks (stored in every model card)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from models.nets.conditional import Discriminator, Generator


@dataclass(frozen=True)
class Family:
    """A family's networks and its paper's training defaults."""

    reference: str
    loss: str
    losses: tuple[str, ...]  # the losses that make sense for it
    lr_g: float
    lr_d: float
    betas: tuple[float, float]
    d_steps: int = 1
    d_norm: str = "batch"
    conditioning: str = "none"  # none | concat | auxiliary | projection
    needs_images: bool = False


_BCE_LIKE = ("non-saturating", "minimax", "least-squares", "hinge")

FAMILIES: dict[str, Family] = {
    # Goodfellow et al. 2014: k D steps per G step; the paper trains with SGD + momentum.
    "mlp": Family("Goodfellow et al. 2014, arXiv:1406.2661", "non-saturating", (*_BCE_LIKE, "wasserstein-gp"),
                  1e-3, 1e-3, (0.5, 0.999), d_norm="none"),
    "dcgan": Family("Radford et al. 2015, arXiv:1511.06434", "non-saturating", _BCE_LIKE,
                    2e-4, 2e-4, (0.5, 0.999), needs_images=True),
    "cgan": Family("Mirza & Osindero 2014, arXiv:1411.1784", "non-saturating", _BCE_LIKE,
                   2e-4, 2e-4, (0.5, 0.999), conditioning="concat"),
    "acgan": Family("Odena et al. 2017, arXiv:1610.09585", "non-saturating", _BCE_LIKE,
                    2e-4, 2e-4, (0.5, 0.999), conditioning="auxiliary"),
    # InfoGAN's MNIST setup: D 2e-4, G 1e-3, 10-way categorical + 2 continuous codes, lambda 1.
    "infogan": Family("Chen et al. 2016, arXiv:1606.03657", "non-saturating", _BCE_LIKE,
                      1e-3, 2e-4, (0.5, 0.999)),
    # WGAN-GP paper: lambda 10, n_critic 5, Adam(1e-4, betas (0, 0.9)), no BatchNorm in the critic.
    "wgan-gp": Family("Gulrajani et al. 2017, arXiv:1704.00028", "wasserstein-gp", ("wasserstein-gp",),
                      1e-4, 1e-4, (0.0, 0.9), d_steps=5, d_norm="layer"),
    # SNGAN: spectral norm on every D layer, hinge loss, Adam(2e-4, (0.5, 0.999)), one D step.
    "sngan": Family("Miyato et al. 2018, arXiv:1802.05957", "hinge", _BCE_LIKE,
                    2e-4, 2e-4, (0.5, 0.999), d_norm="spectral"),
}
ARCHITECTURES = tuple(FAMILIES)
LOSSES = ("non-saturating", "minimax", "least-squares", "hinge", "wasserstein-gp")


@dataclass(frozen=True)
class GANConfig:
    arch: str = "dcgan"
    latent_dim: int = 100
    data_shape: tuple[int, ...] = (1, 28, 28)  # (C, H, W) for images, (2,) for 2-D points
    g_width: int = 64  # conv: channels of G's last hidden layer (ngf)
    d_width: int = 64  # conv: channels of D's first layer (ndf)
    hidden: int = 256  # mlp: units per hidden layer
    depth: int = 3  # mlp: hidden layers
    num_classes: int = 0  # > 0: conditioned on class labels
    cat_codes: int = 0  # infogan: size of the categorical code
    cont_codes: int = 0  # infogan: number of continuous codes

    def __post_init__(self) -> None:
        if self.arch not in FAMILIES:
            raise ValueError(f"unknown arch {self.arch!r}; known: {', '.join(ARCHITECTURES)}")

    @property
    def family(self) -> Family:
        return FAMILIES[self.arch]

    @property
    def is_image(self) -> bool:
        return len(self.data_shape) == 3

    @property
    def data_dim(self) -> int:
        n = 1
        for d in self.data_shape:
            n *= d
        return n

    @property
    def backbone(self) -> str:
        return "conv" if self.is_image and self.arch != "mlp" else "mlp"

    @property
    def d_norm(self) -> str:
        norm = self.family.d_norm
        return "none" if self.backbone == "mlp" and norm in ("batch", "layer") else norm

    @property
    def conditioning(self) -> str:
        """How labels reach D; sngan is conditional (projection) only when given classes."""
        if not self.num_classes:
            return "none"
        if self.arch == "sngan":
            return "projection"
        return self.family.conditioning

    @property
    def conditions_generator(self) -> bool:
        return self.conditioning != "none"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> GANConfig:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "data_shape" in values:
            values["data_shape"] = tuple(values["data_shape"])
        return cls(**values)


def build_generator(config: GANConfig) -> Generator:
    return Generator(config)


def build_discriminator(config: GANConfig) -> Discriminator:
    return Discriminator(config)
