"""The docs' pictures of a style-based model, made through the service as a user makes them.

Trains a stylegan2 job with the family's defaults on the built-in shapes (`--size` px; `--train` adds job
settings such as a number of epochs) on a local stack (embedded Redis, a Celery worker and the API, as the
augmentation benchmark runs them), then asks the API for
- style-mix figures: rows of seeds 1-4 with the fine styles (then the coarse ones) of the column seeds 11-15;
- a psi sweep: the same six seeds at psi 1, 0.8, 0.6, 0.4, 0.2 and 0, one row each;
- projections of four training images (each row: the target, the mean w's image, the reconstruction),
and writes them as PNGs to `--out`, with the card's scores and the projections' distances in `figures.json`.

    .venv/bin/python -m bench.style_pictures --size 16 --train '{"epochs": 30}' --out docs/styles
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from ganforge_client import Client
from PIL import Image

from bench.augment_gain import service_stack

PSIS = (1.0, 0.8, 0.6, 0.4, 0.2, 0.0)


def rows_picture(rows: list[list[np.ndarray]], gap: int = 2) -> Image.Image:
    """H x W x C uint8 images laid out row by row, `gap` px of black between them."""
    h, w, c = rows[0][0].shape
    width = max(len(row) for row in rows)
    canvas = np.zeros((len(rows) * (h + gap) + gap, width * (w + gap) + gap, c), dtype=np.uint8)
    for r, row in enumerate(rows):
        for i, image in enumerate(row):
            top, left = gap + r * (h + gap), gap + i * (w + gap)
            canvas[top : top + h, left : left + w] = image
    return Image.fromarray(canvas[:, :, 0] if c == 1 else canvas)


def decoded(text: str) -> np.ndarray:
    array = np.asarray(Image.open(io.BytesIO(base64.b64decode(text))))
    return array[:, :, None] if array.ndim == 2 else array


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--train", type=json.loads, default={}, help="job train settings (JSON)")
    parser.add_argument("--model", type=json.loads, default={}, help="job model settings (JSON)")
    parser.add_argument("--steps", type=int, default=300, help="projection steps")
    parser.add_argument("--out", type=Path, default=Path("docs/styles"))
    parser.add_argument("--zoom", type=int, default=4, help="save the pictures this many times larger (nearest)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, service_stack(Path(tmp)) as gf:
        started = time.perf_counter()
        job = gf.submit_job("shapes", model={"arch": "stylegan2", "image_size": args.size, **args.model},
                            train=args.train)
        job = gf.wait(job["id"], poll_s=2.0)
        seconds = time.perf_counter() - started
        card = gf.model(job["model_id"])
        figures = {"model": card["id"], "job_seconds": round(seconds, 1), "resolved": card["training"]["resolved"],
                   "scores": card["metrics"].get("scores"), "styles": card["inputs"]["styles"]}
        write_pictures(gf, card["id"], args, figures)
    (args.out / "figures.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps({k: v for k, v in figures.items() if k != "resolved"}, indent=2))


def write_pictures(gf: Client, model_id: str, args: argparse.Namespace, figures: dict) -> None:
    rows, columns = [{"seed": s} for s in range(1, 5)], [{"seed": s} for s in range(11, 16)]
    def save(picture: Image.Image, name: str) -> None:
        picture.resize((picture.width * args.zoom, picture.height * args.zoom), Image.NEAREST).save(args.out / name)

    for group in ("fine", "coarse"):
        figure = gf.style_mix(model_id, rows, columns, from_columns=group)
        save(Image.open(io.BytesIO(figure)), f"style-mix-{group}.png")
    sweep = [list(gf.generate(model_id, n=6, seed=7, psi=psi, as_="array").images) for psi in PSIS]
    save(rows_picture(sweep), "psi-sweep.png")
    mean = gf.generate(model_id, n=1, seed=0, psi=0.0, as_="array").images[0]
    projected, distances = [], []
    for index in (0, 1, 2, 3):
        result = gf.project(model_id, dataset_index=index, steps=args.steps, poll_s=1.0)
        projected.append([decoded(result["target_png"]), mean, decoded(result["reconstruction_png"])])
        distances.append({"dataset_index": index, **result["distance"]})
    save(rows_picture(projected), "projection.png")
    figures["projections"] = distances


if __name__ == "__main__":
    main()
