"""Does InfoGAN's default disentangle MNIST as the paper's did? Train what a job gets, read its codes.

Each run trains what `POST /v1/jobs {"dataset": "mnist", "model": {"arch": "infogan"}, "train": {"seed": s}}`
trains (plus the --model / --train settings given here), then reads the served generator's samples with the
reference classifier:

- categorical code: for each of its values, `--per-value` samples with random z and continuous codes; the 10 x 10
  value x digit count matrix gives the majority digit of each value (how many distinct digits they make) and the
  Hungarian accuracy: the share of samples whose digit is the one its value maps to under the best one-to-one map
  of values to digits (scipy's linear_sum_assignment). The paper's figure is 95 % (5 % error, sec. 5.1).
- continuous codes: each traversed over --span (the paper shows -2..2, past the prior's [-1, 1]) with z, the
  categorical value and the other codes fixed, over --traverse-z draws of z for every categorical value; each image's
  moments about its centroid (pixel intensities as weights) give its slant, atan(mu11 / mu02) in degrees (the
  shear of the deskewing literature: columns moved per row), its width, sqrt(mu20) in pixels, and its ink (summed
  intensity in full pixels, which follows stroke thickness, a factor a code may take instead). Per code: the slope
  of the mean curve per unit of code, and Spearman's rho of the mean curve against the code (1 or -1: monotonic),
  and the mean of each z's own rho (how monotonic a single traverse is).
- Q on the real digits (`real_reading`): its information about them, a label-free reading of the run (at 20 epochs
  it ranked seven runs only loosely by their Hungarian accuracy, Spearman 0.57, docs/models.md: it cannot choose a
  run), and the paper's own figure, Q's reading as a classifier of the real digits under the best one-to-one map of
  values to their labels.

    .venv/bin/python -m bench.infogan_codes --seeds 0 1 2
    .venv/bin/python -m bench.infogan_codes --seeds 0 --train '{"ema": 0}' --out /tmp/infogan.jsonl
    .venv/bin/python -m bench.infogan_codes --seeds 0 --threads 1 --train '{"epochs": 40, "amp": "off"}' --each-epoch
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import torch
from scipy.optimize import linear_sum_assignment

from core.spec import JobSpec, gan_config, train_config
from core.store import LocalStore
from models import losses
from models.data import load_builtin, to_model_range
from models.metrics import classifier
from models.sampling import grid, png_bytes, to_uint8
from models.trainer import Callbacks, Trainer, make_trainer
from worker.references import reference_classifier


def train(seed: int, model: dict, train_settings: dict, each_epoch=None) -> tuple[Trainer, dict]:
    """The trainer of an infogan job on MNIST, trained (the job's resolution of settings, as bench/family_scores),
    and its last epoch's row (the information loss among it). `each_epoch(trainer, epoch)` runs after every epoch."""
    spec = JobSpec(dataset="mnist", model={"arch": "infogan", **model}, train={"seed": seed, **train_settings})
    dataset = load_builtin("mnist")
    trainer = make_trainer(gan_config(spec, tuple(dataset.shape), dataset.classes), train_config(spec))
    last = {}
    trainer.fit(dataset.data, callbacks=_LastEpoch(last, lambda epoch: each_epoch and each_epoch(trainer, epoch)))
    return trainer, last


class _LastEpoch(Callbacks):
    def __init__(self, row: dict, after):
        self.row, self.after, self.epoch = row, after, 0

    def on_epoch_end(self, metrics) -> None:
        self.row.update(metrics.to_dict())
        self.epoch += 1
        self.after(self.epoch)


@torch.inference_mode()
def images(generator: torch.nn.Module, z: torch.Tensor, categorical: torch.Tensor,
           continuous: torch.Tensor) -> torch.Tensor:
    return torch.cat([to_uint8(generator(zs, categorical=cs, continuous=ks)) for zs, cs, ks in
                      zip(z.split(500), categorical.split(500), continuous.split(500), strict=True)])


def categorical_reading(generator, gan, net, per_value: int, rng: torch.Generator) -> dict:
    """The value x digit counts, the values' majority digits and the Hungarian accuracy."""
    values = gan.cat_codes
    categorical = torch.arange(values).repeat_interleave(per_value)
    z = torch.randn(len(categorical), gan.latent_dim, generator=rng)
    continuous = torch.rand(len(categorical), gan.cont_codes, generator=rng) * 2 - 1
    digits = classifier.logits(net, images(generator, z, categorical, continuous)).argmax(1)
    counts = torch.zeros(values, net.config.num_classes, dtype=torch.long)
    counts.index_put_((categorical, digits), torch.ones_like(digits), accumulate=True)
    majority = counts.argmax(1)
    return {"counts": counts.tolist(), "majority": majority.tolist(), "distinct": len(set(majority.tolist())),
            **hungarian(counts)}


def hungarian(counts: torch.Tensor) -> dict:
    """The best one-to-one map of rows (values) to columns (digits) of a count matrix, and the share of all counts
    it keeps."""
    rows, cols = linear_sum_assignment(-counts.numpy())
    return {"hungarian": counts[rows, cols].sum().item() / max(counts.sum().item(), 1),
            "mapping": dict(zip(rows.tolist(), cols.tolist(), strict=True))}


@torch.inference_mode()
def real_reading(trainer: Trainer, real: torch.Tensor, labels: torch.Tensor) -> dict:
    """What Q's categorical head says about the real digits.

    - information: without their labels, the mutual information (nats) between a digit and Q's reading of it,
      H(mean p) - mean H(p) over the data set (IMSAT's criterion; at most ln 10). High when Q files the real digits
      into its values evenly and surely.
    - accuracy: the paper's own figure (sec. 5.1: 5 % error), Q's most likely value as a classifier of the real
      digits, each value mapped to a digit by the best one-to-one map (Hungarian) against their labels."""
    discriminator = trainer.discriminator
    was_training = discriminator.training
    discriminator.eval()
    p = torch.cat([discriminator(to_model_range(batch).to(trainer.device)).q_categorical.float().softmax(1).cpu()
                   for batch in real.split(500)])
    discriminator.train(was_training)
    counts = torch.zeros(p.shape[1], int(labels.max()) + 1, dtype=torch.long)
    counts.index_put_((p.argmax(1), labels), torch.ones_like(labels), accumulate=True)
    return {"information": (losses.entropy(p.mean(0)) - losses.entropy(p).mean()).item(),
            "accuracy": hungarian(counts)["hungarian"]}


def value_grid(generator, gan, rng: torch.Generator, columns: int = 10) -> torch.Tensor:
    """A row per categorical value, the same z down each column, continuous codes at 0."""
    z = torch.randn(columns, gan.latent_dim, generator=rng).repeat(gan.cat_codes, 1)
    categorical = torch.arange(gan.cat_codes).repeat_interleave(columns)
    return grid(images(generator, z, categorical, torch.zeros(len(z), gan.cont_codes)), nrow=columns)


def moments(batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Slant (degrees, atan of mu11 / mu02) and width (pixels, sqrt of mu20) of uint8 images, about the centroid,
    and their ink (the pixels' summed intensity, in full pixels: with the size fixed, it follows stroke thickness)."""
    w = batch.float().squeeze(1) / 255
    h, wd = w.shape[-2:]
    ys, xs = torch.arange(h, dtype=torch.float32)[:, None], torch.arange(wd, dtype=torch.float32)[None, :]
    mass = w.sum((1, 2)).clamp_min(1e-6)
    cx, cy = (w * xs).sum((1, 2)) / mass, (w * ys).sum((1, 2)) / mass
    dx, dy = xs - cx[:, None, None], ys - cy[:, None, None]
    mu20, mu02, mu11 = ((w * dx * dx).sum((1, 2)) / mass, (w * dy * dy).sum((1, 2)) / mass,
                        (w * dx * dy).sum((1, 2)) / mass)
    return torch.rad2deg(torch.atan(mu11 / mu02.clamp_min(1e-6))), mu20.sqrt(), mass


def _ranks(x: torch.Tensor) -> torch.Tensor:
    return x.argsort(-1).argsort(-1).float()


def spearman(values: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spearman's rho of each row of `values` against `t` (no ties expected in float measurements)."""
    a, b = _ranks(values), _ranks(t.expand_as(values))
    a, b = a - a.mean(-1, keepdim=True), b - b.mean(-1, keepdim=True)
    return (a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1)).clamp_min(1e-9)


def traverses(generator, gan, per_value: int, span: float, steps: int, rng: torch.Generator) -> list[dict]:
    """For each continuous code: slope and monotonicity of slant, width and ink along its traverse."""
    t = torch.linspace(-span, span, steps)
    n = gan.cat_codes * per_value
    z = torch.randn(n, gan.latent_dim, generator=rng)
    categorical = torch.arange(gan.cat_codes).repeat_interleave(per_value)
    out = []
    for code in range(gan.cont_codes):
        continuous = torch.zeros(n, steps, gan.cont_codes)
        continuous[:, :, code] = t
        made = images(generator, z.repeat_interleave(steps, 0), categorical.repeat_interleave(steps),
                      continuous.reshape(n * steps, -1))
        row = {"code": code}
        for name, measure in zip(("slant", "width", "ink"), moments(made), strict=True):
            curves = measure.reshape(n, steps)
            mean = curves.mean(0)
            slope = ((t - t.mean()) * (mean - mean.mean())).sum() / (t - t.mean()).pow(2).sum()
            row[name] = {"slope": slope.item(), "rho": spearman(mean, t).item(),
                         "rho_each": spearman(curves, t).mean().item(), "range": [mean[0].item(), mean[-1].item()]}
        out.append(row)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--model", type=json.loads, default={}, help="model settings (JSON) for every run")
    parser.add_argument("--train", type=json.loads, default={}, help="train settings (JSON) for every run")
    parser.add_argument("--per-value", type=int, default=200, help="samples read per categorical value")
    parser.add_argument("--traverse-z", type=int, default=20, help="z draws per categorical value on a traverse")
    parser.add_argument("--span", type=float, default=2.0, help="a traverse runs from -span to span")
    parser.add_argument("--steps", type=int, default=9, help="points on a traverse")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--store", type=Path, help="a folder to keep the reference classifier in between runs")
    parser.add_argument("--out", type=Path, help="also append each run as a JSON line here")
    parser.add_argument("--each-epoch", action="store_true", help="also read the categorical code (100 samples per "
                        "value, from a seed of its own: the training is not changed by it) and Q's information on real "
                        "digits after every epoch")
    parser.add_argument("--grids", type=Path, help="a folder for each seed's picture: a row per categorical value, "
                                                   "a column per z (continuous codes 0)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"mnist infogan, model {json.dumps(args.model)}, train {json.dumps(args.train)}; torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads")
    with tempfile.TemporaryDirectory() as root:
        net = reference_classifier(load_builtin("mnist"), LocalStore(args.store or Path(root))).net
        mnist = load_builtin("mnist")
        real, labels = mnist.data, mnist.labels
        accuracies = []

        def each_epoch(trainer: Trainer, epoch: int) -> None:
            generator = trainer.serving_generator()
            generator.eval()
            cat = categorical_reading(generator, trainer.gan, net, 100, torch.Generator().manual_seed(7))
            generator.train()
            q = real_reading(trainer, real, labels)
            print(f"  seed {trainer.config.seed}, epoch {epoch}: {trainer.step} G steps, values -> digits "
                  f"{cat['majority']}, {cat['distinct']} distinct, Hungarian {100 * cat['hungarian']:.1f} %, "
                  f"Q on real digits {q['information']:.3f} nats, {100 * q['accuracy']:.1f} % right", flush=True)

        each_epoch = each_epoch if args.each_epoch else None
        for seed in args.seeds:
            started = time.perf_counter()
            trainer, last = train(seed, args.model, args.train, each_epoch)
            seconds = time.perf_counter() - started
            generator, gan = trainer.serving_generator().eval(), trainer.gan
            rng = torch.Generator().manual_seed(1_000 + seed)
            cat = categorical_reading(generator, gan, net, args.per_value, rng)
            codes = traverses(generator, gan, args.traverse_z, args.span, args.steps, rng)
            accuracies.append(cat["hungarian"])
            q = real_reading(trainer, real, labels)
            if args.grids:
                args.grids.mkdir(parents=True, exist_ok=True)
                (args.grids / f"seed{seed}.png").write_bytes(png_bytes(value_grid(generator, gan, rng)))
            moves = "; ".join(f"c{r['code']}: slant {r['slant']['slope']:+.1f}°/unit (rho {r['slant']['rho']:+.2f}, "
                              f"each {r['slant']['rho_each']:+.2f}), width {r['width']['slope']:+.2f} px/unit "
                              f"(rho {r['width']['rho']:+.2f}, each {r['width']['rho_each']:+.2f}), ink "
                              f"{r['ink']['slope']:+.1f} px/unit (rho {r['ink']['rho']:+.2f})" for r in codes)
            print(f"seed {seed}: {trainer.step} G steps, {seconds:.0f} s ({trainer.precision}), last epoch's "
                  f"information loss {last['aux_loss']:.3f}; values -> digits "
                  f"{cat['majority']}, {cat['distinct']} distinct, Hungarian {100 * cat['hungarian']:.1f} %; Q on real "
                  f"digits {q['information']:.3f} nats, {100 * q['accuracy']:.1f} % right; {moves}", flush=True)
            if args.out:
                with args.out.open("a") as f:
                    f.write(json.dumps({"seed": seed, "model": args.model, "train": args.train, "steps": trainer.step,
                                        "train_s": seconds, "precision": trainer.precision, "last_epoch": last,
                                        "resolved": str(trainer.config), "categorical": cat, "continuous": codes,
                                        "real_information": q["information"],
                                        "real_accuracy": q["accuracy"]})
                            + "\n")
        mean = sum(accuracies) / len(accuracies)
        spread = math.sqrt(sum((a - mean) ** 2 for a in accuracies) / len(accuracies))
        print(f"summary: Hungarian {100 * mean:.1f} ± {100 * spread:.1f} % over seeds {args.seeds} "
              f"(min {100 * min(accuracies):.1f} %)")


if __name__ == "__main__":
    main()
