"""StyleGAN2: a mapping network, modulated convolutions and its own loop (models/stylegan2.py)."""

from models.family import Family, register_family
from models.nets.stylegan2 import IMAGE_SIZES, StyleDiscriminator, StyleGenerator, style_layers

# StyleGAN2 on a CPU: a narrow G, a D twice as wide, stylegan2-ada's small-image config (2 mapping layers, no style
# mixing, plain D blocks), batch 8, 6 epochs, EMA 0.995, R1 gamma 1 (ada's heuristic, 0.0064 at 32 px, collapsed
# MNIST to one class). On 32 px shapes, 15 minutes on 2 cores with DiffAugment's translation and colour: classifier
# FD 136 and all four shapes (batch 32 with config F's mixing and residual D: 423, crosses 0.3 %; dcgan 125): small
# batches give the steps a short job lacks, and mixing slows a G this narrow (docs/models.md, docs/benchmarks.md).
STYLEGAN2_CPU = {"g_width": 8, "d_width": 16, "mapping_layers": 2, "mbstd": 4, "batch_size": 8, "epochs": 6,
                 "ema": 0.995, "r1_gamma": 1.0, "style_mixing": 0.0, "d_architecture": "orig"}
# At 32 px, Adam at 0.004 for both nets: in those 15 minutes FD 44 and confidence 0.875 against 129 and 0.834 at
# 0.0025 (dcgan: 118 and 0.879); 0.006 was worse than both in a 600 s screening. Measured at 32 px only. 6 epochs
# drew 71-85 % circles on shapes (FD 577-617); 30 epochs with translation and colour, 15,000 steps on shapes (about
# 14 minutes on 2 cores), give every shape 6 % or more and FD 44-93 (seeds 0-2), and MNIST FD 6.5-11.4 (6 epochs:
# 23-31). G's 32 px level at 16 channels instead of 8 (g_top_scale 2, as wide as its 16 px level) took FD 44 / 93 / 58
# to 36 / 70 / 40 and confidence 0.835-0.857 to 0.856-0.872 on seeds 0-2 at equal steps, for 4 % more time a step.
STYLEGAN2_CPU_32 = {**STYLEGAN2_CPU, "lr_g": 4e-3, "lr_d": 4e-3, "epochs": 30, "augment": ("translation", "color"),
                    "g_top_scale": 2}

# Config F's loss and regularisers: Adam (0, 0.99) at 0.0025, stylegan2-ada's rate below 1024 px; lazy R1, style
# mixing 0.9 (the CPU recipe: 0), path length off (models/stylegan2.py says why).
register_family("stylegan2", Family(
    "Karras et al. 2020, arXiv:1912.04958",
    "mapping network z to w; synthesis from a learned 4x4 constant through modulated and demodulated convs with "
    "noise, toRGB skips; residual D with minibatch std; equalised LR", "non-saturating", ("non-saturating",), 2.5e-3,
    2.5e-3, (0.0, 0.99), d_norm="none", conditional="optional", conditioning="projection", data_kinds=("images",),
    image_sizes=IMAGE_SIZES, trainer="models.stylegan2:StyleGAN2Trainer",
    model_options=("mapping_layers", "d_architecture"),
    train_options=("r1_gamma", "r1_every", "style_mixing", "pl_weight"),
    recipes={"images": STYLEGAN2_CPU, "images@32": STYLEGAN2_CPU_32},
    build_generator=StyleGenerator, build_discriminator=StyleDiscriminator, style_layers=style_layers))
