"""The adversarial training loop, one for every family. It knows nothing of who watches it:
progress, samples, checkpoints and cancellation go through a `Callbacks` object."""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch.utils._foreach_utils import _get_fused_kernels_supported_devices

from models import losses, speed_table
from models.augment import AdaptiveAugment, deformed, diff_augment
from models.checkpoint import load_state, save_state
from models.config import TrainConfig
from models.data import to_model_range
from models.distributed import Ranks, SyncedGradScaler, on_cpu
from models.family import GANConfig, build_discriminator, build_generator
from models.host_reads import to_host
from models.inputs import Inputs, draw_inputs
from models.nets.conditional import DOutput
from models.sampling import to_uint8

RESIDENT_BYTES = 2**30  # data sets up to this size live on the GPU while they train


@dataclass
class Progress:
    step: int
    total_steps: int
    epoch: int  # 1-based epoch the step belongs to
    epochs: int
    loss_d: float
    loss_g: float
    d_real: float  # mean D output on real data: a probability for BCE losses, a score otherwise
    d_fake: float  # the same on generated data
    gradient_penalty: float | None
    aux_loss: float | None  # acgan: class loss; infogan: mutual-information loss
    images_per_s: float
    elapsed_s: float
    eta_s: float
    augment_p: float | None = None  # ADA's probability of augmenting an image D sees

    def to_dict(self) -> dict:
        return asdict(self)


class Callbacks:
    """Override what you need; the defaults do nothing."""

    def on_progress(self, progress: Progress) -> None: ...

    def on_samples(self, epoch: int, samples: torch.Tensor) -> None: ...

    def on_epoch_end(self, metrics: Progress) -> None:
        """The epoch's row: its losses and D outputs averaged over all its steps."""

    def on_checkpoint(self, trainer: Trainer) -> None: ...

    def should_stop(self) -> bool:
        return False


@dataclass
class TrainResult:
    steps: int
    stopped: bool  # True when should_stop() ended training early
    history: list[dict] = field(default_factory=list)


class _Schedule:
    """Which examples each step trains on. Each epoch has its own order, derived from (seed, epoch), so
    resuming mid-epoch needs no saved state; a step takes `d_steps` consecutive batches of it."""

    def __init__(self, config: TrainConfig, n: int, multiple_of: int = 1, weights: torch.Tensor | None = None,
                 device: torch.device | None = None):
        self.n, self.seed, self.d_steps = n, config.seed, config.d_steps
        # The epoch's order moves to the data's device once, so that no step copies indices over (a wait each).
        self.device = device
        self.weights = weights  # None: each epoch is a permutation; else n draws with these odds, with replacement
        # A packing D judges whole packs: a batch holds a whole number of them.
        self.batch_size = max(multiple_of, min(config.batch_size, n) // multiple_of * multiple_of)
        if self.batch_size > n:
            raise ValueError(f"{n} examples cannot fill one pack of {multiple_of}")
        self.per_epoch = max(1, n // self.batch_size // self.d_steps)
        total = config.epochs * self.per_epoch
        self.total = min(total, config.max_steps) if config.max_steps else total
        self.epochs = -(-self.total // self.per_epoch)
        self.images_per_step = self.batch_size * self.d_steps
        self._order: tuple[int, torch.Tensor] | None = None

    def epoch(self, step: int) -> int:
        """The 1-based epoch that step `step` (1-based) belongs to."""
        return (step - 1) // self.per_epoch + 1

    def ends_epoch(self, step: int) -> bool:
        return step % self.per_epoch == 0 or step == self.total

    def batches(self, step: int) -> list[torch.Tensor]:
        """Indices of the examples in each of the `d_steps` batches that step `step` (0-based) trains on."""
        epoch, i = divmod(step, self.per_epoch)
        if self._order is None or self._order[0] != epoch:
            rng = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            order = torch.randperm(self.n, generator=rng) if self.weights is None else \
                torch.multinomial(self.weights, self.n, replacement=True, generator=rng)
            self._order = epoch, order.to(self.device, non_blocking=True) if self.device is not None else order
        order, size = self._order[1], self.batch_size
        return [order[j * size : (j + 1) * size] for j in range(i * self.d_steps, (i + 1) * self.d_steps)]


class _Mean:
    """The running mean of the steps' stats ([loss_d, loss_g, D(x), D(G(z)), penalty, aux]), kept on the
    device so that only reading it syncs."""

    def __init__(self, device: torch.device):
        self.sum, self.steps = torch.zeros(6, device=device), 0

    def add(self, stats: torch.Tensor) -> None:
        self.sum += stats
        self.steps += 1

    def take(self) -> torch.Tensor:
        """The mean so far; starts the next one."""
        mean = self.sum / self.steps
        self.sum.zero_()
        self.steps = 0
        return mean


class _Meter:
    """The bookkeeping of one `fit`: means over the progress window and over the epoch, and the clock."""

    def __init__(self, device: torch.device, start_step: int):
        self.window, self.epoch = _Mean(device), _Mean(device)
        self.started, self.start_step = time.perf_counter(), start_step

    def add(self, stats: torch.Tensor) -> None:
        self.window.add(stats)
        self.epoch.add(stats)


class Trainer:
    ranks: Ranks | None = None

    def __init__(self, gan: GANConfig, config: TrainConfig, device: str | torch.device = "cpu"):
        self.gan, self.config, self.device = gan, config.for_family(gan), torch.device(device)
        config = self.config
        torch.manual_seed(config.seed)  # network initialisation
        self.generator = build_generator(gan).to(self.device)
        self.discriminator = build_discriminator(gan).to(self.device)
        speed = speed_table.choose(self.device, gan, config.amp, config.channels_last, config.compile)
        self.amp, self.precision_reason = speed.amp, speed.reason
        self.memory_format = torch.channels_last if speed.channels_last else None
        if self.memory_format:
            self.generator.to(memory_format=self.memory_format)
            self.discriminator.to(memory_format=self.memory_format)
        # Forward passes go through these, always inside the step's one autocast context so that a compiled D
        # is compiled once for it; the penalties' double backward goes through the plain modules, and so do
        # state dicts.
        self.g = torch.compile(self.generator) if config.compile else self.generator
        self.d = torch.compile(self.discriminator) if config.compile else self.discriminator

        q_params = self.discriminator.q_parameters()
        q_ids = {id(p) for p in q_params}
        d_params = [p for p in self.discriminator.parameters() if id(p) not in q_ids]
        self.opt_g = self._optimizer(self.generator.parameters(), config.lr_g)
        self.opt_d = self._optimizer(d_params, config.lr_d)
        self.opt_q = self._optimizer(q_params, config.lr_g) if q_params else None
        self.scaler_d = torch.amp.GradScaler(self.device.type, enabled=self.amp == torch.float16)
        self.scaler_g = torch.amp.GradScaler(self.device.type, enabled=self.amp == torch.float16)
        self.ema = copy.deepcopy(self.generator).eval().requires_grad_(False) if config.ema else None

        # One RNG for all training noise, saved in checkpoints; the data order per epoch is derived
        # from (seed, epoch), so resuming mid-epoch needs no extra state.
        self.noise_rng = torch.Generator(device=self.device).manual_seed(config.seed)
        self.ada = AdaptiveAugment(config.ada_target, self.device) if config.ada_target and config.augment else None
        self.fixed_inputs = self._fixed_inputs()
        self.step = 0
        # train.reuse_fakes: the last D update of a step hands its inputs and fakes (with G's graph) to G's update.
        self._keep_fakes = False
        self._real_for_q: torch.Tensor | None = None
        self._kept_fakes: tuple[Inputs, torch.Tensor] | None = None

    def _fixed_inputs(self) -> Inputs | None:
        """What the per-epoch samples are made from: the same every epoch, so they show progress."""
        n_fixed = self.config.n_samples if self.gan.is_image else 1000  # a scatter plot needs more points
        return self._sample_inputs(n_fixed, torch.Generator().manual_seed(self.config.seed + 1), fixed=True)

    def _optimizer(self, params, lr: float) -> torch.optim.Optimizer:
        # Fused: one kernel per step for all the parameters instead of several per parameter, which on small
        # nets costs more than the step's maths; with fp16 it also checks for inf without waiting on the device.
        fused = self.device.type in _get_fused_kernels_supported_devices()
        if self.config.optimizer == "sgd":
            return torch.optim.SGD(params, lr=lr, momentum=self.config.momentum, fused=fused)
        return torch.optim.Adam(params, lr=lr, betas=(self.config.beta1, self.config.beta2), fused=fused)

    # -- the loop --------------------------------------------------------------------------------

    def fit(self, data, labels: torch.Tensor | None = None, callbacks: Callbacks | None = None) -> TrainResult:
        """Trains on `data` (uint8 NCHW images, or float N x 2 points; a translator's trainer takes its
        TwoDomainDataset) from the current step to the end of the schedule. `labels` are needed by the
        conditional families."""
        callbacks = callbacks or Callbacks()
        data, labels = self._resident(data), self._resident(labels)
        schedule = _Schedule(self.config, len(data), self.gan.pack, self.class_balance_weights(labels),
                             data.device if isinstance(data, torch.Tensor) else None)
        if self.ranks:
            self.ranks.same_start(self.step, self.device)
            if schedule.batch_size % (self.ranks.world * self.gan.pack):
                raise ValueError(f"a batch of {schedule.batch_size} does not split into equal shares of whole "
                                 f"packs over {self.ranks.world} devices: make batch_size a multiple of "
                                 f"{self.ranks.world * self.gan.pack}")
        if self.ada:  # p may cross [0, 1] in 5 % of the run's images (the paper: 500k of ~25M, 2 %)
            self.ada.speed_images = max(1.0, 0.05 * schedule.total * schedule.images_per_step)
        meter = _Meter(self.device, self.step)
        history: list[dict] = []
        while self.step < schedule.total:
            indices = schedule.batches(self.step)
            if self.ranks:
                indices = [self.ranks.share(index) for index in indices]
            batches = [self._batch(data, labels, index) for index in indices]
            if self.config.lr_decay:
                self._set_lr_fraction(1 - self.step / schedule.total)
            meter.add(self.train_step(batches))
            self.step += 1
            history += self._report(schedule, meter, callbacks)
            if self.step < schedule.total and self._should_stop(callbacks):
                return TrainResult(steps=self.step, stopped=True, history=history)
        return TrainResult(steps=self.step, stopped=False, history=history)

    def class_balance_weights(self, labels: torch.Tensor | None) -> torch.Tensor | None:
        """Each example's odds of being drawn when the classes are balanced (1 / its class's count), or None
        when the data is drawn as it is. G is asked for every class equally often; on an imbalanced set D
        would otherwise see a rare class's real images seldom and learn "rare label, so fake" (BAGAN's
        observation, Mariani et al. 2018)."""
        if labels is None or not self.gan.conditions_generator:
            return None
        counts = torch.bincount(labels.cpu(), minlength=self.gan.num_classes).double()
        present = counts[counts > 0]
        balance = self.config.balance_classes
        if balance is None:
            balance = len(present) > 1 and bool(present.max() > 2 * present.min())
        return (1 / counts[labels.cpu()]).float() if balance else None

    def _resident(self, tensor):
        """A data set tensor that fits comfortably is copied to the GPU once, so that a step gathers its batch
        there rather than on the CPU followed by a copy (each a wait on a small net's step)."""
        if self.device.type != "cuda" or not isinstance(tensor, torch.Tensor) or tensor.nbytes > RESIDENT_BYTES:
            return tensor
        return tensor.to(self.device)

    def _should_stop(self, callbacks: Callbacks) -> bool:
        """The lead's callbacks decide (cancel, time limit) and every rank stops at the same step."""
        stop = callbacks.should_stop()
        return self.ranks.any(stop, self.device) if self.ranks else stop

    def _report(self, schedule: _Schedule, meter: _Meter, callbacks: Callbacks) -> list[dict]:
        """The callbacks due after the step just taken; returns the progress rows it reported."""
        step, config, rows = self.step, self.config, []
        ends_epoch = schedule.ends_epoch(step)
        if step % config.progress_every_steps == 0 or ends_epoch:
            progress = self._progress(self._over_ranks(meter.window.take()), schedule, meter)
            rows.append(progress.to_dict())
            callbacks.on_progress(progress)
        if ends_epoch:
            callbacks.on_epoch_end(self._progress(self._over_ranks(meter.epoch.take()), schedule, meter))
            epoch = schedule.epoch(step)
            leads = self.ranks is None or self.ranks.leads
            if leads and (epoch % config.sample_every_epochs == 0 or step == schedule.total):
                callbacks.on_samples(epoch, self.samples())
        if step % config.checkpoint_every_steps == 0 and step < schedule.total:
            callbacks.on_checkpoint(self)
        return rows

    def _over_ranks(self, means: torch.Tensor) -> torch.Tensor:
        return self.ranks.mean(means) if self.ranks else means

    def _batch(self, data: torch.Tensor, labels: torch.Tensor | None, index: torch.Tensor):
        return self._prepare(data[index]), labels[index].to(self.device) if labels is not None else None

    def _set_lr_fraction(self, fraction: float) -> None:
        bases = ((self.opt_g, self.config.lr_g), (self.opt_d, self.config.lr_d), (self.opt_q, self.config.lr_g))
        for optimizer, base in bases:
            if optimizer is not None:
                for group in optimizer.param_groups:
                    group["lr"] = base * fraction

    def _prepare(self, batch: torch.Tensor) -> torch.Tensor:
        batch = batch.to(self.device, non_blocking=True)
        batch = to_model_range(batch) if batch.dtype == torch.uint8 else batch.float()
        return batch.contiguous(memory_format=self.memory_format) if self.memory_format else batch

    # -- one step ---------------------------------------------------------------------------------

    def train_step(self, batches: list[tuple[torch.Tensor, torch.Tensor | None]]) -> torch.Tensor:
        """`d_steps` D updates, each on its own real batch, then one G update (pytorch/examples dcgan:
        D on real, D on detached fakes, step D; G on fakes with real labels, step G), on fresh fakes or, with
        `reuse_fakes`, on the last D update's as pytorch/examples does. Returns
        [loss_d, loss_g, D(x), D(G(z)), gradient penalty, aux loss] so the caller syncs only to report."""
        for i, (real, labels) in enumerate(batches):
            self._keep_fakes = self.config.reuse_fakes and not self.config.unroll_steps and i == len(batches) - 1
            loss_d, real_out, fake_out, penalty = self._discriminator_step(real, labels)
        self._keep_fakes = False
        if self.config.unroll_steps:
            loss_g, aux = self._unrolled_generator_step(batches)
        else:
            loss_g, aux = self._generator_step(batches[-1][0].shape[0])
        if self.ema is not None:
            self._update_ema()
        with torch.no_grad():
            to_stat = torch.sigmoid if losses.reports_probability(self.config.loss) else (lambda t: t)
            return torch.stack([loss_d, loss_g, to_stat(real_out.logit.float()).mean(),
                                to_stat(fake_out.logit.float()).mean(), penalty, aux]).detach().float()

    def _discriminator_step(self, real, labels):
        self._real_for_q = real if self.config.info_real and self.gan.cat_codes and real.dim() == 4 else None
        inputs = self._sample_inputs(real.shape[0], self.noise_rng)
        with self._autocast():
            # D's step alone needs no graph through G (the same values, without recording one); G's step keeps
            # one when it is to judge these same fakes.
            with torch.set_grad_enabled(self._keep_fakes):
                fake = self.g(inputs.z, **inputs.as_kwargs())
            if self._keep_fakes:
                self._kept_fakes = (inputs, fake)
                fake = fake.detach()
            real_out = self.d(self._augment(real), labels)
            fake_out = self.d(self._augment(fake), inputs.labels)
            if self.ada:
                self.ada.observe(real_out.logit, real.shape[0])
            loss = losses.discriminator_loss(self.config.loss, real_out.logit.float(), fake_out.logit.float())
            if real_out.class_logits is not None:  # acgan: D also learns to classify real and fake
                loss = loss + F.cross_entropy(real_out.class_logits.float(), labels) \
                    + F.cross_entropy(fake_out.class_logits.float(), inputs.labels)
        penalty = torch.zeros((), device=self.device)
        if self.config.loss == "wasserstein-gp":  # in float32: the penalty differentiates a gradient
            # Through the plain D: compiled graphs take no double backward, and a compiled D called outside the
            # step's autocast would be compiled again for it (dynamo guards on the autocast state).
            penalty = losses.gradient_penalty(self.discriminator, real, fake.float(), labels, self.noise_rng,
                                              self.gan.pack)
            loss = loss + self.config.gp_weight * penalty
        self.opt_d.zero_grad(set_to_none=True)
        self.scaler_d.scale(loss).backward()
        self.scaler_d.step(self.opt_d)
        self.scaler_d.update()
        return loss.detach(), real_out, fake_out, penalty.detach()

    def _unrolled_generator_step(self, batches):
        """Unrolled GAN (Metz et al. 2016), first order: G steps against D as it will be after
        `unroll_steps` more updates (on this step's real batches in turn), so G gains nothing from a
        mode D is about to learn to reject; then D goes back to where it was, keeping only its ordinary
        update."""
        saved_d = copy.deepcopy(self.discriminator.state_dict())
        saved_opt = copy.deepcopy(self.opt_d.state_dict())
        for i in range(self.config.unroll_steps):
            self._discriminator_step(*batches[i % len(batches)])
        result = self._generator_step(batches[-1][0].shape[0])
        self.discriminator.load_state_dict(saved_d)
        self.opt_d.load_state_dict(saved_opt)
        return result

    def _generator_step(self, n: int):
        kept, self._kept_fakes = self._kept_fakes, None
        inputs = kept[0] if kept else self._sample_inputs(n, self.noise_rng)
        with self._autocast():
            fake = kept[1] if kept else self.g(inputs.z, **inputs.as_kwargs())
            out: DOutput = self.d(self._augment(fake), inputs.labels)
            loss = losses.generator_loss(self.config.loss, out.logit.float())
            aux = torch.zeros((), device=self.device)
            if out.class_logits is not None:
                aux = F.cross_entropy(out.class_logits.float(), inputs.labels)
                loss = loss + aux
            if out.q_categorical is not None:
                aux = self._information_loss(out, inputs, self.config.info_cont_weight)
                if self.config.info_invariance and inputs.categorical is not None and fake.dim() == 4:
                    warped = self.d(deformed(fake, self.noise_rng), inputs.labels).q_categorical
                    aux = aux + self.config.info_invariance * F.cross_entropy(warped.float(), inputs.categorical)
                if self.config.info_real and self._real_for_q is not None and inputs.categorical is not None:
                    aux = aux + self.config.info_real * self._real_clustering(self._real_for_q)
                loss = loss + self.config.info_weight * aux
        self.opt_g.zero_grad(set_to_none=True)
        if self.opt_q is not None:
            self.opt_q.zero_grad(set_to_none=True)
        self.scaler_g.scale(loss).backward()
        self.scaler_g.step(self.opt_g)
        if self.opt_q is not None:  # InfoGAN: Q and G both maximise the mutual-information bound
            self.scaler_g.step(self.opt_q)
        self.scaler_g.update()
        return loss.detach(), aux.detach()

    def _real_clustering(self, real: torch.Tensor) -> torch.Tensor:
        """IMSAT's self-augmented training (Hu et al. 2017, arXiv:1702.08720) for Q's categorical head on the real
        images of D's last step: a deformed copy must read as the image does (cross-entropy to its reading, held
        fixed), each reading must be sure and the batch's readings spread evenly over the values (mean entropy minus
        the entropy of the mean: at least -log of the values, so the term can read below 0). Without it, which factor
        each value takes is settled by the split G happens to make early on (two values sharing 4s and 9s on some
        seeds); with it Q sorts the real digits by what survives a deformation, and G's values follow
        (bench/infogan_codes.py, docs/models.md)."""
        reading = self.d(real).q_categorical.float()
        moved = self.d(deformed(real, self.noise_rng)).q_categorical.float()
        p = reading.softmax(1)
        consistency = -(p.detach() * moved.log_softmax(1)).sum(1).mean()
        return consistency + losses.entropy(p).mean() - losses.entropy(p.mean(0))

    @staticmethod
    def _information_loss(out: DOutput, inputs: Inputs, continuous_weight: float) -> torch.Tensor:
        # Categorical code: cross-entropy; continuous codes: a unit-variance Gaussian's NLL (up to a constant),
        # weighted by train.info_cont_weight: 0.1 as is common for InfoGAN, 1 (the paper's code) on 28 px digits,
        # where 0.1 left the codes barely used (bench/infogan_codes.py).
        loss = F.cross_entropy(out.q_categorical.float(), inputs.categorical) if inputs.categorical is not None else 0
        if inputs.continuous is not None:
            nll = 0.5 * (out.q_continuous.float() - inputs.continuous).pow(2).sum(dim=1).mean()
            loss = loss + continuous_weight * nll
        return loss

    def _sample_inputs(self, n: int, generator: torch.Generator, fixed: bool = False) -> Inputs:
        """Training noise from the priors; `fixed` (the sample grids) cycles labels and categories."""
        return draw_inputs(self.gan, n, generator, cycle=fixed).to(self.device)

    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        if not self.config.augment or x.dim() != 4:
            return x
        if self.ada:
            return self.ada(x, self.config.augment, self.noise_rng)
        return diff_augment(x, self.config.augment, self.noise_rng)

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp or torch.bfloat16, enabled=self.amp is not None)

    @torch.no_grad()
    def _update_ema(self) -> None:
        # foreach: a few kernels for all the tensors instead of one per tensor (the same maths).
        torch._foreach_lerp_(list(self.ema.parameters()), list(self.generator.parameters()), 1 - self.config.ema)
        buffers = list(self.ema.buffers())
        if buffers:  # foreach ops refuse empty lists (G without BatchNorm)
            torch._foreach_copy_(buffers, list(self.generator.buffers()))

    def _progress(self, means: torch.Tensor, schedule: _Schedule, meter: _Meter) -> Progress:
        # One read for the means and ADA's p together: the report's only wait on the device.
        values = to_host(torch.cat([means, self.ada.p.reshape(1)]) if self.ada else means)
        loss_d, loss_g, d_real, d_fake, penalty, aux = values[:6]
        elapsed = time.perf_counter() - meter.started
        rate = (self.step - meter.start_step) / elapsed if elapsed > 0 else 0.0
        return Progress(
            step=self.step, total_steps=schedule.total, epoch=schedule.epoch(self.step), epochs=schedule.epochs,
            loss_d=loss_d, loss_g=loss_g, d_real=d_real, d_fake=d_fake,
            gradient_penalty=penalty if self._reports_penalty() else None,
            aux_loss=aux if self._reports_aux() else None,
            images_per_s=rate * schedule.images_per_step, elapsed_s=elapsed,
            eta_s=(schedule.total - self.step) / rate if rate > 0 else 0.0,
            augment_p=round(values[6], 4) if self.ada else None,
        )

    @property
    def precision(self) -> str:
        """What the nets computed in: float32, or the autocast dtype (`amp`, as resolved for this device)."""
        return {None: "float32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.amp]

    @property
    def needs_labels(self) -> bool:
        """Whether `fit` needs the data's labels."""
        return self.gan.conditions_generator

    def _reports_aux(self) -> bool:
        return self.gan.conditioning == "auxiliary" or bool(self.gan.cat_codes)

    def _reports_penalty(self) -> bool:
        return self.config.loss == "wasserstein-gp"

    # -- outputs ----------------------------------------------------------------------------------

    def serving_generator(self) -> torch.nn.Module:
        """The generator to sample from and export: the EMA copy when EMA is on."""
        return self.ema if self.ema is not None else self.generator

    @torch.no_grad()
    def samples(self) -> torch.Tensor:
        """Samples from the fixed inputs, the same every epoch so they show progress: uint8 images,
        or float points for 2-D data."""
        generator = self.serving_generator()
        was_training = generator.training
        generator.eval()
        out = generator(self.fixed_inputs.z, **self.fixed_inputs.as_kwargs()).float().cpu()
        generator.train(was_training)
        return to_uint8(out) if out.dim() == 4 else out

    # -- state ------------------------------------------------------------------------------------

    def state_dict(self) -> dict:
        """Everything exact resume needs, as nested dicts of tensors and JSON values: both nets and the
        EMA copy, every optimizer, the AMP scalers, the noise RNG and the step; and both configs, so that
        a checkpoint describes itself. The data order needs no state: it follows from (seed, epoch).
        As with nn.Module.state_dict, the tensors are the live ones: save or copy them before training on."""
        return {
            "step": self.step,
            "nets": {name: net.state_dict() for name, net in self._nets().items()},
            "optimizers": {name: optimizer.state_dict() for name, optimizer in self._optimizers().items()},
            "scalers": {"d": self.scaler_d.state_dict(), "g": self.scaler_g.state_dict()},
            "rng": {"noise": self.noise_rng.get_state()},
            "config": {"gan": self.gan.to_dict(), "train": asdict(self.config)},
            **({"ada": self.ada.state_dict()} if self.ada else {}),
            **self._extra_state(),
        }

    def _extra_state(self) -> dict:
        """A family's own training state beyond nets, optimizers and RNG (CycleGAN's pools of fakes)."""
        return {}

    def _load_extra_state(self, state: dict) -> None: ...

    def load_state_dict(self, state: dict) -> None:
        """Restores a state_dict() of a trainer built with the same configs: `fit` then continues bit for
        bit where that trainer stood. Copies what it takes; `config` is for readers and is not checked."""
        nets, optimizers = self._nets(), self._optimizers()
        if set(state["nets"]) != set(nets) or set(state["optimizers"]) != set(optimizers):
            raise ValueError(f"the state holds nets {sorted(state['nets'])} and optimizers "
                             f"{sorted(state['optimizers'])}; this trainer has {sorted(nets)} and "
                             f"{sorted(optimizers)}: resume with the family and EMA setting it was saved with")
        for name, net in nets.items():
            net.load_state_dict(state["nets"][name])
        for name, optimizer in optimizers.items():  # a copy: torch's optimizers keep the tensors they load
            optimizer.load_state_dict(copy.deepcopy(state["optimizers"][name]))
        for scaler, saved in ((self.scaler_d, state["scalers"]["d"]), (self.scaler_g, state["scalers"]["g"])):
            if saved:  # a disabled scaler (no fp16) has an empty state
                scaler.load_state_dict(saved)
        self.noise_rng.set_state(state["rng"]["noise"])
        if self.ada and "ada" in state:
            self.ada.load_state_dict(state["ada"])
        self._load_extra_state(state)
        self.step = state["step"]
        self._seed_rank_noise()

    def save_checkpoint(self, path) -> None:
        save_state(self.state_dict(), path)

    def load_checkpoint(self, path) -> None:
        self.load_state_dict(load_state(path))

    # -- data parallel ------------------------------------------------------------------------------

    def distribute(self, ranks: Ranks) -> None:
        """Makes this trainer one rank of a data-parallel group (models.distributed): before any checkpoint is
        loaded, on every rank alike. Each rank then trains on its share of every batch with noise of its own,
        the gradients averaged before each step; only the lead calls back `on_samples`."""
        self.ranks = ranks
        fp16 = self.amp == torch.float16
        self.scaler_d = SyncedGradScaler(ranks, self.device.type, enabled=fp16)
        self.scaler_g = SyncedGradScaler(ranks, self.device.type, enabled=fp16)
        ranks.broadcast_from_lead(self._nets().values())
        self._seed_rank_noise()

    def share_state(self) -> None:
        """Every rank takes the lead's training state: after the lead alone has loaded a checkpoint (or found
        none), so that the others need no access to it."""
        state = self.ranks.from_lead(on_cpu(self.state_dict()) if self.ranks.leads and self.step else None)
        if state is not None and not self.ranks.leads:
            self.load_state_dict(state)

    def _seed_rank_noise(self) -> None:
        """The lead keeps the noise stream a checkpoint holds; every other rank draws from its own stream, seeded
        by (seed, rank, step), so no two ranks train on the same noise, after a resume onto any number of ranks
        too."""
        if self.ranks and not self.ranks.leads:
            seed = (self.config.seed * 1_000_003 + self.ranks.rank * 7_919 + self.step) % 2**63
            self.noise_rng.manual_seed(seed)

    def _nets(self) -> dict[str, torch.nn.Module]:
        nets = {"generator": self.generator, "discriminator": self.discriminator}
        return nets | ({"ema": self.ema} if self.ema is not None else {})

    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        optimizers = {"g": self.opt_g, "d": self.opt_d}
        return optimizers | ({"q": self.opt_q} if self.opt_q is not None else {})


def make_trainer(gan: GANConfig, config: TrainConfig, device: str | torch.device = "cpu") -> Trainer:
    """The one way to make a trainer: the family's own loop (Family.trainer), imported now."""
    return gan.family.trainer_class()(gan, config, device)
