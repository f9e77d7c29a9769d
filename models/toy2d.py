"""2-D Gaussian mixtures for studying mode collapse, with the evaluation protocol of PacGAN
(Lin et al. 2018) and VEEGAN (Srivastava et al. 2017).

ring8: 8 means at (cos 2πi/8, sin 2πi/8), std 0.01. grid25: 25 means at {-4,-2,0,2,4}², std 0.05.
A sample is high-quality if within 3 std of its nearest mean; a mode is captured if at least one
high-quality sample is nearest to it.

One high-quality sample is a thin hold: a mode that a G feeds a handful of samples in one draw of 2,500 is
missing from the next draw as often as not. `modes_held` (ours, not the papers') counts the modes that hold at
least a tenth of a fair share (n / modes) of high-quality samples: with 2,500 samples of grid25 that is 10, and
a mode with 10 expected samples comes up empty in another draw with odds of about e^-10.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

HELD_SHARE = 0.1  # of a fair share of high-quality samples, for a mode to count as held


@dataclass(frozen=True)
class Mixture:
    name: str
    means: torch.Tensor  # K x 2
    std: float

    def sample(self, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (points N x 2 float32, index of each point's mode)."""
        generator = torch.Generator().manual_seed(seed)
        modes = torch.randint(len(self.means), (n,), generator=generator)
        points = self.means[modes] + self.std * torch.randn(n, 2, generator=generator)
        return points, modes

    def evaluate(self, samples: torch.Tensor) -> dict:
        """Modes captured, modes held (a tenth of a fair share or more) and the fraction of high-quality samples."""
        distances = torch.cdist(samples.float(), self.means)
        nearest, mode = distances.min(dim=1)
        high_quality = nearest <= 3 * self.std
        per_mode = torch.bincount(mode[high_quality], minlength=len(self.means))
        held_at = HELD_SHARE * len(samples) / len(self.means)
        return {"modes": int((per_mode > 0).sum()), "of_modes": len(self.means),
                "modes_held": int((per_mode >= held_at).sum()), "held_at": held_at,
                "high_quality": high_quality.float().mean().item()}


def ring8() -> Mixture:
    # 2πi/8 for i = 0..7: linspace(0, 2π, 8) would repeat the first mean and give 7 modes.
    angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
    return Mixture("ring8", torch.stack([angles.cos(), angles.sin()], dim=1).float(), 0.01)


def grid25() -> Mixture:
    axis = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0])
    return Mixture("grid25", torch.cartesian_prod(axis, axis), 0.05)


MIXTURES = {"ring8": ring8, "grid25": grid25}
