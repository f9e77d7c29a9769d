"""DAGAN's training loop (Antoniou et al. 2017): G turns a real image and noise into another image of the
same class; the critic learns to tell (x, another real image of x's class) from (x, G(x, z)) and, being
matching-aware (Reed et al. 2016), from (x, a real image of another class): it must judge the pair, not
only the partner, which is what makes G keep the class. Options: `partner_warp` mixes randomly deformed copies
of x into the right partners; `recon_weight` adds an L1 pull of the variation towards x, which keeps the class
of unseen classes but, alone, makes G ignore z; `diversity_weight` keeps two variations of x apart;
`dihedral_pairs` turns or mirrors a share of the training pairs (the image, its partners and its wrong partner
alike), so that a turned class is one more class to learn how classes vary from.

It trains on labelled images and never sees a label as input: what it learns is how images of one class
vary, which carries over to classes it was not trained on. An unlabelled set is one class. The per-epoch
picture shows fixed inputs, each followed by its variations for fixed noise.
"""

from __future__ import annotations

import torch

from models import losses
from models.augment import deformed
from models.inputs import Inputs
from models.sampling import to_uint8
from models.trainer import Trainer

# diversity_weight's floor: two variations of one input should differ by this mean L1 ([-1, 1] units; 20.4 in
# 0-255), over a one-pixel shift of a digit (17.2) and the 1.5-2.5 that recon_weight 10-50 leaves without it. With
# the EMA of the 28 px recipe the variations come closer to their input than the raw G's; 12.75 (the floor before)
# left them 14.6-18.5 from it, under the one-pixel shift on two seeds of three (docs/models.md). A floor, not a
# reward (MSGAN's 1 / distance at weight 0.05-1 kept 30-58 % of unseen digits).
DIVERSITY_FLOOR = 0.16


class DAGANTrainer(Trainer):
    SHOWN, VARIATIONS = 4, 3  # a 4 x 4 picture: each row one input and three of its variations
    needs_labels = True

    def _fixed_inputs(self) -> Inputs | None:
        self.shown: torch.Tensor | None = None
        return None

    def fit(self, data: torch.Tensor, labels: torch.Tensor | None = None, callbacks=None):
        labels = torch.zeros(data.shape[0], dtype=torch.long) if labels is None else labels
        self._partners = _SameClass(labels)
        index = torch.linspace(0, data.shape[0] - 1, self.SHOWN).round().long()
        self.shown = self._prepare(data[index]).repeat_interleave(self.VARIATIONS, dim=0)
        self.shown_z = torch.randn(self.shown.shape[0], self.gan.latent_dim,
                                   generator=torch.Generator().manual_seed(self.config.seed + 1)).to(self.device)
        return super().fit(data, labels, callbacks)

    def _batch(self, data: torch.Tensor, labels: torch.Tensor, index: torch.Tensor):
        partners = self._partners.draw(index, self.noise_rng)
        source, partner = self._prepare(data[index]), self._prepare(data[partners])
        mismatch = self._prepare(data[self._partners.other_class(index, self.noise_rng)])
        if self.config.partner_warp:
            warped = torch.rand(source.shape[0], generator=self.noise_rng, device=self.noise_rng.device).cpu() \
                < self.config.partner_warp
            partner = torch.where(warped.to(self.device).view(-1, 1, 1, 1), deformed(source, self.noise_rng), partner)
        if self.config.dihedral_pairs:  # the same turn or mirror for the image, its partner and its wrong partner
            which = _dihedral_draw(source, self.config.dihedral_pairs, self.noise_rng).to(self.device)
            source, partner, mismatch = (_dihedral(t, which) for t in (source, partner, mismatch))
        return source, partner, mismatch

    def train_step(self, batches):
        for source, partner, mismatch in batches:
            z = self._noise(source.shape[0])
            with self._autocast():
                fake = self.g(source, z).detach()
                real_out = self.d(source, partner).logit.float()
                fake_out = self.d(source, fake).logit.float()
                # Matching-aware (Reed et al. 2016): a real image of another class is a wrong partner too,
                # so the critic must judge the pair, not only the partner.
                wrong = torch.cat([fake_out, self.d(source, mismatch).logit.float()]) \
                    if self._partners.classes > 1 else fake_out
                loss_d = losses.discriminator_loss(self.config.loss, real_out, wrong)
            penalty = torch.zeros((), device=self.device)
            if self.config.loss == "wasserstein-gp":  # the penalty on the partner image, x held fixed
                critic = lambda other, _labels, x=source: self.d(x, other)  # noqa: E731
                penalty = losses.gradient_penalty(critic, partner, fake.float(), None, self.noise_rng)
                loss_d = loss_d + self.config.gp_weight * penalty
            self._update(self.opt_d, self.scaler_d, loss_d)
        z = self._noise(source.shape[0])
        if self.config.diversity_weight:  # each input of the batch's first half twice, with two noises
            source = torch.cat([source[: source.shape[0] // 2]] * 2)
            z = z[: source.shape[0]]
        with self._autocast():
            varied = self.g(source, z)
            loss_g = losses.generator_loss(self.config.loss, self.d(source, varied).logit.float())
            if self.config.diversity_weight:
                loss_g = loss_g + self.config.diversity_weight * _too_alike(varied.float())
            if self.config.recon_weight:
                loss_g = loss_g + self.config.recon_weight * (varied.float() - source.float()).abs().mean()
        self._update(self.opt_g, self.scaler_g, loss_g)
        if self.ema is not None:
            self._update_ema()
        to_stat = torch.sigmoid if losses.reports_probability(self.config.loss) else (lambda t: t)
        zero = torch.zeros((), device=self.device)
        return torch.stack([loss_d.detach(), loss_g.detach(), to_stat(real_out.detach()).mean(),
                            to_stat(fake_out.detach()).mean(), penalty.detach(), zero]).float()

    def _noise(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.gan.latent_dim, generator=self.noise_rng, device=self.device)

    def _update(self, optimizer, scaler, loss: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    def _reports_aux(self) -> bool:
        return False

    @torch.no_grad()
    def samples(self) -> torch.Tensor:
        """uint8 NCHW: each shown input followed by its variations."""
        generator = self.serving_generator()
        was_training = generator.training
        generator.eval()
        out = generator(self.shown, self.shown_z).float()
        generator.train(was_training)
        rows = torch.cat([self.shown[:: self.VARIATIONS].unsqueeze(1),
                          out.view(self.SHOWN, self.VARIATIONS, *out.shape[1:])], dim=1)
        return to_uint8(rows.flatten(0, 1).cpu())


def _too_alike(varied: torch.Tensor) -> torch.Tensor:
    """How far two variations of one input (first half against second) fall short of DIVERSITY_FLOOR apart,
    by mean L1: zero once they differ enough, so this only keeps G from ignoring z."""
    first, second = varied.chunk(2)
    return (DIVERSITY_FLOOR - (first - second).abs().mean(dim=(1, 2, 3))).clamp(min=0).mean()


def _dihedral_draw(images: torch.Tensor, share: float, rng: torch.Generator) -> torch.Tensor:
    """For each image, 0 (left as it is) or, with probability `share`, one of the other symmetries of the square
    (1-7, as `_dihedral` numbers them; a non-square image only 2, 4 and 6, which keep its shape)."""
    n = images.shape[0]
    moved = torch.rand(n, generator=rng, device=rng.device).cpu() < share
    choices = torch.arange(1, 8) if images.shape[-1] == images.shape[-2] else torch.tensor([2, 4, 6])
    drawn = choices[(torch.rand(n, generator=rng, device=rng.device).cpu() * len(choices)).long()]
    return torch.where(moved, drawn, torch.zeros_like(drawn))


def _dihedral(images: torch.Tensor, which: torch.Tensor) -> torch.Tensor:
    """Each image turned by which % 4 quarter turns, then mirrored left to right when which >= 4 (0: itself)."""
    out = images.clone()
    for k in which.unique().tolist():
        if k:
            mask = which == k
            turned = torch.rot90(images[mask], k % 4, dims=(-2, -1))
            out[mask] = turned.flip(-1) if k >= 4 else turned
    return out


def same_class_partners(labels: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """For each example, the index of another example of its class."""
    return _SameClass(labels).draw(torch.arange(labels.shape[0]), rng)


class _SameClass:
    """Draws, for each example, another example of its class (itself only when its class has no other)."""

    def __init__(self, labels: torch.Tensor):
        self.order = torch.argsort(labels, stable=True)
        counts = torch.bincount(labels)
        starts = torch.cumsum(counts, 0) - counts
        self.start, self.count = starts[labels], counts[labels]
        self.position = torch.empty_like(self.order)
        self.position[self.order] = torch.arange(labels.shape[0])
        self.labels, self.classes = labels, int((counts > 0).sum())

    def other_class(self, index: torch.Tensor, rng: torch.Generator, tries: int = 8) -> torch.Tensor:
        """For each example, a random example of another class (with one class: of its own)."""
        n = self.labels.shape[0]
        drawn = (torch.rand(index.shape[0], generator=rng, device=rng.device).cpu() * n).long()
        for _ in range(tries):  # redraw the ones that hit their own class; a constant number of draws for resume
            again = (torch.rand(index.shape[0], generator=rng, device=rng.device).cpu() * n).long()
            drawn = torch.where(self.labels[drawn] == self.labels[index], again, drawn)
        return drawn

    def draw(self, index: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        start, count = self.start[index], self.count[index]
        # A step of 1 to count - 1 from the example's own place in its class, so never itself.
        others = (count - 1).clamp(min=1)
        step = (torch.rand(index.shape[0], generator=rng, device=rng.device).cpu() * others).long() + 1
        place = start + (self.position[index] - start + step) % count
        return self.order[place]
