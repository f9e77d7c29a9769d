"""What the augmentation benchmarks share: the fixed MNIST test set and training pool, the upload format, and a
real local GANForge stack (an embedded Redis, a Celery worker and the API as child processes) to speak to."""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from ganforge_client import Client

from models.data import load_builtin
from service.cli.embedded_redis import start_redis
from service.cli.processes import env_for, start_api, start_worker, stop

CLASSES = 10
TEST_PER_CLASS = 100
TEST_SEED = 20_251_123  # the held-out test set is the same for every run seed and k
# The tests' fault-injection knobs (short leases, fast reapers) that env_for sets: the bench runs the defaults.
TEST_KNOBS = ("GANFORGE_PROGRESS_INTERVAL_S", "GANFORGE_LEASE_TTL_S", "GANFORGE_REAPER_INTERVAL_S",
              "GANFORGE_WORKER_HEARTBEAT_TTL_S", "GANFORGE_CANCEL_CHECK_INTERVAL_S")

# -- the data -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Split:
    images: torch.Tensor  # uint8 N x 1 x 28 x 28
    labels: torch.Tensor  # int64 N, the digit


def per_class_permutations(labels: torch.Tensor, seed: int) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [members[torch.randperm(len(members), generator=generator)]
            for members in ((labels == c).nonzero().view(-1) for c in range(CLASSES))]


def test_and_pool() -> tuple[Split, torch.Tensor]:
    """The fixed held-out test set (100 per class) and the indices left to draw training sets from."""
    mnist = load_builtin("mnist")
    shuffled = per_class_permutations(mnist.labels, TEST_SEED)
    test = torch.cat([p[:TEST_PER_CLASS] for p in shuffled])
    pool = torch.cat([p[TEST_PER_CLASS:] for p in shuffled])
    return Split(mnist.images[test], mnist.labels[test]), pool


def write_npz(split: Split, path: Path) -> Path:
    """The upload format: uint8 images N x H x W and integer labels (the service names classes "0".."9")."""
    np.savez(path, images=split.images[:, 0].numpy(), labels=split.labels.numpy())
    return path


# -- the service ----------------------------------------------------------------------------------

@contextmanager
def service_stack(root: Path):
    """Redis, one Celery worker and the API, as `ganforge` runs them; yields a Client."""
    with ExitStack() as stack:
        redis, redis_url = start_redis(root / "redis")
        stack.callback(stop, redis)
        env = env_for(redis_url, root / "data", GANFORGE_RATE_LIMIT_JOBS_PER_MIN="0",
                      GANFORGE_RATE_LIMIT_GENERATE_PER_MIN="0", GANFORGE_MAX_UNFINISHED_JOBS_PER_KEY="0",
                      GANFORGE_LOG_FORMAT="text")
        for knob in TEST_KNOBS:
            env.pop(knob)
        stack.callback(stop, start_worker(env, "bench@%h", root / "worker.log"))
        api, url = start_api(env, root / "api.log")
        stack.callback(stop, api)
        yield stack.enter_context(Client(url, timeout=600))


def every_run(args: argparse.Namespace, one_run: Callable, prefix: str, as_json: Callable[[object], dict]) -> list:
    """one_run(gf, args, test, pool, k, seed, work) for every k and seed on one local stack; each run is also
    written to args.out (a JSON line, as_json's) as it ends, so a long benchmark keeps what it measured."""
    test, pool = test_and_pool()
    runs = []
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp, service_stack(Path(tmp)) as gf:
        for k in args.k:
            for seed in args.seeds:
                runs.append(one_run(gf, args, test, pool, k, seed, Path(tmp)))
                if args.out:
                    with args.out.open("a") as out:
                        out.write(json.dumps(as_json(runs[-1])) + "\n")
    return runs
