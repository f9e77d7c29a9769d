"""Adversarial losses on discriminator logits."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy: real images labelled 1, generated ones 0."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating loss -log D(G(z)) (Goodfellow et al. 2014, sec. 3): strong gradients early on,
    when D rejects every sample and log(1 - D(G(z))) would saturate."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
