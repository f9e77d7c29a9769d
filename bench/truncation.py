"""Truncation towards the mean w or towards the nearest of K centres of w: which reads surer, at what cost?

Reads style-based generators that `bench.equal_time --keep DIR` saved, and scores each at every psi twice: with the
paper's truncation towards the one mean w, and with multi-modal truncation (Mokady et al. 2022, "Self-Distilled
StyleGAN"): w's of many random latents clustered by k-means into K centres, each sample's w moved towards its
nearest centre. On data made of a few distinct kinds (the four shapes), the mean w is one of them or none, so the
paper's truncation pulls every sample towards it, and the centres were meant to keep every kind. Measured on the
32 px default (docs/benchmarks.md), they cost less FD at the same psi but lie on the same precision-FD curve.

    .venv/bin/python -m bench.equal_time --threads 1 --size 32 --budget 3000 --archs stylegan2 --keep DIR --seeds 0
    .venv/bin/python -m bench.truncation DIR/stylegan2-32px-seed0.pt --store STORE --psi 0.5 0.7 --centres 0 16 64
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from torch import nn

from core.spec import EvaluationSpec
from core.store import LocalStore
from models.data import load_builtin
from worker.evaluation import evaluate

FIT_SAMPLES = 10_000
KMEANS_ITERATIONS = 30
COLUMNS = ("fid_classifier", "kid_classifier", "precision_classifier", "recall_classifier", "confidence",
           "min_class_share")


def kmeans(points: torch.Tensor, count: int, rng: torch.Generator) -> torch.Tensor:
    """`count` centres of `points` (N, D): k-means++ seeding from `rng`, then Lloyd's iterations (a centre left
    without points stays where it was)."""
    centres = points[torch.randint(len(points), (1,), generator=rng)]
    for _ in range(count - 1):
        nearest = torch.cdist(points, centres).min(dim=1).values.square()
        centres = torch.cat([centres, points[torch.multinomial(nearest / nearest.sum(), 1, generator=rng)]])
    for _ in range(KMEANS_ITERATIONS):
        owner = torch.cdist(points, centres).argmin(dim=1)
        sums = torch.zeros_like(centres).index_add_(0, owner, points)
        counts = torch.bincount(owner, minlength=count).unsqueeze(1)
        centres = torch.where(counts > 0, sums / counts.clamp(min=1), centres)
    return centres


@torch.no_grad()
def w_centres(generator: nn.Module, count: int, seed: int = 0) -> torch.Tensor:
    """(count, w_dim) k-means centres of the w's of FIT_SAMPLES latents drawn from `seed` (not the scored ones)."""
    rng = torch.Generator().manual_seed(seed)
    return kmeans(generator.mapping(torch.randn(FIT_SAMPLES, generator.latent_dim, generator=rng)), count, rng)


class _Truncated(nn.Module):
    """An unconditional style-based G (in eval mode) whose samples are truncated by `psi` towards the mean w, or
    towards the nearest of `centres`."""

    def __init__(self, generator: nn.Module, psi: float, centres: torch.Tensor | None):
        super().__init__()
        self.generator, self.psi, self.centres = generator, psi, centres

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        g = self.generator
        if self.centres is None:
            return g(z, labels, psi=self.psi)
        w = g.mapping(z)
        anchor = self.centres[torch.cdist(w, self.centres).argmin(dim=1)]
        return g.synthesis(g.truncate(torch.lerp(anchor, w, self.psi)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kept", type=Path, nargs="+", help="generators saved by bench.equal_time --keep")
    parser.add_argument("--psi", type=float, nargs="+", default=[0.7])
    parser.add_argument("--centres", type=int, nargs="+", default=[0, 16], help="0: the mean w (the paper's)")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--store", type=Path, required=True,
                        help="the reference classifier's store (bench.equal_time's --store)")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--out", type=Path, help="append each row as JSON to this file")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    store = LocalStore(args.store)
    for path in args.kept:
        kept = torch.load(path, weights_only=False)
        generator, gan = kept["generator"].eval(), kept["gan"]
        dataset = load_builtin("shapes", gan.data_shape[-1])
        print(f"{path.name}: {kept['trained']['steps']} steps")
        print("| truncation | psi | " + " | ".join(COLUMNS) + " | class shares |")
        print("|---" * (len(COLUMNS) + 3) + "|")
        for count in args.centres:
            centres = w_centres(generator, count) if count else None
            for psi in ([1.0] if count == 0 else []) + args.psi:
                sampled = _Truncated(generator, psi, centres)
                scored = evaluate(sampled, gan, dataset.classes, dataset, store,
                                  EvaluationSpec(metrics=["domain", "fid", "kid", "prdc"], samples=args.samples,
                                                 seed=0))
                read = [row["value"] for row in scored["rows"] if row["metric"] == "class_share"]
                shares = dict(zip(dataset.classes, read, strict=True))
                row = {"kept": path.name, "centres": count, "psi": psi, **scored["scores"],
                       "min_class_share": min(shares.values()), "class_shares": shares}
                name = f"{count} centres" if count else "mean w"
                print(f"| {name} | {psi:g} | " + " | ".join(f"{row[c]:.3f}" if abs(row[c]) < 10
                                                             else f"{row[c]:.1f}" for c in COLUMNS)
                      + " | " + " / ".join(f"{v:.2f}" for v in shares.values()) + " |", flush=True)
                if args.out:
                    with args.out.open("a") as f:
                        f.write(json.dumps(row, default=str) + "\n")


if __name__ == "__main__":
    main()
