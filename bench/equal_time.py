"""Which family trains the best images in the same wall-clock time? dcgan, progan and stylegan2 on `shapes`.

Each arch trains what a job with its defaults trains on the built-in shapes (64 px RGB unless --size), given
the same budget of seconds on this machine. A schedule that depends on the job's length (progan grows through
its resolutions over the whole job) must fit the budget, so each arch first times 10 steps and is then given
as many steps as fit in the budget at that pace (timed after two warm-up steps); training also stops at the
budget, whichever comes first.
Every arch is then scored as an evaluation job scores a labelled image set: FID and KID in the feature space of
the data set's reference classifier (trained once, the service's default features), precision / recall /
density / coverage, and the classifier's reading of the samples (confidence, share of each shape).
A last row scores real shapes the classifier did not train on: what a perfect generator would get.

    .venv/bin/python -m bench.equal_time --budget 300                       # 64 px, 5 minutes each
    .venv/bin/python -m bench.equal_time --budget 60 --size 32 --archs dcgan stylegan2
    .venv/bin/python -m bench.equal_time --threads 1 --size 32 --budget 600 --archs dcgan --train '{"epochs": 999}'

--train settings apply to every arch (epochs above the budget make the budget the stop, where a default job
would end at its recipe's epochs); --store keeps the reference classifier across invocations; --grids DIR saves
64 samples of each trained arch as a picture; --psi 0.7 0.85 scores a style-based G once more at each truncation
(what `/generate` with `psi` serves), as rows of their own after its untruncated row.
--noise zero fresh scores it once more without per-pixel noise, and with a noise map of its own per sample
(eval mode gives every sample the same fixed maps). --keep DIR saves each trained G (the module, pickled, with its
GAN config) for bench/truncation.py to read again.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image
from torch import nn

from core.spec import EvaluationSpec, JobSpec, gan_config, train_config
from core.store import ArtifactStore, LocalStore
from models.data import load_builtin
from models.metrics import EvalOptions, evaluate_images
from models.sampling import generate, grid, latents_for_seed, to_pil
from models.trainer import Callbacks, make_trainer
from worker.evaluation import evaluate, scores
from worker.references import reference_classifier

COLUMNS = ("fid_classifier", "kid_classifier", "precision_classifier", "recall_classifier", "density_classifier",
           "coverage_classifier", "confidence", "min_class_share")
CALIBRATION_STEPS = 10
# Steps run before the timed ones: first calls allocate and pick kernels. Timed from the fit's start, 10 dcgan
# steps at 32 px planned 6,627 steps for an 840 s budget, which then trained in 509 s.
WARMUP_STEPS = 2


class _Clock(Callbacks):
    """Notes the time after every step but the last (the loop asks should_stop after each step before it)."""

    def __init__(self):
        self.times: list[float] = []

    def should_stop(self) -> bool:
        self.times.append(time.perf_counter())
        return False


class _Budget(Callbacks):
    def __init__(self, seconds: float):
        self.deadline = time.perf_counter() + seconds

    def should_stop(self) -> bool:
        return time.perf_counter() > self.deadline


class _AtPsi(nn.Module):
    """A style-based G whose every sample is truncated towards the mean w by `psi`."""

    def __init__(self, generator: nn.Module, psi: float):
        super().__init__()
        self.generator, self.psi = generator, psi

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.generator(z, labels, psi=self.psi)


class _WithNoise(nn.Module):
    """A style-based G whose per-pixel noise is `zero` or `fresh` (a map of its own for every sample, seeded by
    the sample's latent) in place of eval mode's one fixed map per layer, which every sample shares."""

    def __init__(self, generator: nn.Module, noise: str):
        super().__init__()
        self.generator, self.noise = generator, noise

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        g = self.generator
        if self.noise == "zero":
            maps = [torch.zeros(1, 1, layer.resolution, layer.resolution, device=z.device) for layer in g.layers]
        else:
            rngs = [torch.Generator().manual_seed(hash(tuple(row.tolist())) % 2**63) for row in z.cpu()]
            maps = [torch.cat([torch.randn(1, 1, layer.resolution, layer.resolution, generator=rng) for rng in rngs])
                    .to(z.device) for layer in g.layers]
        return g.synthesis(g.truncate(g.mapping(z, labels)), maps)


def run(arch: str, size: int, budget: float, seed: int, model: dict, store: ArtifactStore, samples: int,
        train_settings: dict | None = None, grids: Path | None = None, psis: tuple[float, ...] = (),
        noises: tuple[str, ...] = (), keep: Path | None = None) -> list[dict]:
    dataset = load_builtin("shapes", size)

    def trainer_for(train: dict):
        spec = JobSpec(dataset="shapes", model={"arch": arch, "image_size": size, **model},
                       train={"seed": seed, **(train_settings or {}), **train})
        gan = gan_config(spec, tuple(dataset.shape), dataset.classes)
        return make_trainer(gan, train_config(spec)), gan

    probe, _ = trainer_for({"max_steps": WARMUP_STEPS + CALIBRATION_STEPS})
    clock = _Clock()
    probe.fit(dataset.data, dataset.labels if probe.needs_labels else None, clock)
    pace = (clock.times[-1] - clock.times[WARMUP_STEPS - 1]) / (len(clock.times) - WARMUP_STEPS)
    trainer, gan = trainer_for({"max_steps": max(CALIBRATION_STEPS, int(budget / pace))})
    started = time.perf_counter()
    result = trainer.fit(dataset.data, dataset.labels if trainer.needs_labels else None, _Budget(budget))
    seconds = time.perf_counter() - started
    trained = {"seed": seed, "size": size, "steps": result.steps, "planned_steps": trainer.config.max_steps,
               "stopped_by_budget": result.stopped, "train_s": round(seconds, 1),
               "images_per_s": round(result.steps * trainer.config.batch_size * trainer.config.d_steps / seconds, 1)}
    generator = trainer.serving_generator().eval()
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        torch.save({"generator": generator, "gan": gan, "trained": trained}, keep / f"{arch}-{size}px-seed{seed}.pt")
    styled = hasattr(generator, "truncate")
    readings = [(arch, generator)] + [(f"{arch} psi {psi:g}", _AtPsi(generator, psi)) for psi in psis if styled] \
        + [(f"{arch} noise {noise}", _WithNoise(generator, noise)) for noise in noises if styled]
    rows = []
    for name, sampled in readings:
        scored = evaluate(sampled, gan, dataset.classes, dataset, store,
                          EvaluationSpec(metrics=["domain", "fid", "kid", "prdc"], samples=samples, seed=0))
        shares = [row["value"] for row in scored["rows"] if row["metric"] == "class_share"]
        if grids is not None:
            save_grid(sampled, gan, grids / f"{name.replace(' ', '-')}-{size}px-seed{seed}.png")
        rows.append({"arch": name, **trained, "score_s": scored["seconds"], **scored["scores"],
                     "min_class_share": min(shares) if shares else None,
                     "class_shares": dict(zip(dataset.classes, shares, strict=True))})
    return rows


def save_grid(generator: torch.nn.Module, gan, path: Path) -> None:
    """64 samples (latents of seed 1, and the classes in turn for a conditional G), 8 to a row, at 4x."""
    labels = torch.arange(64) % gan.num_classes if gan.conditions_generator else None
    images = generate(generator, latents_for_seed(64, gan.latent_dim, 1),
                      **({"labels": labels} if labels is not None else {}))
    picture = to_pil(grid(images, nrow=8))
    path.parent.mkdir(parents=True, exist_ok=True)
    picture.resize((picture.width * 4, picture.height * 4), Image.NEAREST).save(path)


def real_row(size: int, store: ArtifactStore, samples: int) -> dict:
    dataset = load_builtin("shapes", size)
    reference = reference_classifier(dataset, store)
    held_out = reference.held_out[torch.randperm(len(reference.held_out),
                                                 generator=torch.Generator().manual_seed(1))]
    half = min(samples, len(held_out) // 2)
    fake, real = held_out[:half], held_out[half : 2 * half]
    rows = evaluate_images(dataset.images[fake], dataset.labels[fake], dataset.images[real], dataset.labels[real],
                           reference.net, EvalOptions(metrics=("domain", "fid", "kid", "prdc"), seed=0))
    shares = [row["value"] for row in rows if row["metric"] == "class_share"]
    return {"arch": f"real (held-out, {half} vs {half})", **scores(rows), "min_class_share": min(shares)}


def cell(value) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" if isinstance(value, float) and abs(value) < 10 else f"{value:.1f}" if isinstance(
        value, float) else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", nargs="+", default=["dcgan", "progan", "stylegan2"])
    parser.add_argument("--budget", type=float, default=300, help="training seconds per arch")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--model", type=json.loads, default={}, help="model settings for every arch (JSON)")
    parser.add_argument("--train", type=json.loads, default={}, help="train settings for every arch (JSON)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--store", type=Path, help="keep the reference classifier here across runs (default: a "
                                                   "temporary store, trained again each run)")
    parser.add_argument("--out", type=Path, help="append each row as JSON to this file")
    parser.add_argument("--grids", type=Path, help="save 64 samples of each trained arch here as a PNG grid")
    parser.add_argument("--psi", type=float, nargs="*", default=[], help="also score style-based archs truncated "
                                                                        "by each of these psi")
    parser.add_argument("--noise", nargs="*", default=[], choices=["zero", "fresh"],
                        help="also score style-based archs with this per-pixel noise in place of eval mode's "
                             "fixed maps")
    parser.add_argument("--keep", type=Path, help="save each trained G here (pickled, with its GAN config)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        store = LocalStore(args.store or Path(tmp))
        rows = [row for seed in args.seeds for arch in args.archs
                for row in run(arch, args.size, args.budget, seed, args.model, store, args.samples, args.train,
                               args.grids, tuple(args.psi), tuple(args.noise), args.keep)]
        rows.append(real_row(args.size, store, args.samples))
    print(f"shapes at {args.size} px, {args.budget:g} s of training per arch, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    print("| arch | steps | images/s | " + " | ".join(COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 3) + "|")
    for row in rows:
        print(f"| {row['arch']} | {row.get('steps', '–')} | {row.get('images_per_s', '–')} | "
              + " | ".join(cell(row.get(c)) for c in COLUMNS) + " |")
        if row.get("class_shares"):
            print("    class shares: " + ", ".join(f"{k} {v:.3f}" for k, v in row["class_shares"].items()))
        if args.out:
            with args.out.open("a") as f:
                f.write(json.dumps(row, default=str) + "\n")
    bases = {row["seed"]: row for row in rows if row["arch"] == "dcgan"}
    for row in rows:
        base = bases.get(row.get("seed"))
        if base is not None and row is not base:
            fid, kid = (row[m] / max(base[m], 1e-9) for m in ("fid_classifier", "kid_classifier"))
            print(f"{row['arch']} / dcgan, seed {row['seed']}: FID x{fid:.2f}, KID x{kid:.2f}")


if __name__ == "__main__":
    main()
