"""Precision, recall, density and coverage of generated samples in a feature space.

Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for Generative Models" (arXiv:2002.09797), building
on the k-NN manifolds of Kynkäänniemi et al. 2019 (arXiv:1904.06991). Each real point gets a ball reaching its
k-th nearest real neighbour; the union of balls estimates the real manifold (and likewise for fake points).

- precision: share of fake points inside some real ball (fidelity; falls when samples leave the data).
- recall:    share of real points inside some fake ball (diversity; falls when the generator collapses).
- density:   mean number of real balls holding each fake point, divided by k (fidelity robust to real outliers;
             ~1 for matching distributions, can exceed 1).
- coverage:  share of real points whose own ball holds at least one fake point (diversity robust to fake
             outliers).

Exact nearest neighbours, computed in row blocks with torch.cdist so 5,000 x 5,000 (or more) never holds the
whole distance matrix: memory is batch_size x N float64 (40 MB for 1,024 x 5,000).
"""

from __future__ import annotations

import torch

DEFAULT_K = 5  # Naeem et al. recommend k = 5 with 10k samples a side (§5)


def kth_neighbour_distances(points: torch.Tensor, k: int, batch_size: int = 1024) -> torch.Tensor:
    """Distance from each point to its k-th nearest other point (the radius of its ball)."""
    radii = []
    for block in points.split(batch_size):
        distances = torch.cdist(block, points)
        # the k+1 smallest include the point itself at distance 0, so index k is the k-th neighbour
        radii.append(distances.topk(k + 1, dim=1, largest=False).values[:, k])
    return torch.cat(radii)


def prdc(real: torch.Tensor, fake: torch.Tensor, k: int = DEFAULT_K, batch_size: int = 1024) -> dict[str, float]:
    """{"precision", "recall", "density", "coverage"} of `fake` against `real` (N x D feature tensors)."""
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"real and fake must be N x D feature tensors of one size; got {tuple(real.shape)} "
                         f"and {tuple(fake.shape)}")
    if min(len(real), len(fake)) <= k:
        raise ValueError(f"PRDC with k={k} needs more than {k} points a side; got {len(real)} real, {len(fake)} fake")
    real, fake = real.detach().to("cpu", torch.float64), fake.detach().to("cpu", torch.float64)
    real_radii = kth_neighbour_distances(real, k, batch_size)
    fake_radii = kth_neighbour_distances(fake, k, batch_size)

    balls_holding_fake = torch.zeros(len(fake), dtype=torch.int64)  # per fake point: how many real balls hold it
    real_in_fake_manifold, real_ball_covered = [], []
    for start in range(0, len(real), batch_size):
        block = real[start:start + batch_size]
        distances = torch.cdist(block, fake)  # block x N_fake
        inside_real_ball = distances < real_radii[start:start + batch_size, None]
        balls_holding_fake += inside_real_ball.sum(0)
        real_in_fake_manifold.append((distances < fake_radii[None, :]).any(1))
        real_ball_covered.append(inside_real_ball.any(1))

    return {
        "precision": (balls_holding_fake > 0).double().mean().item(),
        "recall": torch.cat(real_in_fake_manifold).double().mean().item(),
        "density": balls_holding_fake.double().sum().item() / (k * len(fake)),
        "coverage": torch.cat(real_ball_covered).double().mean().item(),
    }
