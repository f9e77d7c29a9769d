"""SRGAN: super-resolution, G upscales its input 2x or 4x."""

from models.family import Family, register_family
from models.nets.translation import SRDiscriminator, SRResNet

SRGAN_28 = {"g_width": 32, "d_width": 16, "blocks": 4, "epochs": 2}  # measured: models/families/recipes.py

# Adam 1e-4 (0.9, 0.999); G's loss = content + 1e-3 x adversarial, written here as adversarial + 1000 x content. The
# content term is pixel MSE (the paper's VGG54 needs ImageNet weights; see docs).
register_family("srgan", Family(
    "Ledig et al. 2017, arXiv:1609.04802",
    "SRResNet G (residual blocks, sub-pixel convolution per 2x), VGG-style conv D", "non-saturating",
    ("non-saturating", "least-squares"), 1e-4, 1e-4, (0.9, 0.999), data_kinds=("paired", "images"), kind="translator",
    directions=("a2b",), trainer="models.translators:SRGANTrainer", model_options=("blocks", "scale"), upscales=True,
    weights={"recon_weight": 1000.0, "identity_weight": 0.0}, recipes={"images@28": SRGAN_28},
    build_generator=SRResNet, build_discriminator=SRDiscriminator))
