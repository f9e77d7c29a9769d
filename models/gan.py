"""The GAN families and the config that rebuilds a family's networks (stored in every model card).

A family is one row of data: what it is, what it takes and gives, its paper's defaults, and the
functions that build its networks. The job spec's validation, the compatibility check against a
data set, the docs table and the tests all read these rows, so a new family is a new row (plus its
nets), registered with `register_family`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields
from typing import Literal

from torch import nn

from models.nets.conditional import Discriminator, Generator
from models.nets.dcgan import SUPPORTED_SIZES
from models.nets.progan import ProGANDiscriminator, ProGANGenerator
from models.nets.stylegan2 import IMAGE_SIZES as STYLE_SIZES
from models.nets.stylegan2 import StyleDiscriminator, StyleGenerator, style_layers
from models.nets.translation import (
    CycleDiscriminators,
    CycleGenerators,
    Pix2PixDiscriminator,
    SRDiscriminator,
    SRResNet,
    UNetGenerator,
)
from models.nets.variation import DaganDiscriminator, DaganGenerator

# What a family trains on: images or 2-D points (samplers); pairs of images (paired: the same scene in both
# domains, as pix2pix needs) or two unpaired sets of images (CycleGAN).
DataKind = Literal["images", "points", "paired", "unpaired"]
Conditional = Literal["never", "always", "optional"]
LOSSES = ("non-saturating", "minimax", "least-squares", "hinge", "wasserstein-gp")
_BCE_LIKE = ("non-saturating", "minimax", "least-squares", "hinge")
# 2-D mixtures: least squares, Adam 1e-3, batch 128 and a decaying learning rate over about 4,000 G steps
# (52 epochs of the 10,000 points): on ring8 (seeds 0-2), cgan and acgan 8/8 modes with 99.6-99.9 % high-quality
# samples, infogan 8/8 with 93.8-99.2 %, where the papers' defaults left 58-77 % (docs/models.md).
_POINTS = {"loss": "least-squares", "lr_g": 1e-3, "lr_d": 1e-3, "batch_size": 128, "lr_decay": True, "epochs": 52}
# The unconditional mlp on 25 modes needs more: 208 epochs (16,224 G steps), a minibatch-std feature in D
# (group 4) and an EMA of G (0.99), serving the best of its per-epoch scores (a built-in mixture's default,
# worker/spec.py). grid25 (seeds 0-2) went from 23-24/25 modes at 74-85 % high quality to 24-25/25 at 88-93 %
# with mbstd, and to 25/25 at 94-96 % with the EMA and epochs ranked by modes held (docs/models.md).
_POINTS_MLP = {**_POINTS, "epochs": 208, "mbstd": 4, "ema": 0.99}
# 28 px digits: half-width nets, batch 64, Adam 5e-4, an EMA of G (0.99), 20 epochs (1,560 G steps on the
# 5,000 MNIST digits: 83 s on 2 cores in float32, 46 s in bf16 on a CPU with AMX). On 1,000 samples read by the
# reference classifier (float32, seed 0; bench/family_scores.py, docs/models.md): cgan confidence 0.91, feature
# FID 7.3; acgan 0.92, 12.6; dcgan 0.79, 31.9 (its paper defaults: 0.72, 65.5); sngan 0.74, 42.1 (0.69, 72.3).
# wgan-gp keeps its paper's settings: at this budget (620 G steps with n_critic 5) the recipe made it worse
# (FID 166 -> 207).
# Translators on 28 px digits (bench/translation_quality.py, docs/models.md): narrower nets and a few epochs, so a
# job with the defaults trains in about a minute on 2 CPU cores and beats its baselines on held-out digits.
_PIX2PIX_28 = {"g_width": 32, "d_width": 32, "epochs": 3}
_CYCLEGAN_28 = {"g_width": 16, "d_width": 16, "blocks": 3, "epochs": 2}
_SRGAN_28 = {"g_width": 32, "d_width": 16, "blocks": 4, "epochs": 2}
# DAGAN at 28 px: measured in docs/models.md (DAGAN); the paper's WGAN-GP kept fewer unseen digits' class.
_DAGAN_28 = {"g_width": 16, "d_width": 16, "epochs": 8, "batch_size": 64, "loss": "non-saturating", "d_steps": 1,
             "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999}
# StyleGAN2 on a CPU (MNIST's 5,000 digits at 32 px, seed 0, 1,000 samples, float32): a narrow G, a D twice as wide,
# stylegan2-ada's 2 mapping layers for small images, 6 epochs (936 steps, 180 s on one contended core; about 260 img/s
# on 2 idle cores). The EMA's half-life is 138 steps (the paper's 10k images would leave 13 % of the init in it after
# 936 steps). R1 gamma 1: ada's heuristic (0.0064 here) collapsed to one class by 8 epochs. Reference-classifier
# figures: served (EMA) confidence 0.76, 4/10 classes, feature FID 238 (raw G: 201); at D width 8 it was 266-298,
# G width 16 learnt slower per second. A dcgan at width 32 reaches FID 110 in 42 s: StyleGAN2 needs far more images
# than a CPU job shows it.
_STYLEGAN2_CPU = {"g_width": 8, "d_width": 16, "mapping_layers": 2, "mbstd": 4, "batch_size": 32, "epochs": 6,
                  "ema": 0.995, "r1_gamma": 1.0}
_DIGITS = {"g_width": 32, "d_width": 32, "batch_size": 64, "lr_g": 5e-4, "lr_d": 5e-4, "ema": 0.99, "epochs": 20}
# ProGAN on small image sets: quarter-width nets (16 channels at the full size, 128 at 4x4 for 32 px), batch 32,
# 12 epochs: on the 1,797 digits at 32 px, 672 steps in 157 s on one CPU core (137 images/s, float32), with
# recognisable digits (a sample's L2 distance to the nearest real digit 10.4, seeds 0-1). No EMA:
# at this budget the phases are a hundred steps long and an EMA of 0.99 lagged behind them (16 px: 7.3-8.4
# against 5.2-6.5 without).
_PROGAN = {"g_width": 16, "d_width": 16, "batch_size": 32, "epochs": 12}


@dataclass(frozen=True)
class Family:
    """A family's networks, what it takes and gives, and its paper's training defaults."""

    reference: str
    networks: str  # one line for the docs table
    loss: str
    losses: tuple[str, ...]  # the losses that make sense for it
    lr_g: float
    lr_d: float
    betas: tuple[float, float]
    d_steps: int = 1
    d_norm: str = "batch"  # batch | layer | spectral | none
    conditional: Conditional = "never"  # whether it conditions on class labels
    conditioning: str = "concat"  # when conditional, how labels reach D: concat | auxiliary | projection
    takes_codes: bool = False  # InfoGAN's categorical and continuous latent codes
    data_kinds: tuple[DataKind, ...] = ("images", "points")
    image_sizes: tuple[int, ...] = SUPPORTED_SIZES
    image_backbone: str = "conv"  # the nets for images: conv, or mlp on flattened pixels
    # sampler: noise (+ labels, codes) -> sample; translator: image -> image; augmenter: image + noise -> a
    # variation of the image (DAGAN)
    kind: str = "sampler"
    directions: tuple[str, ...] = ()  # translators: a2b, and b2a for a two-way model (CycleGAN)
    trainer: str = "adversarial"  # the training loop: a key of models.trainers.TRAINERS
    # Training settings that differ from TrainConfig's defaults, per data kind: measured recipes.
    recipes: dict[str, dict] = field(default_factory=dict)
    # Translators: the weights of the terms beside the adversarial one (the paper's), as TrainConfig fields.
    weights: dict[str, float] = field(default_factory=dict)
    build_generator: Callable[[GANConfig], nn.Module] = Generator
    build_discriminator: Callable[[GANConfig], nn.Module] = Discriminator
    # Style-based generators: the resolution each of the generator's w inputs drives (its length is the number
    # of ws), so that the card can offer psi truncation, style mixing and ws inputs; None: not style-based.
    style_layers: Callable[[GANConfig], list[int]] | None = None

    def train_defaults(self, recipe_key: str) -> dict:
        """Training settings a job leaves unset: the paper's optimiser and loss, then the data's recipe."""
        recipe = {k: v for k, v in self._recipe(recipe_key).items() if k not in _NET_FIELDS}
        return {"loss": self.loss, "lr_g": self.lr_g, "lr_d": self.lr_d, "beta1": self.betas[0],
                "beta2": self.betas[1], "d_steps": self.d_steps, **self.weights, **recipe}

    def net_defaults(self, recipe_key: str) -> dict:
        """Network settings (GANConfig fields) a job leaves unset, from the data's recipe."""
        return {k: v for k, v in self._recipe(recipe_key).items() if k in _NET_FIELDS}

    def _recipe(self, recipe_key: str) -> dict:
        # "images@28" falls back to "images": a recipe for a size, else for the data kind.
        return self.recipes.get(recipe_key) or self.recipes.get(recipe_key.split("@")[0], {})

    def refusals(self, *, conditional: bool, codes: bool, loss: str | None) -> list[str]:
        """What in a model spec does not fit this family, as sentences for a 422."""
        errors = []
        if loss is not None and loss not in self.losses:
            errors.append(f"does not train with loss {loss!r}; choose one of {', '.join(self.losses)}")
        if conditional and self.conditional == "never":
            errors.append(f"is not conditional; use one of {', '.join(conditional_families())} to condition on "
                          "labels")
        if not conditional and self.conditional == "always":
            errors.append("is conditional by definition; use an unconditional family such as dcgan")
        if codes and not self.takes_codes:
            takers = ", ".join(name for name, family in FAMILIES.items() if family.takes_codes)
            errors.append(f"takes no latent codes; codes belong to {takers}")
        return errors


FAMILIES: dict[str, Family] = {
    # Goodfellow et al. 2014: k D steps per G step; the paper trains with SGD + momentum.
    "mlp": Family("Goodfellow et al. 2014, arXiv:1406.2661", "MLP G and D (flattened images or 2-D points)",
                  "non-saturating", (*_BCE_LIKE, "wasserstein-gp"), 1e-3, 1e-3, (0.5, 0.999), d_norm="none",
                  image_backbone="mlp", recipes={"points": _POINTS_MLP}),
    "dcgan": Family("Radford et al. 2015, arXiv:1511.06434",
                    "strided conv G and D, BatchNorm, ReLU/Tanh in G, LeakyReLU in D", "non-saturating", _BCE_LIKE,
                    2e-4, 2e-4, (0.5, 0.999), data_kinds=("images",), recipes={"images@28": _DIGITS}),
    "cgan": Family("Mirza & Osindero 2014, arXiv:1411.1784",
                   "DCGAN (or MLP for points); one-hot labels joined to z and to D's input", "non-saturating",
                   _BCE_LIKE, 2e-4, 2e-4, (0.5, 0.999), conditional="always", conditioning="concat",
                   recipes={"points": _POINTS, "images@28": _DIGITS}),
    "acgan": Family("Odena et al. 2017, arXiv:1610.09585",
                    "labels to G; D has an auxiliary classifier head, both nets add its cross-entropy",
                    "non-saturating", _BCE_LIKE, 2e-4, 2e-4, (0.5, 0.999), conditional="always",
                    conditioning="auxiliary", recipes={"points": _POINTS, "images@28": _DIGITS}),
    # InfoGAN's MNIST setup: D 2e-4, G 1e-3, 10-way categorical + 2 continuous codes, lambda 1.
    "infogan": Family("Chen et al. 2016, arXiv:1606.03657",
                      "categorical + continuous codes joined to z; a Q head on D's features; λ·MI term for G and Q",
                      "non-saturating", _BCE_LIKE, 1e-3, 2e-4, (0.5, 0.999), takes_codes=True,
                      recipes={"points": _POINTS, "images@28": _DIGITS}),
    # WGAN-GP paper: lambda 10, n_critic 5, Adam(1e-4, betas (0, 0.9)), no BatchNorm in the critic.
    "wgan-gp": Family("Gulrajani et al. 2017, arXiv:1704.00028",
                      "critic without BatchNorm (layer norm), gradient penalty λ = 10", "wasserstein-gp",
                      ("wasserstein-gp",), 1e-4, 1e-4, (0.0, 0.9), d_steps=5, d_norm="layer",
                      data_kinds=("images",)),  # collapsed on the 2-D mixtures (0-2 % high quality): refused
    # SNGAN: spectral norm on every D layer, hinge loss, Adam(2e-4, (0.5, 0.999)), one D step; with
    # classes, a projection discriminator (Miyato & Koyama 2018).
    "sngan": Family("Miyato et al. 2018, arXiv:1802.05957",
                    "spectral norm on every D layer; with `conditional: true`, a projection discriminator", "hinge",
                    _BCE_LIKE, 2e-4, 2e-4, (0.5, 0.999), d_norm="spectral", conditional="optional",
                    conditioning="projection", data_kinds=("images",), recipes={"images@28": _DIGITS}),
                    # 0/8 modes on ring8 even with the points recipe: refused on 2-D points
    # ProGAN: WGAN-GP (lambda 10) plus a drift term, one critic step, Adam 1e-3 (0, 0.99); the nets grow from
    # 4x4 to the full size (models/progan.py).
    "progan": Family("Karras et al. 2018, arXiv:1710.10196",
                     "G and D grown from 4² to the full size, each new resolution faded in; pixel norm in G, "
                     "equalised learning rate, minibatch std in D", "wasserstein-gp", ("wasserstein-gp",), 1e-3,
                     1e-3, (0.0, 0.99), d_steps=1, d_norm="none", data_kinds=("images",),
                     image_sizes=(4, 8, 16, 32, 64, 128, 256), trainer="progan", recipes={"images": _PROGAN},
                     build_generator=ProGANGenerator, build_discriminator=ProGANDiscriminator),
    # Image to image. pix2pix: Adam 2e-4 (0.5, 0.999), the cGAN loss on (input, output) pairs + 100 x L1.
    "pix2pix": Family("Isola et al. 2017, arXiv:1611.07004",
                      "U-Net G (skips between mirrored levels, dropout in the decoder), PatchGAN D on (input, "
                      "output) pairs", "non-saturating", ("non-saturating", "least-squares"), 2e-4, 2e-4,
                      (0.5, 0.999), data_kinds=("paired",), kind="translator", directions=("a2b",),
                      trainer="pix2pix", weights={"recon_weight": 100.0, "identity_weight": 0.0},
                      recipes={"images@28": _PIX2PIX_28},
                      build_generator=UNetGenerator, build_discriminator=Pix2PixDiscriminator),
    # CycleGAN: LSGAN loss, Adam 2e-4 (0.5, 0.999), cycle lambda 10, identity 0.5 x lambda, a pool of 50 fakes.
    "cyclegan": Family("Zhu et al. 2017, arXiv:1703.10593",
                       "two ResNet-block Gs (A to B and B to A), two PatchGAN Ds, cycle and identity L1, a "
                       "pool of 50 past fakes for each D", "least-squares", ("least-squares", "non-saturating"),
                       2e-4, 2e-4, (0.5, 0.999), d_norm="instance", data_kinds=("unpaired", "paired"),
                       kind="translator", directions=("a2b", "b2a"), trainer="cyclegan",
                       weights={"recon_weight": 10.0, "identity_weight": 0.5}, recipes={"images@28": _CYCLEGAN_28},
                       build_generator=CycleGenerators, build_discriminator=CycleDiscriminators),
    # SRGAN: Adam 1e-4 (0.9, 0.999); G's loss = content + 1e-3 x adversarial, written here as adversarial +
    # 1000 x content. The content term is pixel MSE (the paper's VGG54 needs ImageNet weights; see docs).
    "srgan": Family("Ledig et al. 2017, arXiv:1609.04802",
                    "SRResNet G (residual blocks, sub-pixel convolution per 2x), VGG-style conv D",
                    "non-saturating", ("non-saturating", "least-squares"), 1e-4, 1e-4, (0.9, 0.999),
                    data_kinds=("paired", "images"), kind="translator", directions=("a2b",), trainer="srgan",
                    weights={"recon_weight": 1000.0, "identity_weight": 0.0}, recipes={"images@28": _SRGAN_28},
                    build_generator=SRResNet, build_discriminator=SRDiscriminator),
    # DAGAN: WGAN-GP (lambda 10, 5 critic steps), Adam 1e-4 (0, 0.9), z of 100, as the authors' code trains it;
    # the 28 px recipe replaces them with what measured better there.
    "dagan": Family("Antoniou et al. 2017, arXiv:1711.04340",
                    "U-Net G with z as a spatial map at the bottleneck and every decoder level; a critic on (image, "
                    "partner) pairs: right partners are other images of the class, wrong ones G's variations and "
                    "(matching-aware) images of other classes",
                    "wasserstein-gp", ("wasserstein-gp", "non-saturating", "least-squares", "hinge"), 1e-4, 1e-4,
                    (0.0, 0.9), d_steps=5, d_norm="layer", data_kinds=("images",), kind="augmenter",
                    trainer="dagan", recipes={"images@28": _DAGAN_28},
                    build_generator=DaganGenerator, build_discriminator=DaganDiscriminator),
    # StyleGAN2 (config F's loss and regularisers): Adam (0, 0.99) at 0.0025, stylegan2-ada's rate below 1024 px;
    # lazy R1, style mixing 0.9, path length off (models/stylegan2.py says why).
    "stylegan2": Family("Karras et al. 2020, arXiv:1912.04958",
                        "mapping network z to w; synthesis from a learned 4x4 constant through modulated and "
                        "demodulated convs with noise, toRGB skips; residual D with minibatch std; equalised LR",
                        "non-saturating", ("non-saturating",), 2.5e-3, 2.5e-3, (0.0, 0.99), d_norm="none",
                        conditional="optional", conditioning="projection", data_kinds=("images",),
                        image_sizes=STYLE_SIZES, trainer="stylegan2", recipes={"images": _STYLEGAN2_CPU},
                        build_generator=StyleGenerator, build_discriminator=StyleDiscriminator,
                        style_layers=style_layers),
}


def register_family(name: str, family: Family) -> None:
    """Adds a family (a plugin's, or a test's); every part that lists families reads FAMILIES."""
    if name in FAMILIES and FAMILIES[name] is not family:
        raise ValueError(f"a family named {name!r} is already registered")
    FAMILIES[name] = family


def load_family_modules(modules: Iterable[str]) -> None:
    """Imports modules that call register_family: the settings' `family_modules`, in API and worker alike."""
    for module in modules:
        importlib.import_module(module)


def architectures() -> tuple[str, ...]:
    return tuple(FAMILIES)


def conditional_families() -> tuple[str, ...]:
    return tuple(name for name, family in FAMILIES.items() if family.conditional != "never")


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
    pack: int = 1  # PacGAN (Lin et al. 2018): D judges `pack` samples side by side; 1: off
    mbstd: int = 0  # minibatch-std feature in D (Karras et al. 2018), group size; 0: off
    source_shape: tuple[int, ...] = ()  # translators: (C, H, W) of an input image (domain A)
    blocks: int = 0  # residual blocks (CycleGAN's and SRGAN's generators); 0: the family's default
    mapping_layers: int = 8  # stylegan2: fully connected layers of the mapping network z -> w

    def __post_init__(self) -> None:
        if self.arch not in FAMILIES:
            raise ValueError(f"unknown arch {self.arch!r}; known: {', '.join(FAMILIES)}")

    @property
    def family(self) -> Family:
        return FAMILIES[self.arch]

    @property
    def is_image(self) -> bool:
        return len(self.data_shape) == 3

    @property
    def data_kind(self) -> str:
        return "images" if self.is_image else "points"

    @property
    def data_dim(self) -> int:
        n = 1
        for d in self.data_shape:
            n *= d
        return n

    @property
    def backbone(self) -> str:
        return self.family.image_backbone if self.is_image else "mlp"

    @property
    def d_norm(self) -> str:
        norm = self.family.d_norm
        return "none" if self.backbone == "mlp" and norm in ("batch", "layer") else norm

    @property
    def conditioning(self) -> str:
        """How labels reach D: none without classes or for a family that never conditions, else its way."""
        return self.family.conditioning if self.num_classes and self.family.conditional != "never" else "none"

    @property
    def conditions_generator(self) -> bool:
        return self.conditioning != "none"

    @property
    def recipe_key(self) -> str:
        """Which of a family's recipes fits this data: `points`, or `images@<size>` (else `images`)."""
        return f"images@{self.data_shape[-1]}" if self.is_image else "points"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> GANConfig:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for name in ("data_shape", "source_shape"):
            if name in values:
                values[name] = tuple(values[name])
        return cls(**values)


_NET_FIELDS = frozenset(f.name for f in fields(GANConfig))


def build_generator(config: GANConfig) -> nn.Module:
    return config.family.build_generator(config)


def build_discriminator(config: GANConfig) -> nn.Module:
    return config.family.build_discriminator(config)
