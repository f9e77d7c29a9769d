"""ProGAN: nets grown from 4x4 to the full size, with its own loop (models/progan.py)."""

from models.family import Family, register_family
from models.nets.progan import ProGANDiscriminator, ProGANGenerator

# ProGAN on small image sets: quarter-width nets (16 channels at the full size, 128 at 4x4 for 32 px), batch 8,
# 12 epochs. On 32 px shapes (seed 0, one thread) batch 8 took the classifier FD from 1492 to 737 and the confidence
# from 0.35 to 0.66 for 1.24x the time (6,000 steps against 1,500; docs/benchmarks.md): a short CPU job needs steps
# more than images per step. At batch 32, on the 1,797 digits at 32 px: 672 steps in 157 s on one CPU core, with
# recognisable digits (a sample's L2 distance to the nearest real digit 10.4, seeds 0-1). No EMA: at batch 32 the
# phases were a hundred steps long and an EMA of 0.99 lagged behind them (16 px: 7.3-8.4 against 5.2-6.5 without).
PROGAN = {"g_width": 16, "d_width": 16, "batch_size": 8, "epochs": 12}
# At 32 px, what a 15-minute job on 2 cores buys: the non-saturating loss (no penalty, so 1.8x the steps of WGAN-GP's)
# with half the job's images in the last, full-size stable phase, 34 epochs (36 took 919 s alone on 2 cores). At
# equal time (600 s, seeds 0-2) that pair took the classifier FD from 702 / 975 / 1063 to 613 / 892 / 722 and the
# confidence from 0.68 / 0.58 / 0.49 to 0.73 / 0.58 / 0.66; each alone did not. 36 epochs gave FD 397 / 331 / 436,
# confidence 0.73 / 0.78 / 0.80, still blobs; 34 on seed 0 ended on a worse point (FD 613, 0.66), which the paper's
# EMA of G (0.999) served at FD 500, KID 758 against 1318 (docs/benchmarks.md, "ProGAN at 32 px").
# `model.recipe: "paper"` keeps WGAN-GP and the even split.
PROGAN_32 = {**PROGAN, "loss": "non-saturating", "final_phase": 0.5, "epochs": 34, "ema": 0.999}

# WGAN-GP (lambda 10) plus a drift term, one critic step, Adam 1e-3 (0, 0.99).
register_family("progan", Family(
    "Karras et al. 2018, arXiv:1710.10196",
    "G and D grown from 4² to the full size, each new resolution faded in; pixel norm in G, equalised learning rate, "
    "minibatch std in D", "wasserstein-gp", ("wasserstein-gp", "non-saturating"), 1e-3, 1e-3, (0.0, 0.99),
    d_steps=1, d_norm="none",
    data_kinds=("images",), image_sizes=(4, 8, 16, 32, 64, 128, 256), trainer="models.progan:ProGANTrainer",
    train_options=("phase_images", "drift_weight", "final_phase"), recipes={"images": PROGAN, "images@32": PROGAN_32},
    build_generator=ProGANGenerator, build_discriminator=ProGANDiscriminator))
