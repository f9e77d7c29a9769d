"""Which cGAN recipe draws rare classes well enough to help? The imbalanced setting of bench/augment_imbalance.py
(digits 0-4 all ~400 of the pool, digits 5-9 k each), one GAN seed, in process (no stack): each recipe trains a
cgan for --steps G steps, then every row of the augmentation report (models/metrics/augmentation_gain.py) is
trained with --seeds classifier seeds and tested on the fixed 1,000 held-out real digits.

Recipes:
    as-drawn     train.balance_classes false: real batches as the data comes (5 classes of 10 among 2,050)
    balanced     the default on this set: real batches drawn class-balanced
    diffaugment  balanced, with DiffAugment translation and cutout on every image D sees
    ada          balanced, with the same policies under ADA (target 0.6)

    .venv/bin/python -m bench.rare_class_recipes                       # all four, k = 10, GAN seed 0
    .venv/bin/python -m bench.rare_class_recipes --recipes as-drawn balanced
    .venv/bin/python -m bench.rare_class_recipes --recipes balanced --judges   # the filter's judges, no rows
"""

from __future__ import annotations

import argparse
import time

import torch

from bench.augment_common import CLASSES, test_and_pool
from bench.augment_imbalance import RARE, imbalanced_set
from core.spec import JobSpec, gan_config, train_config
from models.metrics import augmentation_gain as report
from models.metrics.classifier import probabilities, train_classifier
from models.sampling import generate, latents_for_seed
from models.trainer import make_trainer

RECIPES = {
    "as-drawn": {"balance_classes": False},
    "balanced": {},
    "diffaugment": {"augment": ["translation", "cutout"]},
    "ada": {"augment": ["translation", "cutout"], "ada_target": 0.6},
}


def judges(data, synthesize) -> None:
    """Of 2,000 drawn rare digits (400 of each of 5-9): the share that is no near-copy, and the share each judge
    gives >= CONFIDENCE for its asked digit: the data set's reference classifier and the oversample row's."""
    train = report.Split(data.images, data.labels)
    syn = synthesize([0] * 5 + [400] * 5, 0)
    reference = train_classifier(data.images, data.labels, CLASSES)
    not_copy = report.Filter(None, train, report.Filter.for_split(None, train).near_copy).keep(syn)
    real_rare = data.labels >= RARE.start

    def passing(net, split) -> float:
        return (probabilities(net, split.images).gather(1, split.labels[:, None]).view(-1) >= report.CONFIDENCE
                ).float().mean().item()

    print(f"drawn rare digits: {100 * not_copy.float().mean():.0f} % no near-copy; confidence >= "
          f"{report.CONFIDENCE}: reference classifier ({100 * reference.held_out_accuracy:.1f} % held out) "
          f"{100 * passing(reference.net, syn):.0f} % (on the real rare digits it trained on: "
          f"{100 * passing(reference.net, train.take(real_rare.nonzero().view(-1))):.0f} %), oversample classifier "
          f"{100 * passing(report.balanced_judge(train, 0), syn):.0f} %")


def rows_for(recipe: str, args: argparse.Namespace, test, pool) -> dict | None:
    data = imbalanced_set(pool, args.k, args.seed)
    spec = JobSpec(dataset="mnist", model={"arch": "cgan"},
                   train={"epochs": 1000, "max_steps": args.steps, "seed": args.seed, **RECIPES[recipe]})
    gan = gan_config(spec, tuple(data.images.shape[1:]), [str(c) for c in range(CLASSES)])
    started = time.perf_counter()
    trainer = make_trainer(gan, train_config(spec))
    trainer.fit(data.images, data.labels)
    print(f"{recipe}: {args.steps} G steps in {time.perf_counter() - started:.0f} s", flush=True)
    generator = trainer.serving_generator().eval()

    def synthesize(counts: list[int], seed: int) -> report.Split:
        labels = torch.cat([torch.full((n,), c, dtype=torch.long) for c, n in enumerate(counts)])
        return report.Split(generate(generator, latents_for_seed(len(labels), gan.latent_dim, 1000 + seed),
                                     labels=labels), labels)

    if args.judges:
        judges(data, synthesize)
        return None
    inputs = report.ReportInputs(report.Split(data.images, data.labels), report.Split(test.images, test.labels),
                                 [str(c) for c in range(CLASSES)], list(RARE), args.seeds, synthesize)
    return report.measure(inputs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--k", type=int, default=10, help="images of each rare digit (5-9)")
    parser.add_argument("--seed", type=int, default=0, help="the GAN's seed and the data draw's")
    parser.add_argument("--seeds", type=int, default=2, help="classifier seeds per row")
    parser.add_argument("--steps", type=int, default=1500, help="G steps of each cgan")
    parser.add_argument("--judges", action="store_true", help="only how the filter's judges read the drawn rare "
                                                               "digits, no report rows")
    args = parser.parse_args()
    torch.set_num_threads(1)
    test, pool = test_and_pool()
    results = {recipe: rows_for(recipe, args, test, pool) for recipe in args.recipes}
    if args.judges:
        return
    names = [row.name for row in report.ROWS]
    print("\n| row | " + " | ".join(args.recipes) + " |")
    print("|---|" + "---|" * len(args.recipes))
    for name in names:
        cells = []
        for recipe in args.recipes:
            row = next(r for r in results[recipe]["rows"] if r["name"] == name)
            bal, rare = row["balanced_accuracy"], row["rare_recall"]
            cells.append(f"{100 * bal['mean']:.1f} ± {100 * bal['std']:.1f} ({100 * rare['mean']:.1f})")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("\nbalanced accuracy, mean ± std over the classifier seeds (recall of digits 5-9); filter passing share: "
          + ", ".join(f"{r} {results[r]['filter']['passing_share']}" for r in args.recipes))


if __name__ == "__main__":
    main()
