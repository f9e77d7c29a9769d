"""The conditional GAN: labels joined to the inputs of G and D."""

from models.families.recipes import DIGITS, POINTS
from models.family import BCE_LIKE, Family, register_family
from models.nets.conditional import Discriminator, Generator

register_family("cgan", Family(
    "Mirza & Osindero 2014, arXiv:1411.1784", "DCGAN (or MLP for points); one-hot labels joined to z and to D's input",
    "non-saturating", BCE_LIKE, 2e-4, 2e-4, (0.5, 0.999), conditional="always", conditioning="concat",
    recipes={"points": POINTS, "images@28": DIGITS}, build_generator=Generator, build_discriminator=Discriminator))
