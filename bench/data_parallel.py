"""One job on 1 and on N CPU processes (train.devices, gloo): the same loss curve and the same quality at the same
global batch? Prints the per-epoch curves' distance (against the distance between two seeds on one process, the
noise), the served generator's mode coverage on the 2-D mixture, and the wall time of each run.

    .venv/bin/python -m bench.data_parallel --data ring8 --epochs 30 --devices 2
"""

from __future__ import annotations

import argparse
import multiprocessing
import time

import torch

from core.spec import JobSpec, gan_config, train_config
from models.data import load_builtin
from models.distributed import join, leave
from models.toy2d import MIXTURES
from models.trainer import Callbacks, make_trainer
from service.cli.embedded_redis import free_port


class _Curve(Callbacks):
    def __init__(self):
        self.rows: list[tuple[float, float]] = []

    def on_epoch_end(self, metrics):
        self.rows.append((metrics.loss_d, metrics.loss_g))


def _rank(rank: int, world: int, port: int, args, seed: int, results) -> None:
    torch.set_num_threads(args.threads)
    spec = JobSpec(dataset=args.data, model={"arch": "mlp"},
                   train={"seed": seed, "epochs": args.epochs, "batch_size": args.batch_size, "devices": world,
                          "eval_every_epochs": 0, "keep_best": False})
    dataset = load_builtin(args.data)
    trainer = make_trainer(gan_config(spec, tuple(dataset.shape), dataset.classes), train_config(spec), "cpu")
    if world > 1:
        trainer.distribute(join(rank, world, "127.0.0.1", port, torch.device("cpu"), 600))
    curve, started = _Curve(), time.perf_counter()
    trainer.fit(dataset.points, callbacks=curve)
    seconds = time.perf_counter() - started
    if rank == 0:
        with torch.no_grad():
            generator = trainer.serving_generator().eval()
            samples = generator(torch.randn(2500, trainer.gan.latent_dim, generator=torch.Generator().manual_seed(7)))
        results.put({"curve": curve.rows, "seconds": seconds, **MIXTURES[args.data]().evaluate(samples)})
    leave()


def run(world: int, seed: int, args) -> dict:
    context = multiprocessing.get_context("spawn")
    results, port = context.Queue(), free_port()
    processes = [context.Process(target=_rank, args=(rank, world, port, args, seed, results)) for rank in range(world)]
    for process in processes:
        process.start()
    report = results.get()
    for process in processes:
        process.join()
    return report


def distance(a, b) -> float:
    """Mean absolute difference of (loss_d, loss_g) per epoch."""
    return sum(abs(x - y) for ra, rb in zip(a, b, strict=True) for x, y in zip(ra, rb, strict=True)) / len(a)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="ring8", choices=list(MIXTURES))
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--devices", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    args = parser.parse_args()
    one, other, many = run(1, 0, args), run(1, 1, args), run(args.devices, 0, args)
    noise = distance(one["curve"], other["curve"])
    print(f"{args.data}, mlp, {args.epochs} epochs at global batch {args.batch_size}, {args.threads} thread(s) "
          "per process")
    for name, report in (("1 process, seed 0", one), ("1 process, seed 1", other),
                         (f"{args.devices} processes, seed 0", many)):
        print(f"  {name:22s} modes {report['modes']}/{report['of_modes']}  held {report['modes_held']}  "
              f"high quality {100 * report['high_quality']:.1f} %  {report['seconds']:.1f} s")
    print(f"  curve distance, {args.devices} processes vs 1: {distance(many['curve'], one['curve']):.4f}; "
          f"seed 1 vs seed 0 on 1 (the noise): {noise:.4f}; ratio {distance(many['curve'], one['curve']) / noise:.2f}")
    print(f"  wall time, {args.devices} processes / 1: {many['seconds'] / one['seconds']:.2f}")


if __name__ == "__main__":
    main()
