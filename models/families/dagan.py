"""DAGAN: variations of an image that keep its class, for data augmentation."""

from models.family import Family, register_family
from models.nets.variation import DaganDiscriminator, DaganGenerator

# DAGAN at 28 px: measured in docs/models.md (DAGAN); the paper's WGAN-GP kept fewer unseen digits' class. The
# L1 pull towards the input (recon_weight) keeps unseen digits' class (64-71 % against 28-46 % without, seeds
# 0-2); the diversity floor keeps the variations of one input apart (16.5-17 against 2.5 without). Serving an EMA
# of G and training on turned and mirrored pairs as well (dihedral_pairs) keep more (77-83 %) but bring the
# variations closer to their input; the floor at 20.4 apart puts them back past a one-pixel shift (70-76 % kept).
DAGAN_28 = {"g_width": 16, "d_width": 16, "epochs": 8, "batch_size": 64, "loss": "non-saturating", "d_steps": 1,
            "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999, "recon_weight": 10.0, "diversity_weight": 10.0,
            "ema": 0.99, "dihedral_pairs": 0.5}

# WGAN-GP (lambda 10, 5 critic steps), Adam 1e-4 (0, 0.9), z of 100, as the authors' code trains it; the 28 px recipe
# replaces them with what measured better there.
register_family("dagan", Family(
    "Antoniou et al. 2017, arXiv:1711.04340",
    "U-Net G with z as a spatial map at the bottleneck and every decoder level; a critic on (image, partner) pairs: "
    "right partners are other images of the class, wrong ones G's variations and (matching-aware) images of other "
    "classes", "wasserstein-gp", ("wasserstein-gp", "non-saturating", "least-squares", "hinge"), 1e-4, 1e-4, (0.0, 0.9),
    d_steps=5, d_norm="layer", data_kinds=("images",), kind="augmenter", trainer="models.dagan:DAGANTrainer",
    train_options=("partner_warp", "diversity_weight", "dihedral_pairs"), recipes={"images@28": DAGAN_28},
    build_generator=DaganGenerator, build_discriminator=DaganDiscriminator))
