"""Held-out accuracy of a built-in data set's reference classifier at each image size: the number an evaluation's
classifier-feature figures rest on (the card marks them unreliable below 95 %).

    .venv/bin/python -m bench.reference_accuracy --dataset shapes --sizes 16,32,64
"""

from __future__ import annotations

import argparse

import torch

from models.data import load_builtin
from models.metrics.classifier import config_for, train_classifier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="shapes")
    parser.add_argument("--sizes", default="16,32,64", help="comma-separated image sides")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for size in (int(s) for s in args.sizes.split(",")):
        data = load_builtin(args.dataset, size)
        trained = train_classifier(data.images, data.labels, len(data.classes))
        blocks = config_for(data.images, len(data.classes)).blocks
        print(f"{args.dataset} {size} px: {blocks} conv blocks, held-out accuracy {trained.held_out_accuracy:.4f} "
              f"({len(trained.held_out_indices)} images), trained in {trained.seconds:.1f} s", flush=True)


if __name__ == "__main__":
    main()
