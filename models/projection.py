"""Projecting an image into a style-based generator: the ws whose image is closest to it (Karras et al. 2020,
section 5, and the projector of the authors' code), so that a real image can be edited like a generated one.

The search starts at the mean w and follows Adam with the learning rate ramped up over the first 5 % of the
steps and down (cosine) over the last 25 %; noise added to w, shrinking to zero by three quarters of the way,
keeps it from settling early. `space` "w" searches one w for every layer (what the paper projects into: the
result stays editable); "w+" one w per layer, which reconstructs more closely and edits less cleanly.

The paper's distance is LPIPS, a VGG network trained on human judgements; no such network can be had offline
here, so the distance is pixel MSE at three scales (full, 1/2, 1/4: coarse structure weighs as much as detail)
plus, when given, the squared distance between the features of a network that knows the data (the data set's
reference classifier). The generator's noise stays its fixed eval-mode noise, so the returned ws alone remake
the reconstruction through generate, interpolate and style-mix.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.sampling import to_uint8

W_STD_SAMPLES = 2_000  # latents mapped to estimate how far ws spread around the mean
FEATURE_WEIGHT = 1.0


@dataclass
class Projection:
    ws: torch.Tensor  # num_ws x w_dim
    image: torch.Tensor  # uint8 C x H x W: the generator's image of ws
    distance: float  # the search's distance (pixel MSE at three scales + feature term) at the end
    start_distance: float  # the same for the mean w's image, where the search starts
    pixel_mse: float  # in [0, 255] units, against the target
    start_pixel_mse: float
    history: list[float]  # the distance every 10 steps


def project(generator: nn.Module, target: torch.Tensor, steps: int = 300, space: str = "w", seed: int = 0,
            features: Callable[[torch.Tensor], torch.Tensor] | None = None, lr: float = 0.1) -> Projection:
    """The ws of `generator` (a style-based one, as models.nets.stylegan2 builds) whose image is closest to
    `target` (uint8 C x H x W of the generator's image shape)."""
    if space not in ("w", "w+"):
        raise ValueError(f"space must be 'w' or 'w+'; got {space!r}")
    generator.eval().requires_grad_(False)
    device = next(generator.parameters()).device
    rng = torch.Generator().manual_seed(seed)
    goal = target.to(device).float().div(127.5).sub(1).unsqueeze(0)
    w_avg, w_std = _w_statistics(generator, rng)
    goal_features = features(goal).detach() if features else None

    def distance(image: torch.Tensor) -> torch.Tensor:
        total = sum(F.mse_loss(F.avg_pool2d(image, 2 ** k), F.avg_pool2d(goal, 2 ** k))
                    for k in range(3) if goal.shape[-1] >= 4 * 2 ** k)
        if features is not None:
            total = total + FEATURE_WEIGHT * (features(image) - goal_features).pow(2).mean()
        return total

    layers = generator.num_ws if space == "w+" else 1
    w = w_avg.view(1, 1, -1).repeat(1, layers, 1).to(device).requires_grad_(True)
    optimiser = torch.optim.Adam([w], lr=lr, betas=(0.9, 0.999))
    with torch.no_grad():
        start = _image(generator, w)
        start_distance = float(distance(start))
    history = []
    for step in range(steps):
        t = step / max(steps - 1, 1)
        for group in optimiser.param_groups:
            group["lr"] = lr * _ramp(t)
        jitter = w_std * 0.05 * max(0.0, 1 - t / 0.75) ** 2
        noisy = w + jitter * torch.randn(w.shape, generator=rng).to(device)
        loss = distance(_image(generator, noisy))
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        if step % 10 == 0:
            history.append(round(loss.item(), 6))
    with torch.no_grad():
        ws = w.expand(1, generator.num_ws, -1) if layers == 1 else w
        image = _image(generator, ws)
        end_distance = float(distance(image))
    return Projection(ws[0].detach().cpu(), to_uint8(image[0].cpu()), end_distance, start_distance,
                      _pixel_mse(image, goal), _pixel_mse(start, goal), history)


def _image(generator: nn.Module, w: torch.Tensor) -> torch.Tensor:
    ws = w.expand(-1, generator.num_ws, -1) if w.shape[1] == 1 else w
    return generator.synthesis(ws)


def _w_statistics(generator: nn.Module, rng: torch.Generator) -> tuple[torch.Tensor, float]:
    """The generator's tracked mean w, and the ws' spread around it (the RMS distance, as the authors' projector
    scales its exploration noise), from mapped random latents (random classes for a conditional model)."""
    device = next(generator.parameters()).device
    z = torch.randn(W_STD_SAMPLES, generator.latent_dim, generator=rng).to(device)
    classes = getattr(generator, "num_classes", 0)
    labels = torch.randint(classes, (W_STD_SAMPLES,), generator=rng).to(device) if classes else None
    with torch.no_grad():
        ws = generator.mapping(z, labels)
    w_avg = generator.w_avg.detach().clone()
    return w_avg, float((ws - w_avg).pow(2).sum(dim=1).mean().sqrt())


def _ramp(t: float) -> float:
    """The learning rate's share at progress t in [0, 1]: up over the first 5 %, cosine down over the last 25 %."""
    down = min(1.0, (1 - t) / 0.25)
    return (0.5 - 0.5 * math.cos(down * math.pi)) * min(1.0, t / 0.05)


def _pixel_mse(image: torch.Tensor, goal: torch.Tensor) -> float:
    return round(float(((image.clamp(-1, 1) - goal) * 127.5).pow(2).mean()), 3)
