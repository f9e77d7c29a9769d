"""The GAN families, loaded: import from here to use them. The row type and the registry are in models/family.py,
the built-in rows in models/families/ (one file each), and a plugin's rows come in through `load_family_modules`.
A trainer comes from models.trainer.make_trainer, which imports the family's loop: the API never does."""

import models.families  # noqa: F401  (registers the built-in rows)
from models.family import (
    BCE_LIKE,
    FAMILIES,
    LOSSES,
    STANDARD_LOOP,
    Family,
    GANConfig,
    architectures,
    build_discriminator,
    build_generator,
    conditional_families,
    load_family_modules,
    register_family,
)

__all__ = ["BCE_LIKE", "FAMILIES", "LOSSES", "STANDARD_LOOP", "Family", "GANConfig", "architectures",
           "build_discriminator", "build_generator", "conditional_families", "load_family_modules",
           "register_family"]
