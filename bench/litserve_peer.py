"""The same generator served by LitServe, a peer framework, for bench/serve_throughput.py --litserve.

LitServe is not a GANForge dependency: install it into the virtualenv for this bench only
(`.venv/bin/pip install litserve==0.2.19`; the `bench` extra in pyproject.toml names it).

The server (run as `python -m bench.litserve_peer`) is what a LitServe user would write for this model: a batched
LitAPI whose `predict` runs one forward for the batch's seeds and whose `encode_response` sends one PNG, the same
seeded latents (models.sampling.latents_for_seed) and the same PNG encoder as GANForge's route and the raw loop.
LitServe runs the model in a worker process of its own, beside its API process: the bench counts the CPU of both.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import litserve
import torch
from fastapi import Response

from core.artifacts import load_published_generator
from core.store import LocalStore
from models.sampling import generate, latents_for_seed, png_bytes
from service.cli.processes import stop

PATH = "/predict"


class GeneratorAPI(litserve.LitAPI):
    def __init__(self, data_dir: Path, model_id: str, latent_dim: int, **options):
        super().__init__(**options)
        self.data_dir, self.model_id, self.latent_dim = data_dir, model_id, latent_dim

    def setup(self, device: str) -> None:
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads())))
        self.generator, _ = load_published_generator(LocalStore(self.data_dir), self.model_id, device)

    def decode_request(self, request: dict) -> int:
        return int(request["seed"])

    def predict(self, seeds: list[int]) -> torch.Tensor:
        latents = torch.cat([latents_for_seed(1, self.latent_dim, seed) for seed in seeds])
        return generate(self.generator, latents)

    def encode_response(self, image: torch.Tensor) -> Response:
        return Response(png_bytes(image), media_type="image/png")


def serve(data_dir: Path, model_id: str, latent_dim: int, port: int, max_batch_size: int, batch_timeout: float) -> None:
    api = GeneratorAPI(data_dir, model_id, latent_dim, max_batch_size=max_batch_size, batch_timeout=batch_timeout,
                       api_path=PATH)
    server = litserve.LitServer(api, accelerator="cpu", devices=1, workers_per_device=1)
    server.run(host="127.0.0.1", port=port, generate_client_file=False, log_level="warning")


@contextmanager
def litserve_server(data_dir: Path, model_id: str, latent_dim: int, threads: int, max_batch_size: int,
                    batch_timeout: float, log: Path):
    """`python -m bench.litserve_peer` in its own process group on a free port; yields (url, pid)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "bench.litserve_peer", "--data-dir", str(data_dir), "--model-id", model_id,
               "--latent-dim", str(latent_dim), "--port", str(port), "--max-batch-size", str(max_batch_size),
               "--batch-timeout", str(batch_timeout)]
    with log.open("wb") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, log)
        yield url, process.pid
    finally:
        stop(process)


def _wait_ready(url: str, process: subprocess.Popen, log: Path, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"LitServe exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"LitServe did not answer /health within {timeout_s:g} s:\n{log.read_text()[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--model-id", required=True)
    parser.add_argument("--latent-dim", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--batch-timeout", type=float, default=0.005)
    args = parser.parse_args()
    serve(args.data_dir, args.model_id, args.latent_dim, args.port, args.max_batch_size, args.batch_timeout)


if __name__ == "__main__":
    main()
