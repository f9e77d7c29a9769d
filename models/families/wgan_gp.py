"""WGAN-GP: a Wasserstein critic with a gradient penalty."""

from models.family import Family, register_family
from models.nets.conditional import Discriminator, Generator

# 28 px: one critic step per G step instead of the paper's 5, Adam 1e-3 for both nets (the paper's betas (0, 0.9)),
# DIGITS's half-width nets, batch 64 and an EMA of G (0.99), 10 epochs (780 G steps on the 5,000 MNIST digits): a
# critic step with its penalty costs about what a whole dcgan step does, so 10 epochs take dcgan's 20 epochs' time.
# On MNIST, seeds 0-2, it matches dcgan's default in that time: classifier-feature FD 35.8 (31.0-44.8) against 35.8
# (33.9-38.9), where the paper's settings reached 169 (recall 0.03). Trials at equal time, seed 0 (dcgan: 34.7): one
# critic step at 2e-4, FD 56; at 5e-4, 46; G 5e-4 / D 1e-3, 43; at 1e-3, 32 (bench/family_scores.py, docs/models.md).
# The paper's 5 critic steps keep the critic near its optimum, so that its gradient is the Wasserstein one; in a CPU
# job's few hundred G steps, G gains more from a step against a critic one update further on.
WGAN_GP_28 = {"d_steps": 1, "lr_g": 1e-3, "lr_d": 1e-3, "g_width": 32, "d_width": 32, "batch_size": 64, "ema": 0.99,
              "epochs": 10}

# WGAN-GP paper: lambda 10, n_critic 5, Adam(1e-4, betas (0, 0.9)), no BatchNorm in the critic: the row's settings,
# which a job gets on 32 and 64 px, and on 28 px with model.recipe "paper". It collapsed on the 2-D mixtures (0-2 %
# high quality): refused on points.
register_family("wgan-gp", Family(
    "Gulrajani et al. 2017, arXiv:1704.00028", "critic without BatchNorm (layer norm), gradient penalty λ = 10",
    "wasserstein-gp", ("wasserstein-gp",), 1e-4, 1e-4, (0.0, 0.9), d_steps=5, d_norm="layer", data_kinds=("images",),
    recipes={"images@28": WGAN_GP_28}, build_generator=Generator, build_discriminator=Discriminator))
