"""InfoGAN: latent codes that D's Q head must recover."""

from models.families.recipes import DIGITS, POINTS
from models.family import BCE_LIKE, Family, register_family
from models.nets.conditional import Discriminator, Generator

# InfoGAN's MNIST setup: D 2e-4, G 1e-3, 10-way categorical + 2 continuous codes, lambda 1.
register_family("infogan", Family(
    "Chen et al. 2016, arXiv:1606.03657",
    "categorical + continuous codes joined to z; a Q head on D's features; λ·MI term for G and Q", "non-saturating",
    BCE_LIKE, 1e-3, 2e-4, (0.5, 0.999), takes_codes=True, recipes={"points": POINTS, "images@28": DIGITS},
    build_generator=Generator, build_discriminator=Discriminator))
