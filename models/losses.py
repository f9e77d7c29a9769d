"""Adversarial losses on D's raw outputs (logits or critic scores), and the gradient penalty."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def discriminator_loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    if kind in ("non-saturating", "minimax"):  # the same D objective: real -> 1, fake -> 0
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    if kind == "least-squares":  # Mao et al. 2017, a-b-c = 0-1-1
        return 0.5 * ((real - 1).pow(2).mean() + fake.pow(2).mean())
    if kind == "hinge":  # Lim & Ye 2017; Miyato et al. 2018
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    if kind == "wasserstein-gp":  # the penalty is added by the trainer
        return fake.mean() - real.mean()
    raise ValueError(f"unknown loss {kind!r}")


def generator_loss(kind: str, fake: torch.Tensor) -> torch.Tensor:
    if kind == "non-saturating":
        # -log D(G(z)) (Goodfellow et al. 2014, sec. 3): strong gradients early on, when D rejects every
        # sample and log(1 - D(G(z))) saturates.
        return F.softplus(-fake).mean()
    if kind == "minimax":  # the game as written: minimise log(1 - D(G(z)))
        return -F.softplus(fake).mean()
    if kind == "least-squares":
        return 0.5 * (fake - 1).pow(2).mean()
    if kind in ("hinge", "wasserstein-gp"):
        return -fake.mean()
    raise ValueError(f"unknown loss {kind!r}")


def reports_probability(kind: str) -> bool:
    """Whether sigmoid(D output) is a probability of "real" for this loss."""
    return kind in ("non-saturating", "minimax")


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, labels, generator: torch.Generator,
                     pack: int = 1):
    """(||grad D(x_hat)|| - 1)^2 on random interpolates of real and fake (Gulrajani et al. 2017). With
    PacGAN packing the critic judges a pack, so a pack shares its mix and its gradient norm."""
    shape = (real.shape[0] // pack,) + (1,) * (real.dim() - 1)
    alpha = torch.rand(shape, device=real.device, generator=generator).repeat_interleave(pack, dim=0)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    scores = critic(mixed, labels).logit
    (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    return (grad.reshape(scores.shape[0], -1).norm(dim=1) - 1).pow(2).mean()


def entropy(p: torch.Tensor) -> torch.Tensor:
    """The entropy (nats) of each row of class probabilities."""
    return -(p * p.clamp_min(1e-12).log()).sum(-1)
