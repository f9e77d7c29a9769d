"""ProGAN's training loop (Karras et al. 2018): the sampler families' loop, with the nets grown by a schedule.

Training starts at 4x4; each further resolution is faded in over one phase and then trained stable over
another, so the schedule is 4x4 stable, 8x8 fade-in, 8x8 stable, ... up to the full size, which stays
stable to the end. The stage (level, alpha) is a function of the step alone, so resuming anywhere, across
a phase boundary included, needs no saved state. D sees real images at the stage's resolution, faded the
same way as G's output. The paper's loss is WGAN-GP plus a drift term, which keeps the critic's scores from
wandering off from 0 (the penalty alone leaves their offset free); with the non-saturating loss (the 32 px recipe)
D's step has neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import torch

from models import losses
from models.nets.progan import downsample, fade_in, levels_for
from models.trainer import Trainer, _Schedule


@dataclass(frozen=True)
class Growth:
    """Which stage each step trains: phases of `phase_images` real images each (exact fractions, so a phase
    boundary falls on the same step on every machine)."""

    levels: int
    phase_images: Fraction
    images_per_step: int

    @classmethod
    def for_job(cls, levels: int, phase_images: int | None, total_steps: int, images_per_step: int,
                final_share: float | None = None) -> Growth:
        """`phase_images` per phase, or None: the job's images split over its 2 x levels - 1 phases, so that it
        ends with a stable phase at full resolution (the paper's 800k images per phase are days of a CPU) — evenly,
        or with `final_share` of them in that last phase and the rest split evenly over the others."""
        if phase_images is None:
            total = Fraction(total_steps * images_per_step)
            if final_share is None or levels == 1:
                phase_images = total / (2 * levels - 1)
            else:
                phase_images = total * (1 - Fraction(final_share)) / (2 * levels - 2)
        return cls(levels, Fraction(phase_images), images_per_step)

    def phase(self, step: int) -> int:
        """0: 4x4 stable; then odd phases fade a level in and even ones train it stable; the last one lasts."""
        return min(int(step * self.images_per_step // self.phase_images), 2 * self.levels - 2)

    def stage(self, step: int) -> tuple[int, float]:
        """(level, alpha) of step `step` (0-based), from the real images shown before it."""
        phase = self.phase(step)
        level = (phase + 1) // 2
        if phase % 2 == 0:
            return level, 1.0
        shown = step * self.images_per_step - phase * self.phase_images
        return level, float(shown / self.phase_images)


class ProGANTrainer(Trainer):
    growth: Growth | None = None

    def fit(self, data, labels=None, callbacks=None):
        schedule = _Schedule(self.config, len(data), self.gan.pack)
        self.growth = Growth.for_job(levels_for(self.gan.data_shape[-1]), self.config.phase_images, schedule.total,
                                     schedule.images_per_step, self.config.final_phase)
        return super().fit(data, labels, callbacks)

    def train_step(self, batches):
        level, alpha = self._enter_stage(self.step)
        size = 4 * 2**level
        return super().train_step([(fade_in(downsample(real, size), alpha), labels) for real, labels in batches])

    def _enter_stage(self, step: int) -> tuple[int, float]:
        if self.growth is None:
            raise RuntimeError("ProGANTrainer.train_step follows the growth schedule that fit() sets up: call fit()")
        level, alpha = self.growth.stage(step)
        self.generator.set_stage(level, alpha)
        self.discriminator.set_stage(level, alpha)
        # As the paper's code does: Adam's moments start afresh when a phase begins (new layers come in, or
        # the faded-out ones leave), rather than carrying the previous stage's gradient statistics. It
        # follows from the step too, so resume stays exact.
        if step and self.growth.phase(step) != self.growth.phase(step - 1):
            for optimizer in (self.opt_g, self.opt_d):
                optimizer.state.clear()
        return level, alpha

    def _discriminator_step(self, real, labels):
        inputs = self._sample_inputs(real.shape[0], self.noise_rng)
        with self._autocast():
            fake = self.g(inputs.z, full_size=False).detach()
            real_out = self.d(self._augment(real))
            fake_out = self.d(self._augment(fake))
            real_score = real_out.logit.float()
            loss = losses.discriminator_loss(self.config.loss, real_score, fake_out.logit.float())
        penalty = torch.zeros((), device=self.device)
        if self.config.loss == "wasserstein-gp":  # in float32: the penalty differentiates a gradient
            # On the images D judges, at the stage's resolution. The paper's code takes it on them upsampled to the
            # full size, which asks a slope 2^k times steeper of the critic k levels below the top; on 32 px digits
            # that penalty went unmet at a CPU budget and the runs fell apart (672 steps: a sample's L2 distance to
            # the nearest digit 15-34 in three runs, against 10.4 in two seeds this way, with digits drawn).
            penalty = losses.gradient_penalty(self.d, real, fake.float(), None, self.noise_rng)
            loss = loss + self.config.gp_weight * penalty + self.config.drift_weight * real_score.pow(2).mean()
        self._update(self.opt_d, self.scaler_d, loss)
        return loss.detach(), real_out, fake_out, penalty.detach()

    def _generator_step(self, n: int):
        inputs = self._sample_inputs(n, self.noise_rng)
        with self._autocast():
            out = self.d(self._augment(self.g(inputs.z, full_size=False)))
            loss = losses.generator_loss(self.config.loss, out.logit.float())
        self._update(self.opt_g, self.scaler_g, loss)
        return loss.detach(), torch.zeros((), device=self.device)

    @staticmethod
    def _update(optimizer, scaler, loss: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
