"""StyleGAN2's training (Karras et al. 2020, arXiv:1912.04958, as stylegan2-ada-pytorch's loss runs it).

The non-saturating logistic loss, with three regularisers:
- R1 (Mescheder et al. 2018) on real images, lazily: its own D step every `r1_every` D steps, weighted by
  `r1_every`, so that it costs 1/16 of a double backward per step for the same effect;
- style mixing: a share of the fakes take their ws from two latents, switching at a random layer, so that
  neighbouring layers' styles do not learn to depend on each other;
- path length (`pl_weight`, off by default): a G step every 4 that pulls |J_w^T y| towards its running mean.
With lazy regularisation an optimiser takes R + 1 steps per R minibatches; Adam's learning rate and betas are
raised to the power c = R / (R + 1) so that its time constants per minibatch stay as set (the paper's B).

All training noise (latents, mixing, per-pixel noise, augmentation, path-length directions) comes from the
trainer's `noise_rng`; `pl_mean` is saved with the state, so CPU resume is bit-exact.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import replace

import torch

from models import losses
from models.config import TrainConfig
from models.family import GANConfig
from models.inputs import Inputs
from models.trainer import Trainer

# Path length regularisation as in the paper's code: every 4 G steps, on half the batch, its mean tracked with
# decay 0.01. Off by default (pl_weight 0), as stylegan2-ada's small-image (CIFAR) config has it: what it buys
# (smoother w -> image maps, better perceptual path length, easier projection) was shown at 256-1024 px, and its
# double backward through the synthesis network still costs images/s (8 % at 32 px on one core, measured).
PL_EVERY, PL_DECAY, PL_BATCH_SHRINK = 4, 0.01, 2


def default_r1_gamma(image_size: int, batch_size: int) -> float:
    """stylegan2-ada-pytorch's heuristic for its 'auto' config: 0.0002 x size^2 / batch (0.0064 at 32 px, batch
    32); the StyleGAN2 paper's FFHQ gamma of 10 at 1024 px with batch 32 is of that order (6.6)."""
    return 0.0002 * image_size**2 / batch_size


class StyleGAN2Trainer(Trainer):
    def __init__(self, gan: GANConfig, config: TrainConfig, device: str | torch.device = "cpu"):
        super().__init__(gan, config, device)
        if self.config.unroll_steps:
            raise ValueError("stylegan2 trains without unrolling: leave unroll_steps at 0")
        if self.config.r1_gamma is None:  # a recipe without one
            self.config = replace(self.config, r1_gamma=default_r1_gamma(gan.data_shape[-1], self.config.batch_size))
        for optimizer, every in self._lazy_intervals():
            c = every / (every + 1)
            for group in optimizer.param_groups:
                group["lr"] *= c
                if "betas" in group:
                    group["betas"] = tuple(beta**c for beta in group["betas"])
        # torch.compile wraps forward only; training calls the generator's mapping and synthesis.
        self.synthesis = torch.compile(self.generator.synthesis) if self.config.compile else self.generator.synthesis
        zero = torch.zeros((), device=self.device)
        self.pl_mean = zero.clone()
        self.last_r1, self.last_pl = zero.clone(), zero.clone()  # the latest regularisers, for the stats

    def _lazy_intervals(self) -> list[tuple[torch.optim.Optimizer, int]]:
        lazy = [(self.opt_d, self.config.r1_every)] if self.config.r1_gamma else []
        return lazy + ([(self.opt_g, PL_EVERY)] if self.config.pl_weight else [])

    def _set_lr_fraction(self, fraction: float) -> None:
        super()._set_lr_fraction(fraction)
        for optimizer, every in self._lazy_intervals():
            for group in optimizer.param_groups:
                group["lr"] *= every / (every + 1)

    # -- one step ---------------------------------------------------------------------------------

    def train_step(self, batches: list[tuple[torch.Tensor, torch.Tensor | None]]) -> torch.Tensor:
        for j, (real, labels) in enumerate(batches):
            loss_d, real_out, fake_out = self._d_main(real, labels)
            if self.config.r1_gamma and (self.step * len(batches) + j) % self.config.r1_every == 0:
                self.last_r1 = self._d_r1(real, labels)
        n = batches[-1][0].shape[0]
        loss_g = self._g_main(n)
        if self.config.pl_weight and self.step % PL_EVERY == 0:
            self.last_pl = self._g_path_length(max(1, n // PL_BATCH_SHRINK))
        if self.ema is not None:
            self._update_ema()
        to_stat = torch.sigmoid if losses.reports_probability(self.config.loss) else (lambda t: t)
        return torch.stack([loss_d, loss_g, to_stat(real_out).mean(), to_stat(fake_out).mean(), self.last_r1,
                            self.last_pl]).detach().float()

    def _d_main(self, real, labels):
        inputs = self._sample_inputs(real.shape[0], self.noise_rng)
        with torch.no_grad(), self._autocast():
            fake = self._generate(inputs)
        with self._autocast():
            real_out = self.d(self._augment(real), labels).logit.float()
            fake_out = self.d(self._augment(fake), inputs.labels).logit.float()
            loss = losses.discriminator_loss(self.config.loss, real_out, fake_out)
        self._update(self.opt_d, self.scaler_d, loss)
        return loss.detach(), real_out.detach(), fake_out.detach()

    def _d_r1(self, real: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """gamma / 2 |grad_x D(x)|^2 on reals, in float32; through the augmentation, as D sees them."""
        x = real.detach().float().requires_grad_(True)
        # The plain D (Trainer.d's note): a double backward, outside the autocast of D's other calls.
        scores = self.discriminator(self._augment(x), labels).logit
        (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=True)
        r1 = grad.square().sum(dim=(1, 2, 3)).mean()
        self._update(self.opt_d, self.scaler_d, r1 * (self.config.r1_gamma / 2 * self.config.r1_every))
        return r1.detach()

    def _g_main(self, n: int) -> torch.Tensor:
        inputs = self._sample_inputs(n, self.noise_rng)
        with _frozen(self.discriminator), self._autocast():
            out = self.d(self._augment(self._generate(inputs)), inputs.labels)
            loss = losses.generator_loss(self.config.loss, out.logit.float())
        self._update(self.opt_g, self.scaler_g, loss)
        return loss.detach()

    def _g_path_length(self, n: int) -> torch.Tensor:
        """The paper's path length penalty (pl_length - a)^2, a the running mean of |J_w^T y| over random image
        directions y ~ N(0, I) / sqrt(pixels); in float32."""
        inputs = self._sample_inputs(n, self.noise_rng)
        ws = self._mixed_ws(inputs)
        # The plain synthesis (Trainer.d's note): a double backward, outside autocast.
        images = self.generator.synthesis(ws, self.generator.draw_noise(n, self.noise_rng))
        directions = torch.randn(images.shape, generator=self.noise_rng, device=self.device)
        directions = directions / math.sqrt(images.shape[2] * images.shape[3])
        (grad,) = torch.autograd.grad((images * directions).sum(), ws, create_graph=True)
        lengths = grad.square().sum(dim=2).mean(dim=1).sqrt()
        self.pl_mean = self.pl_mean.lerp(lengths.mean().detach(), PL_DECAY)
        penalty = (lengths - self.pl_mean).square().mean()
        self._update(self.opt_g, self.scaler_g, penalty * (self.config.pl_weight * PL_EVERY))
        return lengths.mean().detach()

    def _generate(self, inputs: Inputs) -> torch.Tensor:
        """Training fakes: style-mixed ws and fresh per-pixel noise, both from the noise RNG."""
        return self.synthesis(self._mixed_ws(inputs), self.generator.draw_noise(len(inputs), self.noise_rng))

    def _mixed_ws(self, inputs: Inputs) -> torch.Tensor:
        """ws (N, num_ws, w_dim): each image's w, and for a `style_mixing` share of them a second latent's w from
        a random layer on (1 to num_ws - 1; the same labels)."""
        g, n = self.generator, len(inputs)
        ws = g.mapping(inputs.z, inputs.labels).unsqueeze(1).repeat(1, g.num_ws, 1)
        if not self.config.style_mixing:
            return ws
        rng, device = self.noise_rng, self.device
        z2 = torch.randn(inputs.z.shape, generator=rng, device=device)
        crossover = torch.randint(1, g.num_ws, (n,), generator=rng, device=device)
        mixed = torch.rand(n, generator=rng, device=device) < self.config.style_mixing
        crossover = torch.where(mixed, crossover, g.num_ws)
        second = torch.arange(g.num_ws, device=device)[None, :] >= crossover[:, None]
        return torch.where(second[:, :, None], g.mapping(z2, inputs.labels).unsqueeze(1), ws)

    @staticmethod
    def _update(optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, loss: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    # -- reporting and state ----------------------------------------------------------------------

    def _reports_penalty(self) -> bool:
        return bool(self.config.r1_gamma)  # the R1 term

    def _reports_aux(self) -> bool:
        return bool(self.config.pl_weight)  # aux: the mean path length

    def _extra_state(self) -> dict:
        return {"regularisers": {"pl_mean": self.pl_mean, "r1": self.last_r1, "path_length": self.last_pl}}

    def _load_extra_state(self, state: dict) -> None:
        saved = state["regularisers"]
        self.pl_mean, self.last_r1, self.last_pl = (saved[k].to(self.device).clone()
                                                     for k in ("pl_mean", "r1", "path_length"))


@contextmanager
def _frozen(net: torch.nn.Module):
    """No weight gradients for `net` (G's step needs only D's input gradients); restored after."""
    net.requires_grad_(False)
    try:
        yield
    finally:
        net.requires_grad_(True)
