"""Differentiable augmentation for small data sets (DiffAugment, Zhao et al. 2020, arXiv:2006.10738).

The same random transforms go on real and generated images before D sees them, and they are
differentiable, so G still gets gradients; D cannot memorise a small data set as easily.
All randomness comes from the caller's generator, so training stays reproducible.

`deformed` is the other kind, a small random affine map of one set of images, not a transform shared by real and
fake: DAGAN's `partner_warp` and classic augmentation in bench/augment_gain.py on real images, and InfoGAN's
`info_invariance` on G's fakes (differentiable, so G learns through it).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

POLICIES = ("color", "translation", "cutout")


def diff_augment(x: torch.Tensor, policies: tuple[str, ...], generator: torch.Generator) -> torch.Tensor:
    for policy in policies:
        x = _TRANSFORMS[policy](x, generator)
    return x


def _rand(x: torch.Tensor, generator: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.rand(x.shape[0], *shape, device=x.device, generator=generator, dtype=x.dtype)


def _color(x, g):
    x = x + (_rand(x, g, 1, 1, 1) - 0.5)  # brightness
    if x.shape[1] == 3:
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * (_rand(x, g, 1, 1, 1) * 2) + mean  # saturation
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_rand(x, g, 1, 1, 1) + 0.5) + mean  # contrast


def _translation(x, g, ratio: float = 0.125):
    # Shift each image by up to 1/8 of its size, filling with zeros, through an affine sampling grid.
    shift = (_rand(x, g, 2) * 2 - 1) * ratio * 2  # grid coordinates span [-1, 1]
    theta = torch.zeros(x.shape[0], 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)


def _cutout(x, g, ratio: float = 0.5):
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = (_rand(x, g, 1) * (h - ch + 1)).long()
    left = (_rand(x, g, 1) * (w - cw + 1)).long()
    rows = torch.arange(h, device=x.device)[None, :]
    cols = torch.arange(w, device=x.device)[None, :]
    inside_rows = (rows >= top) & (rows < top + ch)
    inside_cols = (cols >= left) & (cols < left + cw)
    mask = ~(inside_rows[:, :, None] & inside_cols[:, None, :])
    return x * mask[:, None].to(x.dtype)


_TRANSFORMS = {"color": _color, "translation": _translation, "cutout": _cutout}


class AdaptiveAugment:
    """ADA (Karras et al. 2020, arXiv:2006.06676): each image D sees is augmented with probability p, and p follows
    the overfitting heuristic r_t = E[sign(D(real))]: every `interval` D steps it moves up when r_t is above
    `target` (D too sure of the real images: it is memorising them) and down when below, by as much as lets it
    cross [0, 1] in `speed_images` images. Kept on the device: no step waits for it."""

    def __init__(self, target: float, device: torch.device, interval: int = 4):
        self.target, self.interval, self.speed_images = target, interval, 1.0
        self.p = torch.zeros((), device=device)
        self._signs = torch.zeros((), device=device)
        self._steps = 0

    def observe(self, real_logits: torch.Tensor, batch_size: int) -> None:
        """One D step's logits on real images; adjusts p every `interval` of them."""
        self._signs += torch.sign(real_logits.detach().float()).mean()
        self._steps += 1
        if self._steps == self.interval:
            r_t = self._signs / self._steps
            step = batch_size * self.interval / self.speed_images
            self.p.copy_((self.p + torch.sign(r_t - self.target) * step).clamp(0, 1))
            self._signs.zero_()
            self._steps = 0

    def __call__(self, x: torch.Tensor, policies: tuple[str, ...], generator: torch.Generator) -> torch.Tensor:
        chosen = torch.rand(x.shape[0], device=x.device, generator=generator) < self.p
        return torch.where(chosen.view(-1, 1, 1, 1), diff_augment(x, policies, generator), x)

    def state_dict(self) -> dict:
        return {"p": self.p.clone(), "signs": self._signs.clone(), "steps": self._steps}

    def load_state_dict(self, state: dict) -> None:
        self.p.copy_(state["p"])
        self._signs.copy_(state["signs"])
        self._steps = state["steps"]


def deformed(images: torch.Tensor, rng: torch.Generator, rotate: float = 15.0, scale: float = 0.1,
             shear: float = 0.15, shift: float = 0.1) -> torch.Tensor:
    """Each image under its own random affine map: rotation within +-`rotate` degrees, scaling by 1 +- `scale`,
    shear within +-`shear`, translation within +-`shift` of the side; the edge pixels fill what comes in."""
    n = images.shape[0]
    u = torch.rand(n, 5, generator=rng, device=rng.device).to(images.device, torch.float32) * 2 - 1
    angle, zoom = u[:, 0] * rotate * torch.pi / 180, 1 + u[:, 1] * scale
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin + u[:, 2] * shear, u[:, 3] * shift * 2], 1),
                         torch.stack([sin, cos, u[:, 4] * shift * 2], 1)], 1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images.float(), grid, padding_mode="border", align_corners=False).to(images.dtype)
