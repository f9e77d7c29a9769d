"""Measured training recipes that several families share: settings that differ from TrainConfig's defaults for a
kind of data, keyed in a family's `recipes` by `points`, `images` or `images@<size>`."""

# 2-D mixtures: least squares, Adam 1e-3, batch 128 and a decaying learning rate over about 4,000 G steps
# (52 epochs of the 10,000 points): on ring8 (seeds 0-2), cgan and acgan 8/8 modes with 99.6-99.9 % high-quality
# samples, infogan 8/8 with 93.8-99.2 %, where the papers' defaults left 58-77 % (docs/models.md).
POINTS = {"loss": "least-squares", "lr_g": 1e-3, "lr_d": 1e-3, "batch_size": 128, "lr_decay": True, "epochs": 52}
# 28 px digits: half-width nets, batch 64, Adam 5e-4, an EMA of G (0.99), 20 epochs (1,560 G steps on the
# 5,000 MNIST digits: 83 s on 2 cores in float32, 46 s in bf16 on a CPU with AMX). On 1,000 samples read by the
# reference classifier (float32, seed 0; bench/family_scores.py, docs/models.md): cgan confidence 0.91, feature
# FID 7.3; acgan 0.92, 12.6; dcgan 0.79, 31.9 (its paper defaults: 0.72, 65.5); sngan 0.74, 42.1 (0.69, 72.3).
# wgan-gp has a recipe of its own (models/families/wgan_gp.py): this one, at n_critic 5, made it worse (FID 166 -> 207).
DIGITS = {"g_width": 32, "d_width": 32, "batch_size": 64, "lr_g": 5e-4, "lr_d": 5e-4, "ema": 0.99, "epochs": 20}
# Translators on 28 px digits (bench/translation_quality.py, docs/models.md): narrower nets and a few epochs, so a
# job with the defaults trains in about a minute on 2 CPU cores and beats its baselines on held-out digits: the
# rows of pix2pix, cyclegan and srgan hold their own.
