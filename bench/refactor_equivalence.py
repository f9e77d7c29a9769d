"""Proof that a refactor changed no behaviour: trains a sampler (cgan), a translator (pix2pix) and the augmenter
(dagan) as worker jobs on a real Redis, then asks the HTTP app for pixels with fixed seeds, and prints one JSON
object: each job's training history, the sha256 of its served generator's weights and of the bytes served.

    python -m bench.refactor_equivalence > before.json   # on the old commit
    python -m bench.refactor_equivalence > after.json    # on the new one
    python -m bench.refactor_equivalence --compare before.json after.json

Run both on one machine with one thread (the script sets it): float sums are only bit-exact on the same kernels.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import tempfile
from pathlib import Path

import torch

JOBS = {
    "sampler": {"dataset": "digits", "model": {"arch": "cgan", "latent_dim": 8, "g_width": 8, "d_width": 8},
                "train": {"epochs": 1, "max_steps": 8, "batch_size": 16, "seed": 1}},
    "translator": {"dataset": "edges-digits", "model": {"arch": "pix2pix", "g_width": 8, "d_width": 8},
                   "train": {"epochs": 1, "max_steps": 6, "batch_size": 16, "seed": 2}},
    "augmenter": {"dataset": "mnist", "classes": [str(i) for i in range(7)],
                  "model": {"arch": "dagan", "latent_dim": 8, "g_width": 4, "d_width": 4},
                  "train": {"epochs": 1, "max_steps": 4, "batch_size": 16, "d_steps": 1, "seed": 3}},
}


def _weights_sha(store, model_id: str) -> str:
    from core.artifacts import load_published_generator

    generator, _ = load_published_generator(store, model_id, torch.device("cpu"))
    digest = hashlib.sha256()
    for name, tensor in sorted(generator.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _digit_png(index: int) -> bytes:
    from PIL import Image

    from models.data import load_builtin

    image = load_builtin("mnist").images[index][0].numpy()
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def _served(client, kind: str, model_id: str) -> bytes:
    url = f"/v1/models/{model_id}"
    if kind == "sampler":
        response = client.post(f"{url}/generate", json={"n": 6, "seed": 5, "labels": ["3"] * 6, "format": "grid"})
    elif kind == "translator":
        response = client.post(f"{url}/translate", files={"file": ("x.png", _digit_png(0), "image/png")},
                               data={"format": "png"})
    else:
        response = client.post(f"{url}/variations", files={"file": ("x.png", _digit_png(1), "image/png")},
                               data={"n": "4", "seed": "7", "format": "grid"})
    assert response.status_code == 200, response.text
    return response.content


def measure() -> dict:
    from fastapi.testclient import TestClient
    from redis import Redis

    from core.registry import Registry
    from core.settings import Settings
    from core.spec import JobSpec
    from core.store import LocalStore
    from core.store.keys import metrics_key
    from service.api.app import create_app
    from service.cli.embedded_redis import start_redis
    from worker.jobs import run_job

    torch.set_num_threads(1)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        process, url = start_redis(Path(tmp) / "redis")
        try:
            settings = Settings(redis_url=url, data_dir=Path(tmp) / "data", progress_interval_s=0)
            registry, store = Registry(Redis.from_url(url)), LocalStore(settings.data_dir)
            models = {}
            for kind, spec in JOBS.items():
                job, _ = registry.create_job(JobSpec.model_validate(spec).model_dump())
                assert run_job(job["id"], registry, store, settings) == "succeeded", registry.get_job(job["id"])
                job = registry.get_job(job["id"])
                models[kind] = job["model_id"]
                history = [json.loads(line) for line in store.read_lines(metrics_key(job["id"]))]
                for row in history:  # wall-clock figures differ on every run
                    for key in ("images_per_s", "seconds", "eta_s", "elapsed_s"):
                        row.pop(key, None)
                out[kind] = {"history": history, "weights_sha256": _weights_sha(store, job["model_id"]),
                             "scores": registry.get_model(job["model_id"]).metrics.get("scores")}
            with TestClient(create_app(settings)) as client:
                for kind, model_id in models.items():
                    out[kind]["served_sha256"] = hashlib.sha256(_served(client, kind, model_id)).hexdigest()
        finally:
            process.terminate()
            process.wait(10)
    return out


def compare(before: dict, after: dict) -> int:
    differ = [f"{kind}.{key}" for kind in before for key in before[kind] if before[kind][key] != after[kind].get(key)]
    print("identical" if not differ else "differ: " + ", ".join(differ))
    return 1 if differ else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"))
    args = parser.parse_args()
    if args.compare:
        return compare(*(json.loads(Path(p).read_text()) for p in args.compare))
    json.dump(measure(), sys.stdout, indent=1)
    print(flush=True)
    # The API's data-set warming thread may still be in torch: leave without joining it (a plain exit aborts).
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
