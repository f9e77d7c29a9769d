"""CycleGAN: unpaired translation both ways, with cycle consistency."""

from models.family import Family, register_family
from models.nets.translation import CycleDiscriminators, CycleGenerators

CYCLEGAN_28 = {"g_width": 16, "d_width": 16, "blocks": 3, "epochs": 2}  # measured: models/families/recipes.py

# LSGAN loss, Adam 2e-4 (0.5, 0.999), cycle lambda 10, identity 0.5 x lambda, a pool of 50 fakes.
register_family("cyclegan", Family(
    "Zhu et al. 2017, arXiv:1703.10593",
    "two ResNet-block Gs (A to B and B to A), two PatchGAN Ds, cycle and identity L1, a pool of 50 past fakes for "
    "each D", "least-squares", ("least-squares", "non-saturating"), 2e-4, 2e-4, (0.5, 0.999), d_norm="instance",
    data_kinds=("unpaired", "paired"), kind="translator", directions=("a2b", "b2a"),
    trainer="models.translators:CycleGANTrainer", model_options=("blocks",),
    weights={"recon_weight": 10.0, "identity_weight": 0.5}, recipes={"images@28": CYCLEGAN_28},
    build_generator=CycleGenerators, build_discriminator=CycleDiscriminators))
