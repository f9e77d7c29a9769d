"""Held-out accuracy of a built-in data set's reference classifier at each image size: the number an evaluation's
classifier-feature figures rest on (the card marks them unreliable below 95 %), and its mean confidence on
held-out real images and on uniform noise (the card adds a caveat when that is more than halfway from an even
reading to certainty).

    .venv/bin/python -m bench.reference_accuracy --dataset shapes --sizes 16,32,64
    .venv/bin/python -m bench.reference_accuracy --dataset shapes --sizes 32 --outlier-weight 0   # as before
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import torch

from models.data import load_builtin
from models.metrics.classifier import config_for, noise_confidence, probabilities, train_classifier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="shapes")
    parser.add_argument("--sizes", default="16,32,64", help="comma-separated image sides")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--outlier-weight", type=float, help="train with this outlier-exposure weight instead of "
                                                             "the rule's (0: none)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for size in (int(s) for s in args.sizes.split(",")):
        data = load_builtin(args.dataset, size)
        config = config_for(data.images, len(data.classes))
        if args.outlier_weight is not None:
            config = replace(config, outlier_weight=args.outlier_weight)
        trained = train_classifier(data.images, data.labels, len(data.classes), config=config)
        real = probabilities(trained.net, data.images[trained.held_out_indices]).amax(1).mean().item()
        print(f"{args.dataset} {size} px: {config.blocks} conv blocks, outlier weight {config.outlier_weight:g}, "
              f"held-out accuracy {trained.held_out_accuracy:.4f} ({len(trained.held_out_indices)} images), "
              f"mean confidence on them {real:.3f}, on uniform noise {noise_confidence(trained.net):.3f}, "
              f"trained in {trained.seconds:.1f} s", flush=True)


if __name__ == "__main__":
    main()
