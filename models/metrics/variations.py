"""Figures for a variation model (DAGAN): do variations keep the input's class, and are they more than copies?

Each is read beside what gives it meaning: the classifier's accuracy on the inputs themselves, the distance
of an input to itself moved by one pixel (a change too small to call a new image), and the distance between
two different real images of one class (how far apart real members of a class lie).
"""

from __future__ import annotations

import torch
from torch import nn

from models.dagan import same_class_partners
from models.metrics.classifier import accuracy
from models.metrics.translation import mean_l1
from models.sampling import variation_latents, vary


def variation_scores(net: nn.Module, images: torch.Tensor, labels: torch.Tensor, latent_dim: int,
                     judge: nn.Module | None = None, n: int = 4, seed: int = 0) -> dict[str, float]:
    """`n` seeded variations of each image (uint8 NCHW, labels int64). Distances are mean L1 on 0-255."""
    latents = variation_latents(images.shape[0], n, latent_dim, seed)
    sources = images.repeat_interleave(n, dim=0)
    out = vary(net, sources, latents)
    per_input = out.view(images.shape[0], n, *out.shape[1:])
    partners = same_class_partners(labels, torch.Generator().manual_seed(seed))
    scores = {"to_input_l1": mean_l1(out, sources),
              "between_variations_l1": mean_l1(per_input[:, 1:], per_input[:, :-1]) if n > 1 else 0.0,
              "one_pixel_shift_l1": mean_l1(torch.roll(images, 1, dims=-1), images),
              "same_class_real_l1": mean_l1(images[partners], images)}
    if judge is not None:
        scores["class_kept"] = accuracy(judge, out, labels.repeat_interleave(n))
        scores["class_read_on_inputs"] = accuracy(judge, images, labels)
    return scores
