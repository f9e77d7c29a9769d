"""Training loops of the image-to-image families: pix2pix, CycleGAN and SRGAN.

They share the sampler families' Trainer for everything but the step: the schedule, progress, EMA, AMP,
checkpoints and exact resume. A batch is a pair (domain A images, domain B images): the same scene for a
paired set, a random B partner for each A image for an unpaired one (drawn from the saved noise RNG, so
resume stays exact). The per-epoch samples are fixed inputs beside their outputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from models import losses
from models.data import TwoDomainDataset
from models.sampling import as_shown, to_uint8
from models.trainer import Trainer


class TranslatorTrainer(Trainer):
    SHOWN = 8  # inputs in each per-epoch picture, each beside its output

    def _fixed_inputs(self):
        self.shown: list[tuple[str, torch.Tensor]] = []
        return None

    def fit(self, data: TwoDomainDataset, labels=None, callbacks=None):
        self.shown = self._pick_shown(data)
        return super().fit(data, None, callbacks)

    def _pick_shown(self, data: TwoDomainDataset) -> list[tuple[str, torch.Tensor]]:
        """Evenly spaced inputs (all classes of a sorted set), for each direction the model translates."""
        directions = self.gan.family.directions
        per = self.SHOWN // len(directions)
        shown = []
        for direction in directions:
            images = data.a if direction == "a2b" else data.b
            index = torch.linspace(0, images.shape[0] - 1, per).round().long()
            shown.append((direction, self._prepare(images[index])))
        return shown

    def _batch(self, data: TwoDomainDataset, labels, index: torch.Tensor):
        if data.paired:
            partners = index
        else:
            partners = torch.randint(data.b.shape[0], (index.shape[0],), generator=self.noise_rng,
                                     device=self.device).cpu()
        return self._prepare(data.a[index]), self._prepare(data.b[partners])

    def _reports_aux(self) -> bool:
        return True  # the reconstruction term: L1 to the target, the cycle, or the content loss

    def _update(self, optimizer, scaler, loss: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    def _stats(self, loss_d, loss_g, real_logit, fake_logit, recon) -> torch.Tensor:
        to_stat = torch.sigmoid if losses.reports_probability(self.config.loss) else (lambda t: t)
        zero = torch.zeros((), device=self.device)
        return torch.stack([loss_d.detach(), loss_g.detach(), to_stat(real_logit.detach().float()).mean(),
                            to_stat(fake_logit.detach().float()).mean(), zero, recon.detach()]).float()

    def _finish_step(self, stats: torch.Tensor) -> torch.Tensor:
        if self.ema is not None:
            self._update_ema()
        return stats

    @torch.no_grad()
    def samples(self) -> torch.Tensor:
        """Each shown input beside its output (inputs scaled to the output's size and channels): uint8 NCHW,
        input, output, input, output... so a grid of 4 per row shows two pairs per row."""
        generator = self.serving_generator()
        was_training = generator.training
        generator.eval()
        pictures = []
        for direction, sources in self.shown:
            out = generator(sources, direction).float()
            shown = as_shown(sources.float(), out.shape)
            pictures.append(torch.stack([shown, out], dim=1).flatten(0, 1))
        generator.train(was_training)
        return to_uint8(torch.cat(pictures).cpu())


class Pix2PixTrainer(TranslatorTrainer):
    """Isola et al. 2017: D tells (input, target) from (input, G(input)); G fools it and stays within L1 of the
    target (λ = recon_weight, 100)."""

    def train_step(self, batches):
        for source, target in batches:
            with self._autocast():
                fake = self.g(source)
                real_out = self.d(source, target).logit.float()
                fake_out = self.d(source, fake.detach()).logit.float()
                loss_d = losses.discriminator_loss(self.config.loss, real_out, fake_out)
            self._update(self.opt_d, self.scaler_d, loss_d)
        with self._autocast():
            judged = self.d(source, fake).logit.float()
            recon = F.l1_loss(fake.float(), target)
            loss_g = losses.generator_loss(self.config.loss, judged) + self.config.recon_weight * recon
        self._update(self.opt_g, self.scaler_g, loss_g)
        return self._finish_step(self._stats(loss_d, loss_g, real_out, fake_out, recon))


class SRGANTrainer(TranslatorTrainer):
    """Ledig et al. 2017: D tells high-resolution images from G's upscaled ones; G's loss is the adversarial
    term plus recon_weight x pixel MSE (the paper's 10^-3 on the adversarial term, written the other way)."""

    def train_step(self, batches):
        for low, high in batches:
            with self._autocast():
                fake = self.g(low)
                real_out = self.d(high).logit.float()
                fake_out = self.d(fake.detach()).logit.float()
                loss_d = losses.discriminator_loss(self.config.loss, real_out, fake_out)
            self._update(self.opt_d, self.scaler_d, loss_d)
        with self._autocast():
            judged = self.d(fake).logit.float()
            recon = F.mse_loss(fake.float(), high)
            loss_g = losses.generator_loss(self.config.loss, judged) + self.config.recon_weight * recon
        self._update(self.opt_g, self.scaler_g, loss_g)
        return self._finish_step(self._stats(loss_d, loss_g, real_out, fake_out, recon))


class ImagePool:
    """Shrivastava et al. 2017, as CycleGAN uses it: D learns from a history of `size` generated images, not
    only the latest. Each new image goes into the pool; once it is full, half the time D sees a stored
    image instead, which the new one replaces."""

    def __init__(self, size: int):
        self.size = size
        self.images: torch.Tensor | None = None

    def query(self, batch: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        batch = batch.detach()
        out = batch.clone()
        swap = torch.rand(batch.shape[0], generator=rng, device=rng.device).lt(0.5).tolist()
        slots = torch.randint(self.size, (batch.shape[0],), generator=rng, device=rng.device).tolist()
        for i, image in enumerate(batch):
            held = 0 if self.images is None else self.images.shape[0]
            if held < self.size:
                image = image.unsqueeze(0)
                self.images = image.clone() if self.images is None else torch.cat([self.images, image])
            elif swap[i]:
                out[i] = self.images[slots[i]]
                self.images[slots[i]] = image
        return out

    def state(self) -> torch.Tensor | None:
        return None if self.images is None else self.images.clone()

    def load(self, images: torch.Tensor | None) -> None:
        self.images = None if images is None else images.clone()


class CycleGANTrainer(TranslatorTrainer):
    """Zhu et al. 2017. G (a2b) and F (b2a) each fool their domain's D, and translating there and back must
    return the input (cycle L1, λ = recon_weight, 10); an identity L1 (identity_weight x λ, 0.5 x λ) keeps
    colours when an image is already of the target domain. Each D learns from a pool of 50 past fakes."""

    POOL = 50

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.pools = {"a": ImagePool(self.POOL), "b": ImagePool(self.POOL)}

    def train_step(self, batches):
        loss, cycle_weight = self.config.loss, self.config.recon_weight
        same_channels = self.gan.source_shape[0] == self.gan.data_shape[0]
        identity_weight = self.config.identity_weight * cycle_weight if same_channels else 0.0
        real_a, real_b = batches[-1]
        d_a, d_b = self.discriminator.a, self.discriminator.b
        d_a.requires_grad_(False)  # the G step's gradients need not reach the Ds
        d_b.requires_grad_(False)
        with self._autocast():
            fake_b, fake_a = self.g(real_a, "a2b"), self.g(real_b, "b2a")
            cycle = F.l1_loss(self.g(fake_b, "b2a").float(), real_a) + F.l1_loss(self.g(fake_a, "a2b").float(), real_b)
            adversarial = losses.generator_loss(loss, d_b(fake_b).float()) + \
                losses.generator_loss(loss, d_a(fake_a).float())
            loss_g = adversarial + cycle_weight * cycle
            if identity_weight:
                identity = F.l1_loss(self.g(real_b, "a2b").float(), real_b) + \
                    F.l1_loss(self.g(real_a, "b2a").float(), real_a)
                loss_g = loss_g + identity_weight * identity
        self._update(self.opt_g, self.scaler_g, loss_g)
        d_a.requires_grad_(True)
        d_b.requires_grad_(True)
        pooled_b = self.pools["b"].query(fake_b, self.noise_rng)
        pooled_a = self.pools["a"].query(fake_a, self.noise_rng)
        with self._autocast():
            real_b_out, fake_b_out = d_b(real_b).float(), d_b(pooled_b).float()
            real_a_out, fake_a_out = d_a(real_a).float(), d_a(pooled_a).float()
            loss_d = losses.discriminator_loss(loss, real_b_out, fake_b_out) + \
                losses.discriminator_loss(loss, real_a_out, fake_a_out)
        self._update(self.opt_d, self.scaler_d, loss_d)
        real_out = torch.cat([real_b_out.flatten(), real_a_out.flatten()])
        fake_out = torch.cat([fake_b_out.flatten(), fake_a_out.flatten()])
        return self._finish_step(self._stats(loss_d, loss_g, real_out, fake_out, cycle))

    def _extra_state(self) -> dict:
        return {"pools": {name: pool.state() for name, pool in self.pools.items() if pool.images is not None}}

    def _load_extra_state(self, state: dict) -> None:
        for name, pool in self.pools.items():
            pool.load(state.get("pools", {}).get(name))
