"""What an augmentation report costs on a 4,000-image labelled set: the MNIST pool (400 a class; the fixed test
set of bench/augment_common.py left out), the default cgan's generator (untrained: drawing costs the same), 3 seeds,
one torch thread as a worker has. Prints the reference classifier's seconds and the report's.

    .venv/bin/python -m bench.report_cost
"""

from __future__ import annotations

import time

import torch

from bench.augment_common import CLASSES, test_and_pool
from core.spec import JobSpec, gan_config
from models.data import load_builtin
from models.gan import build_generator
from models.metrics import augmentation_gain as report
from models.metrics.classifier import evaluation_split, train_classifier
from models.sampling import generate, latents_for_seed


def main() -> None:
    torch.set_num_threads(1)
    _, pool = test_and_pool()
    mnist = load_builtin("mnist")
    images, labels = mnist.images[pool], mnist.labels[pool]
    classes = [str(c) for c in range(CLASSES)]
    gan = gan_config(JobSpec(dataset="mnist", model={"arch": "cgan"}), tuple(images.shape[1:]), classes)
    generator = build_generator(gan).eval()
    started = time.perf_counter()
    train_classifier(images, labels, CLASSES)
    print(f"{len(labels)} images; reference classifier {time.perf_counter() - started:.0f} s", flush=True)

    def synthesize(counts: list[int], seed: int) -> report.Split:
        drawn = torch.cat([torch.full((n,), c, dtype=torch.long) for c, n in enumerate(counts)])
        return report.Split(generate(generator, latents_for_seed(len(drawn), gan.latent_dim, seed), labels=drawn),
                            drawn)

    train, test = evaluation_split(labels)
    started = time.perf_counter()
    made = report.measure(report.ReportInputs(report.Split(images[train], labels[train]),
                                              report.Split(images[test], labels[test]), classes, [], 3, synthesize))
    print(f"report {time.perf_counter() - started:.0f} s: {made['recommended']['words']}")


if __name__ == "__main__":
    main()
