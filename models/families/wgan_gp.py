"""WGAN-GP: a Wasserstein critic with a gradient penalty."""

from models.family import Family, register_family
from models.nets.conditional import Discriminator, Generator

# WGAN-GP paper: lambda 10, n_critic 5, Adam(1e-4, betas (0, 0.9)), no BatchNorm in the critic. It collapsed on the
# 2-D mixtures (0-2 % high quality): refused on points.
register_family("wgan-gp", Family(
    "Gulrajani et al. 2017, arXiv:1704.00028", "critic without BatchNorm (layer norm), gradient penalty λ = 10",
    "wasserstein-gp", ("wasserstein-gp",), 1e-4, 1e-4, (0.0, 0.9), d_steps=5, d_norm="layer", data_kinds=("images",),
    build_generator=Generator, build_discriminator=Discriminator))
