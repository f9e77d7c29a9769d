"""How good are DAGAN's variations of classes it never saw? DAGAN trains as a job would (the family's defaults
plus the --model / --train settings given) on the MNIST digits of --train-classes (default 0-6); then it makes
--variations seeded variations of each digit of the other classes (7, 8, 9), and a digit classifier trained on
all ten classes (real images) reads them. Printed beside the figures that give them meaning:

- class_kept: the share of variations read as their input's digit, beside the classifier's accuracy on the
  inputs themselves (class_read_on_inputs);
- to_input_l1: how far a variation lies from its input (mean L1, 0-255), beside the input moved by one pixel
  (one_pixel_shift_l1: a copy, barely moved) and another real digit of the same class (same_class_real_l1);
- between_variations_l1: how far two variations of one input lie from each other (0: z is ignored);
- unseen_class_kept_by_class: class_kept for each unseen class alone.

    .venv/bin/python -m bench.variation_quality --seeds 0
    .venv/bin/python -m bench.variation_quality --model '{"g_width": 16}' --train '{"epochs": 4}'
    .venv/bin/python -m bench.variation_quality --pictures docs/variations

--pictures DIR writes DIR/dagan.png: unseen digits (7, 8, 9), each followed by its variations.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from core.spec import JobSpec, gan_config, train_config
from models.data import load_builtin, only_classes
from models.metrics.classifier import TrainOptions, train_classifier
from models.metrics.variations import variation_scores
from models.plots import picture
from models.sampling import png_bytes, variation_latents, vary
from models.trainer import make_trainer


def run(seed: int, model: dict, train: dict, train_classes: list[str], count: int, variations: int,
        judge: torch.nn.Module, pictures: Path | None) -> dict:
    mnist = load_builtin("mnist")
    seen = only_classes(mnist, train_classes)
    unseen = only_classes(mnist, [c for c in mnist.classes if c not in train_classes], relabel=False)
    spec = JobSpec.model_validate({"dataset": "mnist", "model": {"arch": "dagan", **model},
                                   "train": {"seed": seed, **train}})
    gan = gan_config(spec, seen.shape, seen.classes)
    trainer = make_trainer(gan, train_config(spec))
    started = time.perf_counter()
    result = trainer.fit(seen.images, seen.labels)
    seconds = time.perf_counter() - started
    net = trainer.serving_generator().eval()
    pick = torch.linspace(0, unseen.images.shape[0] - 1, min(count, unseen.images.shape[0])).round().long()
    scores = variation_scores(net, unseen.images[pick], unseen.labels[pick], gan.latent_dim, judge, variations, seed)
    by_class = {}  # class kept for each unseen class alone (its own seeded noises: near, not equal to, the total)
    for label in unseen.labels[pick].unique().tolist():
        mine = pick[unseen.labels[pick] == label]
        by_class[mnist.classes[label]] = round(variation_scores(
            net, unseen.images[mine], unseen.labels[mine], gan.latent_dim, judge, variations, seed)["class_kept"], 4)
    trained = only_classes(mnist, train_classes, relabel=False)  # the same figure on classes it trained on
    also = torch.linspace(0, trained.images.shape[0] - 1, min(count, trained.images.shape[0])).round().long()
    scores["seen_class_kept"] = variation_scores(net, trained.images[also], trained.labels[also], gan.latent_dim,
                                                 judge, variations, seed)["class_kept"]
    if pictures is not None:
        shown = unseen.images[pick[:: max(1, len(pick) // 8)][:8]]
        out = vary(net, shown.repeat_interleave(7, dim=0), variation_latents(len(shown), 7, gan.latent_dim, seed))
        rows = torch.cat([shown.unsqueeze(1), out.view(len(shown), 7, *out.shape[1:])], dim=1).flatten(0, 1)
        pictures.mkdir(parents=True, exist_ok=True)
        (pictures / "dagan.png").write_bytes(png_bytes(picture(rows, 8)))
    return {"seed": seed, "steps": result.steps, "train_seconds": round(seconds, 1), "train_images": len(seen.images),
            **{k: round(v, 4) for k, v in scores.items()}, "unseen_class_kept_by_class": by_class}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--model", type=json.loads, default={}, help="model spec fields (JSON)")
    parser.add_argument("--train", type=json.loads, default={}, help="train spec fields (JSON)")
    parser.add_argument("--train-classes", nargs="+", default=[str(i) for i in range(7)])
    parser.add_argument("--count", type=int, default=600, help="unseen digits to vary")
    parser.add_argument("--variations", type=int, default=4, help="variations of each")
    parser.add_argument("--pictures", type=Path)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (1 on a shared machine)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    mnist = load_builtin("mnist")
    judge = train_classifier(mnist.images, mnist.labels, 10, TrainOptions(epochs=4))
    print(json.dumps({"judge_held_out_accuracy": round(judge.held_out_accuracy, 4)}))
    for seed in args.seeds:
        print(json.dumps(run(seed, args.model, args.train, args.train_classes, args.count, args.variations,
                             judge.net, args.pictures)), flush=True)


if __name__ == "__main__":
    main()
