"""The vanilla GAN: MLPs on flattened images or on 2-D points."""

from models.families.recipes import POINTS
from models.family import BCE_LIKE, Family, register_family
from models.nets.conditional import Discriminator, Generator

# The unconditional mlp on 25 modes needs more than the points recipe: 208 epochs (16,224 G steps), a minibatch-std
# feature in D (group 4) and an EMA of G (0.99), serving the best of its per-epoch scores (a built-in mixture's
# default, core/spec.py). grid25 (seeds 0-2) went from 23-24/25 modes at 74-85 % high quality to 24-25/25 at 88-93 %
# with mbstd, and to 25/25 at 94-96 % with the EMA and epochs ranked by modes held (docs/models.md).
POINTS_MLP = {**POINTS, "epochs": 208, "mbstd": 4, "ema": 0.99}

# Goodfellow et al. 2014: k D steps per G step; the paper trains with SGD + momentum.
register_family("mlp", Family(
    "Goodfellow et al. 2014, arXiv:1406.2661", "MLP G and D (flattened images or 2-D points)", "non-saturating",
    (*BCE_LIKE, "wasserstein-gp"), 1e-3, 1e-3, (0.5, 0.999), d_norm="none", image_backbone="mlp",
    recipes={"points": POINTS_MLP}, build_generator=Generator, build_discriminator=Discriminator))
