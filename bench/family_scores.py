"""How good is each family's default on MNIST? Train what a job gets, score it as the service does.

Each run is what `POST /v1/jobs {"dataset": "mnist", "model": {"arch": <arch>}, "train": {...}}` trains (the
family's recipe for 28 px images, plus the --train settings given here), then the scores every evaluation job
gives a labelled image set: the reference classifier's reading of 1,000 samples (confidence, class coverage,
conditional accuracy), FID / KID / precision / recall / density / coverage in that classifier's feature space
against its held-out real digits, and CAS (a classifier trained on the samples only, tested on held-out real
digits) for conditional models. The reference classifier is trained once into a temporary store and reused.

    .venv/bin/python -m bench.family_scores --archs dcgan cgan acgan infogan wgan-gp sngan --seeds 0
    .venv/bin/python -m bench.family_scores --archs dcgan --model '{"g_width": 32}' --train '{"epochs": 12}'
    .venv/bin/python -m bench.family_scores --archs stylegan2 --model '{"image_size": 32}'   # resized, as a job

`model.image_size` resizes the digits as a job's does (StyleGAN2 and ProGAN take powers of two), and the reference
classifier is then the one for that size.

Settings compared side by side: each --arm is a label and a JSON run ({"arch", "model", "train"}); every seed
runs the arms in turn. At equal wall-clock time: on a machine others share, a run's seconds say more of their load
than of its settings, so --pace-steps times a few steps of every arm in turn (three rounds) and gives each later
arm the G steps that take as long as the first arm's whole run at the measured paces (give it enough epochs);
--time-steps only prints those paces, beside runs of each arm's own schedule:

    .venv/bin/python -m bench.family_scores --threads 1 --pace-steps 10 --arm dcgan='{"arch": "dcgan"}' \
        --arm ncritic1='{"arch": "wgan-gp", "train": {"d_steps": 1, "epochs": 400}}'
    .venv/bin/python -m bench.family_scores --threads 1 --time-steps 10 --seeds 0 1 2 \
        --arm dcgan='{"arch": "dcgan"}' --arm wgan-gp='{"arch": "wgan-gp"}'

InceptionV3 features are left out: on a CPU they cost minutes per 1,000 images (docs/benchmarks.md), and the
classifier's features are the ones the service scores with by default.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from core.spec import EvaluationSpec, JobSpec, gan_config, train_config
from core.store import ArtifactStore, LocalStore
from models.data import load_builtin
from models.metrics import EvalOptions, evaluate_images
from models.trainer import Callbacks, make_trainer
from worker.evaluation import evaluate, scores
from worker.references import reference_classifier

COLUMNS = ("confidence", "class_coverage", "min_class_share", "conditional_accuracy", "fid_classifier",
           "kid_classifier", "precision_classifier", "recall_classifier", "density_classifier",
           "coverage_classifier", "cas")


def run(arch: str, seed: int, model: dict, train: dict, store: ArtifactStore, samples: int) -> dict:
    spec = JobSpec(dataset="mnist", model={"arch": arch, **model}, train={"seed": seed, **train})
    dataset = load_builtin("mnist", spec.model.image_size)  # the job's resize (stylegan2 and progan take 32 px)
    gan = gan_config(spec, tuple(dataset.shape), dataset.classes)
    trainer = make_trainer(gan, train_config(spec))
    started = time.perf_counter()
    result = trainer.fit(dataset.data, dataset.labels if gan.conditions_generator else None)
    seconds = time.perf_counter() - started
    metrics = ["domain", "fid", "kid", "prdc", *(["cas"] if gan.conditions_generator else [])]
    scored = evaluate(trainer.serving_generator().eval(), gan, dataset.classes, dataset, store,
                      EvaluationSpec(metrics=metrics, samples=samples, seed=0))
    shares = [row["value"] for row in scored["rows"] if row["metric"] == "class_share"]
    return {"arch": arch, "seed": seed, "steps": result.steps, "train_s": seconds, "score_s": scored["seconds"],
            **scored["scores"], "min_class_share": min(shares), "resolved": trainer.config}


def real_row(store: ArtifactStore, samples: int) -> dict:
    """The same figures for real digits the classifier trained on, in place of samples: what a perfect
    generator would score, so each family's row has a ceiling beside it."""
    dataset = load_builtin("mnist")
    reference = reference_classifier(dataset, store)
    trained_on = torch.ones(len(dataset.labels), dtype=torch.bool)
    trained_on[reference.held_out] = False
    pool = trained_on.nonzero().flatten()  # the digits come sorted by class: draw a random subset
    pick = pool[torch.randperm(len(pool), generator=torch.Generator().manual_seed(0))[:samples]]
    images, labels = dataset.images[pick], dataset.labels[pick]
    rows = evaluate_images(images, labels, *reference.real_split(dataset), reference.net,
                           EvalOptions(metrics=("domain", "fid", "kid", "prdc", "cas"), seed=0))
    shares = [row["value"] for row in rows if row["metric"] == "class_share"]
    return {**scores(rows), "min_class_share": min(shares)}


def cells(row: dict) -> str:
    return " | ".join(f"{row[c]:.3g}" if c in row else "–" for c in COLUMNS)


class _Clock(Callbacks):
    """Notes the time after every step (the loop asks should_stop once a step)."""

    def __init__(self):
        self.times = [time.perf_counter()]

    def should_stop(self) -> bool:
        self.times.append(time.perf_counter())
        return False


def seconds_per_step(arch: str, model: dict, train: dict, steps: int) -> float:
    """Wall-clock seconds per G step of a run, timed over `steps` steps after two to warm up (first calls
    allocate and pick kernels)."""
    spec = JobSpec(dataset="mnist", model={"arch": arch, **model}, train={**train, "max_steps": steps + 3})
    dataset = load_builtin("mnist")
    gan = gan_config(spec, tuple(dataset.shape), dataset.classes)
    clock = _Clock()
    make_trainer(gan, train_config(spec)).fit(dataset.data, dataset.labels if gan.conditions_generator else None, clock)
    return (clock.times[-1] - clock.times[2]) / (len(clock.times) - 3)


def paces(arms: list[tuple[str, dict]], base_model: dict, base_train: dict, steps: int) -> list[float]:
    """Median seconds per step of each arm over three rounds that take the arms in turn."""
    rounds = [[seconds_per_step(arm["arch"], {**base_model, **arm.get("model", {})},
                                {**base_train, **arm.get("train", {})}, steps) for _, arm in arms]
              for _ in range(3)]
    return [sorted(column)[1] for column in zip(*rounds, strict=True)]


def parse_arm(text: str) -> tuple[str, dict]:
    """`label={"arch": ..., "model": {...}, "train": {...}}`: one setting to compare."""
    label, _, body = text.partition("=")
    arm = json.loads(body)
    unknown = set(arm) - {"arch", "model", "train"}
    if not label or "arch" not in arm or unknown:
        raise argparse.ArgumentTypeError(f"an arm is label={{\"arch\": ..., \"model\": ..., \"train\": ...}}; got "
                                         f"{text!r}")
    return label, arm


def run_arms(args: argparse.Namespace, store: ArtifactStore) -> None:
    """Each seed runs every arm in turn; with --pace-steps the later arms train for the first arm's time."""
    timed = args.pace_steps or args.time_steps
    pace = paces(args.arm, args.model, args.train, timed) if timed else None
    if pace:
        print("seconds per G step: " + ", ".join(f"{label} {p:.3f}" for (label, _), p in zip(args.arm, pace,
                                                                                          strict=True)), flush=True)
    for seed in args.seeds:
        first_steps = None
        for i, (label, arm) in enumerate(args.arm):
            model, train = {**args.model, **arm.get("model", {})}, {**args.train, **arm.get("train", {})}
            if args.pace_steps and i > 0:
                train = {**train, "max_steps": max(1, round(first_steps * pace[0] / pace[i]))}
            r = run(arm["arch"], seed, model, train, store, args.samples)
            first_steps = first_steps or r["steps"]
            print(f"| {label} | {seed} | {r['steps']} | {r['train_s']:.0f} | {cells(r)} |", flush=True)
            if args.out:
                with args.out.open("a") as f:
                    row = {**r, "label": label, "resolved": str(r["resolved"]), "model": model, "train": train}
                    f.write(json.dumps(row) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", nargs="*", default=["dcgan", "cgan", "acgan", "infogan", "wgan-gp", "sngan"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--model", type=json.loads, default={}, help="model settings (JSON) for every run")
    parser.add_argument("--train", type=json.loads, default={}, help="train settings (JSON) for every run")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--out", type=Path, help="also append each run as a JSON line here")
    parser.add_argument("--real", action="store_true", help="first, a row for real digits scored as samples")
    parser.add_argument("--arm", type=parse_arm, action="append", default=[],
                        help='label={"arch": ..., "model": {...}, "train": {...}}, repeated: run these instead of '
                             "--archs (--model and --train apply under each arm's own)")
    parser.add_argument("--pace-steps", type=int, default=0,
                        help="with --arm: time this many steps of each arm (3 rounds in turn) and give later arms the "
                             "G steps that take as long as the first arm's run (give them enough epochs)")
    parser.add_argument("--time-steps", type=int, default=0,
                        help="with --arm: time this many steps of each arm as --pace-steps does, and only print the "
                             "seconds per step (each arm trains its own schedule)")
    parser.add_argument("--store", type=Path, help="keep the reference classifier here across runs (default: a "
                                                   "temporary store, trained again each run)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"mnist, model {json.dumps(args.model)}, train {json.dumps(args.train)}, {args.samples} samples scored; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"| {'arm' if args.arm else 'arch'} | seed | G steps | train s | " + " | ".join(COLUMNS) + " |")
    print("|---|---|---|---|" + "---|" * len(COLUMNS))
    with tempfile.TemporaryDirectory() as root:
        store = LocalStore(args.store or Path(root))
        if args.real:
            print(f"| real digits | – | – | – | {cells(real_row(store, args.samples))} |", flush=True)
        if args.arm:
            run_arms(args, store)
            return
        for arch in args.archs:
            for seed in args.seeds:
                r = run(arch, seed, args.model, args.train, store, args.samples)
                print(f"| {arch} | {seed} | {r['steps']} | {r['train_s']:.0f} | {cells(r)} |", flush=True)
                if args.out:
                    with args.out.open("a") as f:
                        row = {**r, "resolved": str(r["resolved"]), "model": args.model, "train": args.train}
                        f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
