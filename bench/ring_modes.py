"""Mode coverage of the `mlp` GAN on ring8, by PacGAN's protocol: the figure docs/models.md quotes.

Trains the configuration of tests/models/test_families.py::test_mlp_gan_finds_the_modes_of_the_ring
(latent 2, 3 x 256 units, batch 128, 2,000 steps with linear decay) once per trainer seed and scores
2,500 samples: modes captured (of 8) and the fraction within 3 std of a mode.

    .venv/bin/python bench/ring_modes.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import time

from models.data import load_builtin
from models.gan import GANConfig
from models.sampling import generate, latents_for_seed
from models.toy2d import ring8
from models.trainer import TrainConfig, Trainer


def score_for_seed(seed: int, steps: int) -> dict:
    mixture = ring8()
    points = load_builtin("ring8").points  # the built-in data set a job trains on
    config = GANConfig(arch="mlp", latent_dim=2, data_shape=(2,), hidden=256, depth=3)
    trainer = Trainer(config, TrainConfig(epochs=1000, max_steps=steps, batch_size=128, lr_decay=True, seed=seed))
    started = time.perf_counter()
    trainer.fit(points)
    score = mixture.evaluate(generate(trainer.generator.eval(), latents_for_seed(2500, 2, seed=123)))
    return {**score, "seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="trainer seeds")
    parser.add_argument("--steps", type=int, default=2000)
    args = parser.parse_args()
    print("seed  modes  high-quality  seconds")
    for seed in args.seeds:
        score = score_for_seed(seed, args.steps)
        print(f"{seed:>4}  {score['modes']:>2}/{score['of_modes']}  {score['high_quality']:>11.1%}  "
              f"{score['seconds']:>7.1f}")


if __name__ == "__main__":
    main()
