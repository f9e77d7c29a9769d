"""How good is each family's default on MNIST? Train what a job gets, score it as the service does.

Each run is what `POST /v1/jobs {"dataset": "mnist", "model": {"arch": <arch>}, "train": {...}}` trains (the
family's recipe for 28 px images, plus the --train settings given here), then the scores every evaluation job
gives a labelled image set: the reference classifier's reading of 1,000 samples (confidence, class coverage,
conditional accuracy), FID / KID / precision / recall / density / coverage in that classifier's feature space
against its held-out real digits, and CAS (a classifier trained on the samples only, tested on held-out real
digits) for conditional models. The reference classifier is trained once into a temporary store and reused.

    .venv/bin/python -m bench.family_scores --archs dcgan cgan acgan infogan wgan-gp sngan --seeds 0
    .venv/bin/python -m bench.family_scores --archs dcgan --model '{"g_width": 32}' --train '{"epochs": 12}'

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
from models.trainer import Trainer
from worker.evaluation import evaluate, scores
from worker.references import reference_classifier

COLUMNS = ("confidence", "class_coverage", "min_class_share", "conditional_accuracy", "fid_classifier",
           "kid_classifier", "precision_classifier", "recall_classifier", "density_classifier",
           "coverage_classifier", "cas")


def run(arch: str, seed: int, model: dict, train: dict, store: ArtifactStore, samples: int) -> dict:
    spec = JobSpec(dataset="mnist", model={"arch": arch, **model}, train={"seed": seed, **train})
    dataset = load_builtin("mnist")
    gan = gan_config(spec, tuple(dataset.shape), dataset.classes)
    trainer = Trainer(gan, train_config(spec))
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
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"mnist, model {json.dumps(args.model)}, train {json.dumps(args.train)}, {args.samples} samples scored; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| arch | seed | G steps | train s | " + " | ".join(COLUMNS) + " |")
    print("|---|---|---|---|" + "---|" * len(COLUMNS))
    with tempfile.TemporaryDirectory() as root:
        store = LocalStore(Path(root))
        if args.real:
            print(f"| real digits | – | – | – | {cells(real_row(store, args.samples))} |", flush=True)
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
