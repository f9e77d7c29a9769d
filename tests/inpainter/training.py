"""The inpainter's own training loop and its default scorer (the worker imports these by name)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from core.card import ModelCard
from models import losses
from models.sampling import to_uint8
from models.trainer import Trainer
from tests.inpainter.nets import hole


class InpaintTrainer(Trainer):
    """Its own step: D tells real images from filled ones; G fools it and stays within L1 of the real hole."""

    def _fixed_inputs(self):
        self.shown = torch.empty(0)
        return None

    def fit(self, data, labels=None, callbacks=None):
        self.shown = self._prepare(data[:8])
        return super().fit(data, None, callbacks)

    def train_step(self, batches):
        for real, _ in batches:
            filled = self.g(real)
            real_out = self.d(real).logit
            fake_out = self.d(filled.detach()).logit
            loss_d = losses.discriminator_loss(self.config.loss, real_out, fake_out)
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
        recon = F.l1_loss(filled * hole(real.shape), real * hole(real.shape))
        loss_g = losses.generator_loss(self.config.loss, self.d(filled).logit) + 100 * recon
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        zero = torch.zeros((), device=self.device)
        return torch.stack([loss_d.detach(), loss_g.detach(), real_out.detach().mean(), fake_out.detach().mean(),
                            zero, recon.detach()])

    @property
    def needs_labels(self) -> bool:
        return False

    def _reports_aux(self) -> bool:
        return True  # the L1 in the hole

    @torch.no_grad()
    def samples(self) -> torch.Tensor:
        net = self.serving_generator().eval()
        filled = net(self.shown)
        net.train()
        return to_uint8(torch.stack([self.shown * (1 - hole(self.shown.shape)), filled], dim=1).flatten(0, 1).cpu())


@torch.no_grad()
def score(card: ModelCard, generator: nn.Module, trained) -> ModelCard:
    """Mean absolute error in the hole (0-255) on up to 200 training images, beside the hole filled with the data
    set's mean image: the trivial baseline a trained inpainter must beat."""
    images = trained.dataset.images[:200].float().div(127.5).sub(1)
    mask = hole(images.shape)
    filled = generator.eval()(images)
    mean = images.mean(dim=0, keepdim=True).expand_as(images)
    error = ((filled - images).abs() * mask).sum() / mask.expand_as(images).sum() * 127.5
    baseline = ((mean - images).abs() * mask).sum() / mask.expand_as(images).sum() * 127.5
    return card.model_copy(update={"metrics": {**card.metrics, "scores": {"hole_l1": float(error),
                                                                          "hole_l1_mean_image": float(baseline)}}})
