"""DCGAN: strided convolutions, the unconditional baseline."""

from models.families.recipes import DIGITS
from models.family import BCE_LIKE, Family, register_family
from models.nets.conditional import Discriminator, Generator

# G's step judges D's step's fakes, as the DCGAN reference code does: a step costs 0.028 s instead of 0.036, so 26
# epochs (2,028 G steps) take the time 20 took with fresh noise. At equal time on MNIST, seeds 0-2: FD 31.1 / 29.6 /
# 32.4 against 33.9 / 31.1 / 34.9 with fresh noise; at equal steps it was worse (35.8 against 33.3 on average), so the
# steps it saves go back into training (docs/benchmarks.md, "Issue 32, second pass").
DCGAN_28 = {**DIGITS, "reuse_fakes": True, "epochs": 26}

register_family("dcgan", Family(
    "Radford et al. 2015, arXiv:1511.06434", "strided conv G and D, BatchNorm, ReLU/Tanh in G, LeakyReLU in D",
    "non-saturating", BCE_LIKE, 2e-4, 2e-4, (0.5, 0.999), data_kinds=("images",), recipes={"images@28": DCGAN_28},
    build_generator=Generator, build_discriminator=Discriminator,
    # pytorch/examples dcgan's netG (64 px, nz latents, ngf width) is our conv G's Sequential, layer for layer, under
    # `main` (models/nets/dcgan.py: the same five transposed convs, no biases, BatchNorm between).
    import_prefixes={"main.": "backbone.net."}))
