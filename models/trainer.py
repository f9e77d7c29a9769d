"""The adversarial training loop. It knows nothing of who watches it: progress, samples, checkpoints
and cancellation go through a `Callbacks` object."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from models import checkpoint, losses
from models.data import to_model_range
from models.gan import GANConfig, build_discriminator, build_generator
from models.sampling import to_uint8


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 5
    max_steps: int | None = None  # stops early once this many steps have run in total
    batch_size: int = 16  # small data sets need many updates per epoch: 1 MNIST epoch = 312 steps
    lr_g: float = 2e-4  # Adam(2e-4, beta1=0.5): the DCGAN paper's settings
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    seed: int = 0
    sample_every_epochs: int = 1
    checkpoint_every_steps: int = 500
    progress_every_steps: int = 10
    n_samples: int = 64


@dataclass
class Progress:
    step: int
    total_steps: int
    epoch: int  # 1-based epoch the step belongs to
    epochs: int
    loss_d: float
    loss_g: float
    d_real: float  # mean D(x), as a probability
    d_fake: float  # mean D(G(z)), as a probability
    images_per_s: float
    elapsed_s: float
    eta_s: float

    def to_dict(self) -> dict:
        return asdict(self)


class Callbacks:
    """Override what you need; the defaults do nothing."""

    def on_progress(self, progress: Progress) -> None: ...

    def on_samples(self, epoch: int, images: torch.Tensor) -> None: ...

    def on_checkpoint(self, trainer: Trainer) -> None: ...

    def should_stop(self) -> bool:
        return False


@dataclass
class TrainResult:
    steps: int
    stopped: bool  # True when should_stop() ended training early
    history: list[dict] = field(default_factory=list)


class Trainer:
    def __init__(self, gan: GANConfig, config: TrainConfig, device: str | torch.device = "cpu"):
        self.gan, self.config, self.device = gan, config, torch.device(device)
        torch.manual_seed(config.seed)  # network initialisation
        self.generator = build_generator(gan).to(self.device)
        self.discriminator = build_discriminator(gan).to(self.device)
        betas = (config.beta1, config.beta2)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=config.lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=config.lr_d, betas=betas)
        # One RNG for all training noise, saved in checkpoints; the data order per epoch is derived
        # from (seed, epoch), so resuming mid-epoch needs no extra state.
        self.noise_rng = torch.Generator(device=self.device).manual_seed(config.seed)
        self.fixed_latents = torch.randn(
            config.n_samples, gan.latent_dim, generator=torch.Generator().manual_seed(config.seed + 1)
        )
        self.step = 0

    def steps_per_epoch(self, n_images: int) -> int:
        return max(1, n_images // min(self.config.batch_size, n_images))

    def total_steps(self, n_images: int) -> int:
        total = self.config.epochs * self.steps_per_epoch(n_images)
        return min(total, self.config.max_steps) if self.config.max_steps else total

    def fit(self, images: torch.Tensor, callbacks: Callbacks | None = None) -> TrainResult:
        """Trains on uint8 NCHW `images` from the current step to the end of the schedule."""
        callbacks = callbacks or Callbacks()
        n = images.shape[0]
        batch_size = min(self.config.batch_size, n)
        per_epoch, total = self.steps_per_epoch(n), self.total_steps(n)
        result = TrainResult(steps=self.step, stopped=False)
        started, start_step = time.perf_counter(), self.step
        sums = torch.zeros(4, device=self.device)
        window_steps = 0
        while self.step < total:
            epoch = self.step // per_epoch
            order = torch.randperm(n, generator=torch.Generator().manual_seed(self.config.seed * 1_000_003 + epoch))
            for i in range(self.step % per_epoch, per_epoch):
                batch = images[order[i * batch_size : (i + 1) * batch_size]]
                sums += self.train_step(to_model_range(batch).to(self.device, non_blocking=True))
                self.step += 1
                window_steps += 1
                at_epoch_end = self.step % per_epoch == 0 or self.step == total
                if self.step % self.config.progress_every_steps == 0 or at_epoch_end:
                    progress = self._progress(sums / window_steps, total, per_epoch, started, start_step, batch_size)
                    result.history.append(progress.to_dict())
                    callbacks.on_progress(progress)
                    sums.zero_()
                    window_steps = 0
                if at_epoch_end and ((epoch + 1) % self.config.sample_every_epochs == 0 or self.step == total):
                    callbacks.on_samples(epoch + 1, self.samples())
                if self.step % self.config.checkpoint_every_steps == 0 and self.step < total:
                    callbacks.on_checkpoint(self)
                if self.step >= total:
                    break
                if callbacks.should_stop():
                    result.steps, result.stopped = self.step, True
                    return result
        result.steps = self.step
        return result

    def train_step(self, real: torch.Tensor) -> torch.Tensor:
        """One D step then one G step on the same fakes (pytorch/examples dcgan); returns
        [loss_d, loss_g, D(x), D(G(z))] as a tensor so the caller syncs only when it reports."""
        z = torch.randn(real.shape[0], self.gan.latent_dim, device=self.device, generator=self.noise_rng)
        fake = self.generator(z)

        real_logits = self.discriminator(real)
        fake_logits = self.discriminator(fake.detach())
        loss_d = losses.discriminator_loss(real_logits, fake_logits)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()

        loss_g = losses.generator_loss(self.discriminator(fake))
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()

        with torch.no_grad():
            return torch.stack(
                [loss_d, loss_g, torch.sigmoid(real_logits).mean(), torch.sigmoid(fake_logits).mean()]
            ).detach()

    def _progress(self, means, total, per_epoch, started, start_step, batch_size) -> Progress:
        loss_d, loss_g, d_real, d_fake = means.tolist()
        elapsed = time.perf_counter() - started
        done = self.step - start_step
        rate = done / elapsed if elapsed > 0 else 0.0
        return Progress(
            step=self.step,
            total_steps=total,
            epoch=(self.step - 1) // per_epoch + 1,
            epochs=-(-total // per_epoch),
            loss_d=loss_d,
            loss_g=loss_g,
            d_real=d_real,
            d_fake=d_fake,
            images_per_s=rate * batch_size,
            elapsed_s=elapsed,
            eta_s=(total - self.step) / rate if rate > 0 else 0.0,
        )

    @torch.no_grad()
    def samples(self) -> torch.Tensor:
        """uint8 images from the fixed latents: the same z every epoch, so grids show progress."""
        was_training = self.generator.training
        self.generator.eval()
        images = to_uint8(self.generator(self.fixed_latents.to(self.device))).cpu()
        self.generator.train(was_training)
        return images

    # -- checkpoints ------------------------------------------------------------------------------

    def save_checkpoint(self, path: Path) -> None:
        tensors = {**checkpoint.prefixed("g", self.generator.state_dict())}
        tensors.update(checkpoint.prefixed("d", self.discriminator.state_dict()))
        opt_g, meta_g = checkpoint.flatten_optimizer("opt_g", self.opt_g)
        opt_d, meta_d = checkpoint.flatten_optimizer("opt_d", self.opt_d)
        tensors.update(opt_g)
        tensors.update(opt_d)
        tensors["rng.noise"] = self.noise_rng.get_state()
        meta = {"step": self.step, "gan": self.gan.to_dict(), "train": asdict(self.config),
                "opt_g": meta_g, "opt_d": meta_d}
        checkpoint.atomic_save(tensors, meta, path)

    def load_checkpoint(self, path: Path) -> None:
        tensors, meta = checkpoint.load(path)
        self.generator.load_state_dict(checkpoint.unprefixed("g", tensors))
        self.discriminator.load_state_dict(checkpoint.unprefixed("d", tensors))
        self.opt_g.load_state_dict(checkpoint.unflatten_optimizer("opt_g", tensors, meta["opt_g"]))
        self.opt_d.load_state_dict(checkpoint.unflatten_optimizer("opt_d", tensors, meta["opt_d"]))
        self.noise_rng.set_state(tensors["rng.noise"])
        self.step = meta["step"]
