"""InfoGAN: latent codes that D's Q head must recover."""

from models.families.recipes import DIGITS, POINTS
from models.family import BCE_LIKE, Family, register_family
from models.nets.conditional import Discriminator, Generator

# The paper's MNIST setup (Chen et al. 2016, appendix C, and its code): 62 latents beside a 10-way categorical and two
# continuous codes; G: FC 1024, FC 7x7x128, two up-convs; D: two convs, FC 1024, shared with Q (FC 128, BatchNorm);
# Adam G 1e-3, D 2e-4; lambda 1 on both codes' terms; 5,000 G steps of batch 128 (here: batch 64 and 64 epochs of the
# 5,000 built-in digits, about 5,000 steps). A job with `model.recipe: "paper"` gets the paper's nets and optimiser
# with the general defaults for the rest, as every family does; these are the rest of the paper's, to set by hand.
PAPER_MNIST = {"latent_dim": 62, "g_width": 64, "d_width": 64, "batch_size": 64, "lr_g": 1e-3, "lr_d": 2e-4,
               "ema": 0, "epochs": 64}
# The paper's nets (an FC layer of 1024 between the latents and the convs, in G and D, shared by D's heads and Q) and
# its code's weight of 1 on both codes' terms (a unit-variance Gaussian for the continuous ones; the 0.1 of other
# reproductions left the continuous codes nearly unused at this budget, slant under 1 degree per unit): what
# `model.recipe: "paper"` adds to the row's optimiser, the general defaults giving the rest.
PAPER_NETS = {"fc_stem": 1024, "latent_dim": 62, "info_cont_weight": 1.0}
# 28 px: the paper's nets and learning rates at the shared digits recipe's widths and 20 epochs, without its EMA, and 16
# latents instead of the paper's 62 (fewer latents leave z less room to choose the digit instead of the code: mean
# 75.7 % against 66.8 % over seeds 0-6). At batch 32 (3,120 G steps), Q also reads a deformed copy of each fake and
# sorts the real digits into the values without labels (IMSAT's self-augmented training): ten distinct digits on
# seeds 0-5 and 91.9-99.7 % of samples read as their value's digit (mean 97.8 %; without the two terms 75.7 %), Q right
# on 95 % of real digits as in the paper, at a lower recall (0.56 against 0.71) and twice the CPU time
# (bench/infogan_codes.py, docs/models.md). The FC layers make a G step 2.5x the CPU time of the plain nets in float32.
INFOGAN_DIGITS = {**DIGITS, **PAPER_NETS, "latent_dim": 16, "lr_g": 1e-3, "lr_d": 2e-4, "ema": 0, "batch_size": 32,
                  "info_invariance": 1.0, "info_real": 1.0}

register_family("infogan", Family(
    "Chen et al. 2016, arXiv:1606.03657",
    "categorical + continuous codes joined to z; a Q head on D's features; λ·MI term for G and Q", "non-saturating",
    BCE_LIKE, 1e-3, 2e-4, (0.5, 0.999), takes_codes=True,
    recipes={"points": POINTS, "images@28": INFOGAN_DIGITS, "paper": PAPER_NETS},
    build_generator=Generator, build_discriminator=Discriminator))
