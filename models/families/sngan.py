"""SNGAN: spectral normalisation in D, hinge loss."""

from models.families.recipes import DIGITS
from models.family import BCE_LIKE, Family, register_family
from models.nets.conditional import Discriminator, Generator

# SNGAN: spectral norm on every D layer, hinge loss, Adam(2e-4, (0.5, 0.999)), one D step; with classes, a projection
# discriminator (Miyato & Koyama 2018). 0/8 modes on ring8 even with the points recipe: refused on 2-D points.
register_family("sngan", Family(
    "Miyato et al. 2018, arXiv:1802.05957",
    "spectral norm on every D layer; with `conditional: true`, a projection discriminator", "hinge", BCE_LIKE, 2e-4,
    2e-4, (0.5, 0.999), d_norm="spectral", conditional="optional", conditioning="projection", data_kinds=("images",),
    recipes={"images@28": DIGITS}, build_generator=Generator, build_discriminator=Discriminator))
