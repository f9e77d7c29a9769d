"""How good are the image-to-image families on the built-ins? Each trains as a job would (the family's
defaults plus the --model / --train settings given) on 90 % of its data set, and is scored on the other
10 % (every 10th example, so every digit is on both sides), each figure beside the baseline it must beat:

- pix2pix on edges-digits: L1 to the true digit (0-255) vs the input itself and vs the mean digit;
- srgan on digits-14to28: PSNR on held-out digits vs bicubic upscaling;
- cyclegan on digits-stripes: the share of translations a domain classifier reads as the target domain,
  the share a digit classifier reads as the input's digit (both trained on real images of both domains),
  and the round trip's L1 vs moving the input by one pixel.

    .venv/bin/python -m bench.translation_quality --archs pix2pix srgan cyclegan --seeds 0
    .venv/bin/python -m bench.translation_quality --archs cyclegan --model '{"g_width": 16}' --train '{"epochs": 2}'
    .venv/bin/python -m bench.translation_quality --archs pix2pix cyclegan --pictures docs/translators

--pictures DIR writes DIR/<arch>.png: held-out inputs (every 50th), each followed by its output; for cyclegan the
a2b pairs, then the b2a ones (the pictures in docs/translation.md).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from core.spec import JobSpec, gan_config, train_config
from models.data import load_builtin
from models.metrics.translation import (
    bicubic,
    held_out,
    mean_l1,
    psnr,
    subset,
    train_judges,
    translate,
    unpaired_scores,
)
from models.plots import picture
from models.sampling import as_shown, png_bytes
from models.trainer import make_trainer

DATASETS = {"pix2pix": "edges-digits", "srgan": "digits-14to28", "cyclegan": "digits-stripes"}


def save_pictures(net, arch: str, shown: list[tuple[str, torch.Tensor]], folder: Path) -> None:
    rows = []
    for direction, images in shown:
        out = translate(net, images, direction)
        rows.append(torch.stack([as_shown(images.float(), out.shape).round().to(torch.uint8), out], 1).flatten(0, 1))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{arch}.png").write_bytes(png_bytes(picture(torch.cat(rows), 8)))


def run(arch: str, seed: int, model: dict, train: dict, pictures: Path | None = None) -> dict:
    data = load_builtin(DATASETS[arch])
    spec = JobSpec(dataset=data.name, model={"arch": arch, **model}, train={"seed": seed, **train})
    train_a, test_a = held_out(data.a.shape[0])
    train_b, test_b = held_out(data.b.shape[0])
    training = subset(data, train_a, train_b if not data.paired else None)
    gan = gan_config(spec, data.shape, data.classes, data.source_shape)
    trainer = make_trainer(gan, train_config(spec))
    started = time.perf_counter()
    result = trainer.fit(training)
    seconds = time.perf_counter() - started
    net = trainer.serving_generator()
    if pictures is not None:
        shown = [("a2b", data.a[test_a][::50])] + ([("b2a", data.b[test_b][::50])] if "b2a" in gan.family.directions
                                                   else [])
        save_pictures(net, arch, shown, pictures)
    row = {"arch": arch, "seed": seed, "steps": result.steps, "train_s": round(seconds, 1)}
    if not data.paired:  # two-way and unpaired (cyclegan): no target to compare with, judges read the outputs
        judges = train_judges(subset(data, train_a, train_b), seed)
        row |= {"judge_domain_acc": judges.domain_accuracy, "judge_label_acc": judges.label_accuracy}
        for direction, images, labels in (("a2b", data.a[test_a], data.labels_a[test_a]),
                                          ("b2a", data.b[test_b], data.labels_b[test_b])):
            row |= {f"{k}_{direction}": v for k, v in unpaired_scores(net, judges, images, labels, direction).items()}
        return row
    sources, targets = data.a[test_a], data.b[test_a]
    out = translate(net, sources)
    if gan.family.upscales:
        return row | {"psnr": psnr(out, targets), "psnr_bicubic": psnr(bicubic(sources, targets.shape[-1]), targets),
                      "l1": mean_l1(out, targets)}
    mean_digit = data.b[train_a].float().mean(0, keepdim=True).expand_as(targets)
    return row | {"l1": mean_l1(out, targets), "l1_input": mean_l1(sources, targets),
                  "l1_mean_digit": mean_l1(mean_digit, targets), "psnr": psnr(out, targets)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archs", nargs="+", default=list(DATASETS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--model", type=json.loads, default={})
    parser.add_argument("--train", type=json.loads, default={})
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pictures", type=Path, help="write <arch>.png of held-out inputs and outputs here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for arch in args.archs:
        for seed in args.seeds:
            row = run(arch, seed, args.model, args.train, args.pictures)
            print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}), flush=True)


if __name__ == "__main__":
    main()
