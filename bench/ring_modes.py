"""Mode coverage on the 2-D mixtures with the defaults a job gets: the figures docs/models.md quotes.

Each run is what `POST /v1/jobs {"dataset": <data>, "model": {"arch": <arch>}}` trains (the family's
recipe for 2-D points; nothing set by hand): the job's per-epoch scoring and, by default on a built-in
mixture, its best epoch served (worker.epoch_scores, as the worker runs it), scored as every training job
scores itself: 2,500 samples by PacGAN's protocol, modes captured and the share within 3 std of a mode.

    .venv/bin/python -m bench.ring_modes --archs mlp cgan --data ring8 grid25 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from core.ids import new_id
from core.spec import JobSpec, gan_config, train_config
from core.store import LocalStore
from models.data import load_builtin
from models.toy2d import MIXTURES
from models.trainer import Trainer
from worker.epoch_scores import EpochScorer, ScoreEpochs
from worker.evaluation import MIXTURE_SAMPLES, mixture_rows


def run(arch: str, data: str, seed: int, model: dict | None = None, train: dict | None = None) -> dict:
    spec = JobSpec(dataset=data, model={"arch": arch, **(model or {})}, train={"seed": seed, **(train or {})})
    dataset = load_builtin(data)
    gan = gan_config(spec, tuple(dataset.shape), dataset.classes)
    config = train_config(spec)
    trainer = Trainer(gan, config)
    with tempfile.TemporaryDirectory() as root:
        scorer = EpochScorer(gan, dataset, LocalStore(Path(root)), new_id("job"), config.eval_every_epochs,
                             config.keep_best) if config.eval_every_epochs else None
        started = time.perf_counter()
        result = trainer.fit(dataset.points, dataset.labels if gan.conditions_generator else None,
                             ScoreEpochs(trainer, scorer) if scorer else None)
        seconds = time.perf_counter() - started
        generator, best = scorer.best_generator(trainer.serving_generator()) if scorer else \
            (trainer.serving_generator(), None)
        rows = {row["metric"]: row for row in mixture_rows(generator.eval(), gan, data, seed)}
    return {"modes": rows["modes"]["value"], "of": rows["modes"]["of"], "high_quality": rows["high_quality"]["value"],
            "steps": result.steps, "seconds": seconds, "served_epoch": best["epoch"] if best else "last"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", nargs="+", default=["mlp"])
    parser.add_argument("--data", nargs="+", default=["ring8", "grid25"], choices=list(MIXTURES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="trainer seeds")
    parser.add_argument("--model", type=json.loads, default={}, help="model settings (JSON), e.g. '{\"pack\": 2}'")
    parser.add_argument("--train", type=json.loads, default={}, help="train settings (JSON)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"model {json.dumps(args.model)}, train {json.dumps(args.train)}; {MIXTURE_SAMPLES} samples per score; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| arch | data | seed | modes | high quality | G steps | served epoch | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for arch in args.archs:
        for data in args.data:
            for seed in args.seeds:
                r = run(arch, data, seed, args.model, args.train)
                print(f"| {arch} | {data} | {seed} | {r['modes']}/{r['of']} | {r['high_quality']:.1%} | {r['steps']} | "
                      f"{r['served_epoch']} | {r['seconds']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
