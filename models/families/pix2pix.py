"""pix2pix: paired image-to-image translation with a U-Net G and a PatchGAN D."""

from models.family import Family, register_family
from models.nets.translation import Pix2PixDiscriminator, UNetGenerator

PIX2PIX_28 = {"g_width": 32, "d_width": 32, "epochs": 3}  # measured: models/families/recipes.py, translators

# Adam 2e-4 (0.5, 0.999), the cGAN loss on (input, output) pairs + 100 x L1. Its U-Net's depth follows the image size.
register_family("pix2pix", Family(
    "Isola et al. 2017, arXiv:1611.07004",
    "U-Net G (skips between mirrored levels, dropout in the decoder), PatchGAN D on (input, output) pairs",
    "non-saturating", ("non-saturating", "least-squares"), 2e-4, 2e-4, (0.5, 0.999), data_kinds=("paired",),
    kind="translator", directions=("a2b",), trainer="models.translators:Pix2PixTrainer",
    weights={"recon_weight": 100.0, "identity_weight": 0.0}, recipes={"images@28": PIX2PIX_28},
    build_generator=UNetGenerator, build_discriminator=Pix2PixDiscriminator))
