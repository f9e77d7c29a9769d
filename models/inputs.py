"""What a generator takes besides its weights, and the prior its codes are drawn from.

One definition for training, sampling and serving: latents `z`, plus the conditioning the family
uses (class labels; InfoGAN's categorical and continuous codes). `Conditioning` is the same
conditioning as a dict by keyword, the form the generator's forward (and a request) takes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from models.family import GANConfig

# A generator's inputs beside z, by keyword: labels, InfoGAN's codes, and a style-based generator's per-sample
# truncation (psi towards the mean w, and the number of leading ws it applies to).
Conditioning = dict[str, torch.Tensor]
CONDITIONS = ("labels", "categorical", "continuous", "psi", "cutoff")


@dataclass
class Inputs:
    """Latents and conditioning for n samples; the family decides which conditioning exists."""

    z: torch.Tensor
    labels: torch.Tensor | None = None
    categorical: torch.Tensor | None = None
    continuous: torch.Tensor | None = None
    psi: torch.Tensor | None = None
    cutoff: torch.Tensor | None = None

    @classmethod
    def of(cls, z: torch.Tensor, conditioning: Conditioning | None = None) -> Inputs:
        conditioning = conditioning or {}
        if unknown := set(conditioning) - set(CONDITIONS):
            raise ValueError(f"unknown conditioning {sorted(unknown)}; a generator takes {', '.join(CONDITIONS)}")
        return cls(z, **conditioning)

    def __len__(self) -> int:
        return self.z.shape[0]

    def as_kwargs(self) -> Conditioning:
        """The conditioning that exists, by keyword: `generator(inputs.z, **inputs.as_kwargs())`."""
        return {name: value for name in CONDITIONS if (value := getattr(self, name)) is not None}

    def __getitem__(self, rows: slice) -> Inputs:
        return Inputs.of(self.z[rows], {name: value[rows] for name, value in self.as_kwargs().items()})

    def to(self, device: str | torch.device) -> Inputs:
        return Inputs.of(self.z.to(device), {name: value.to(device) for name, value in self.as_kwargs().items()})


def draw_codes(n: int, categorical: int, continuous: int, generator: torch.Generator, cycle: bool = False,
               offset: int = 0) -> Conditioning:
    """InfoGAN's code prior (Chen et al. 2016): a uniform categorical code of `categorical` classes and
    `continuous` codes from Uniform(-1, 1), drawn in that order from `generator`, on its device.

    With `cycle` the categories are taken in turn instead of drawn, starting at index `offset` (so the
    chunks of one stream continue the cycle): every category shows in a grid or a data set. A code of
    size 0 is left out."""
    codes = {}
    if categorical:
        codes["categorical"] = draw_classes(n, categorical, generator, cycle, offset)
    if continuous:
        codes["continuous"] = torch.rand(n, continuous, device=generator.device, generator=generator) * 2 - 1
    return codes


def draw_classes(n: int, classes: int, generator: torch.Generator, cycle: bool = False,
                 offset: int = 0) -> torch.Tensor:
    """n class indices, uniform over `classes`, or with `cycle` in turn from `offset` (drawing nothing)."""
    device = generator.device
    if cycle:
        return torch.arange(offset, offset + n, device=device) % classes
    return torch.randint(classes, (n,), device=device, generator=generator)


def draw_inputs(gan: GANConfig, n: int, generator: torch.Generator, cycle: bool = False) -> Inputs:
    """Inputs for n samples from the priors training uses: z ~ N(0, I), uniform labels, the code prior.
    The draws come from `generator` in a fixed order (z, labels, codes), on its device, so a saved
    generator state replays them exactly. `cycle` takes labels and categories in turn (fixed grids)."""
    z = torch.randn(n, gan.latent_dim, device=generator.device, generator=generator)
    labels = draw_classes(n, gan.num_classes, generator, cycle) if gan.conditions_generator else None
    return Inputs(z, labels, **draw_codes(n, gan.cat_codes, gan.cont_codes, generator, cycle))
