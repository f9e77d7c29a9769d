"""What a GAN family is (a `Family` row), the registry of families, and the config that rebuilds a family's
networks (`GANConfig`, stored in every model card).

A family is one row of data: what it is, what it takes and gives, its paper's defaults, the functions that build its
networks and the name of its training loop. The job spec's validation, the compatibility check against a data set,
the docs table and the tests all read these rows. The built-in rows live one file each in models/families/ (a new
family with the standard loop is one new file there); a plugin calls `register_family` from a module named in
GANFORGE_FAMILY_MODULES. This module imports no trainer, so the nets and trainers can import it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Literal

from models.nets.dcgan import SUPPORTED_SIZES

if TYPE_CHECKING:
    from torch import nn

# What a family trains on: images or 2-D points (samplers); pairs of images (paired: the same scene in both
# domains, as pix2pix needs) or two unpaired sets of images (CycleGAN).
DataKind = Literal["images", "points", "paired", "unpaired"]
Conditional = Literal["never", "always", "optional"]
LOSSES = ("non-saturating", "minimax", "least-squares", "hinge", "wasserstein-gp")
BCE_LIKE = ("non-saturating", "minimax", "least-squares", "hinge")
STANDARD_LOOP = "models.trainer:Trainer"
STANDARD_LOOP_OPTIONS = ("reuse_fakes",)  # train options that only the standard loop's D and G steps honour

FAMILIES: dict[str, Family] = {}


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
    image_sizes: tuple[int, ...] = SUPPORTED_SIZES  # DCGAN's layouts
    image_backbone: str = "conv"  # the nets for images: conv, or mlp on flattened pixels
    # sampler: noise (+ labels, codes) -> sample; translator: image -> image; augmenter: image + noise -> a
    # variation of the image (DAGAN)
    # What the model takes and gives, a kind's name (core/kinds.py): sampler (noise, labels, codes -> sample),
    # translator (image -> image), augmenter (image + noise -> a variation of the image), or a plugin's kind.
    kind: str = "sampler"
    directions: tuple[str, ...] = ()  # translators: a2b, and b2a for a two-way model (CycleGAN)
    # The training loop, as "module:Class" (a models.trainer.Trainer): imported only by the processes that train, so
    # that the API, which reads the rows, never loads training code.
    trainer: str = STANDARD_LOOP
    # The options of the job spec that only some families take (model.blocks, train.r1_gamma, ...): a job of another
    # family that sets one is told which families take it.
    model_options: tuple[str, ...] = ()
    train_options: tuple[str, ...] = ()
    upscales: bool = False  # G's output is `scale` times its input's size (SRGAN); else the sizes match
    # Training settings that differ from TrainConfig's defaults, per data kind: measured recipes.
    recipes: dict[str, dict] = field(default_factory=dict)
    # Translators: the weights of the terms beside the adversarial one (the paper's), as TrainConfig fields.
    weights: dict[str, float] = field(default_factory=dict)
    build_generator: Callable[[GANConfig], nn.Module] | None = None
    build_discriminator: Callable[[GANConfig], nn.Module] | None = None
    # Style-based generators: the resolution each of the generator's w inputs drives (its length is the number
    # of ws), so that the card can offer psi truncation, style mixing and ws inputs; None: not style-based.
    style_layers: Callable[[GANConfig], list[int]] | None = None
    # Generators trained elsewhere that POST /v1/models/import takes: a foreign key prefix -> ours, for a layout
    # whose tensors are ours under other names (models/weights.py renames them, then checks every shape).
    import_prefixes: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.build_generator is None or self.build_discriminator is None:
            raise ValueError("a family names its nets: build_generator and build_discriminator")
        if self.trainer == STANDARD_LOOP:
            object.__setattr__(self, "train_options", (*self.train_options, *STANDARD_LOOP_OPTIONS))

    def trainer_class(self) -> type:
        module, _, name = self.trainer.partition(":")
        return getattr(importlib.import_module(module), name)

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
    # stylegan2: D's blocks, "resnet" (config F, with a 1x1 skip) or "orig" (two plain convs, stylegan2-ada's config
    # for small images)
    d_architecture: str = "resnet"
    # stylegan2: every level of G has at least g_top_scale x g_width channels, so 2 makes the top level as wide as the
    # one below it; 1: the plain doubling (cards made before it existed too)
    g_top_scale: int = 1
    # infogan's MNIST nets: fully connected units between the latents and G's convs and after D's, shared by D's heads
    # and Q; 0: none (cards made before it existed, too, so their generators still load).
    fc_stem: int = 0
    # measured: the family's recipe for the data (below) fills what a job leaves out; paper: the row alone (the
    # paper's optimiser, loss and critic steps), with the general defaults for the rest.
    recipe: str = "measured"

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
        """Which of a family's recipes fits this data: `points`, or `images@<size>` (else `images`); `paper`, which
        no family has, for none."""
        if self.recipe == "paper":
            return "paper"
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

