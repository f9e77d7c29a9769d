"""DCGAN: strided convolutions, the unconditional baseline."""

from models.families.recipes import DIGITS
from models.family import BCE_LIKE, Family, register_family
from models.nets.conditional import Discriminator, Generator

register_family("dcgan", Family(
    "Radford et al. 2015, arXiv:1511.06434", "strided conv G and D, BatchNorm, ReLU/Tanh in G, LeakyReLU in D",
    "non-saturating", BCE_LIKE, 2e-4, 2e-4, (0.5, 0.999), data_kinds=("images",), recipes={"images@28": DIGITS},
    build_generator=Generator, build_discriminator=Discriminator,
    # pytorch/examples dcgan's netG (64 px, nz latents, ngf width) is our conv G's Sequential, layer for layer, under
    # `main` (models/nets/dcgan.py: the same five transposed convs, no biases, BatchNorm between).
    import_prefixes={"main.": "backbone.net."}))
