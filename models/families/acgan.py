"""AC-GAN: D classifies as well as it judges."""

from models.families.recipes import DIGITS, POINTS
from models.family import BCE_LIKE, Family, register_family
from models.nets.conditional import Discriminator, Generator

register_family("acgan", Family(
    "Odena et al. 2017, arXiv:1610.09585",
    "labels to G; D has an auxiliary classifier head, both nets add its cross-entropy", "non-saturating", BCE_LIKE,
    2e-4, 2e-4, (0.5, 0.999), conditional="always", conditioning="auxiliary",
    recipes={"points": POINTS, "images@28": DIGITS}, build_generator=Generator, build_discriminator=Discriminator))
