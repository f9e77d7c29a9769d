"""StyleGAN2: a mapping network, modulated convolutions and its own loop (models/stylegan2.py)."""

from models.family import Family, register_family
from models.nets.stylegan2 import IMAGE_SIZES, StyleDiscriminator, StyleGenerator, style_layers

# StyleGAN2 on a CPU (MNIST's 5,000 digits at 32 px, seed 0, 1,000 samples, float32): a narrow G, a D twice as wide,
# stylegan2-ada's 2 mapping layers for small images, 6 epochs (936 steps, 180 s on one contended core; about 260 img/s
# on 2 idle cores). The EMA's half-life is 138 steps (the paper's 10k images would leave 13 % of the init in it after
# 936 steps). R1 gamma 1: ada's heuristic (0.0064 here) collapsed to one class by 8 epochs. Reference-classifier
# figures: served (EMA) confidence 0.76, 4/10 classes, feature FID 238 (raw G: 201); at D width 8 it was 266-298,
# G width 16 learnt slower per second. A dcgan at width 32 reaches FID 110 in 42 s: StyleGAN2 needs far more images
# than a CPU job shows it.
STYLEGAN2_CPU = {"g_width": 8, "d_width": 16, "mapping_layers": 2, "mbstd": 4, "batch_size": 32, "epochs": 6,
                 "ema": 0.995, "r1_gamma": 1.0}

# Config F's loss and regularisers: Adam (0, 0.99) at 0.0025, stylegan2-ada's rate below 1024 px; lazy R1, style
# mixing 0.9, path length off (models/stylegan2.py says why).
register_family("stylegan2", Family(
    "Karras et al. 2020, arXiv:1912.04958",
    "mapping network z to w; synthesis from a learned 4x4 constant through modulated and demodulated convs with "
    "noise, toRGB skips; residual D with minibatch std; equalised LR", "non-saturating", ("non-saturating",), 2.5e-3,
    2.5e-3, (0.0, 0.99), d_norm="none", conditional="optional", conditioning="projection", data_kinds=("images",),
    image_sizes=IMAGE_SIZES, trainer="models.stylegan2:StyleGAN2Trainer", model_options=("mapping_layers",),
    train_options=("r1_gamma", "r1_every", "style_mixing", "pl_weight"), recipes={"images": STYLEGAN2_CPU},
    build_generator=StyleGenerator, build_discriminator=StyleDiscriminator, style_layers=style_layers))
