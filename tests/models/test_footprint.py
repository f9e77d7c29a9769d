"""A job's memory is estimated on the meta device: exact parameter counts, no allocation, every family."""

import pytest

from models.config import TrainConfig
from models.footprint import training_footprint
from models.gan import FAMILIES, GANConfig, build_discriminator, build_generator


def config_for(arch: str, shape=(1, 32, 32), **nets) -> GANConfig:
    family = FAMILIES[arch]
    classes = 10 if family.conditional == "always" else 0
    codes = {"cat_codes": 10, "cont_codes": 2} if family.takes_codes else {}
    return GANConfig(arch=arch, data_shape=shape, num_classes=classes, **codes, **nets)


@pytest.mark.parametrize("arch", [name for name, f in FAMILIES.items() if "images" in f.data_kinds
                                     and f.kind == "sampler"])
def test_the_parameter_count_is_the_real_nets(arch):
    gan = config_for(arch, g_width=16, d_width=16)
    g_params = sum(p.numel() for p in build_generator(gan).parameters())
    real = g_params + sum(p.numel() for p in build_discriminator(gan).parameters())
    footprint = training_footprint(gan, TrainConfig(batch_size=8))
    assert footprint.parameters == real
    ema = TrainConfig(batch_size=8).for_family(gan).ema  # a recipe's EMA (stylegan2's) keeps a copy of G
    # float32 weights, grads and Adam's two moments, and the EMA's copy
    assert footprint.state_bytes == 4 * (4 * real + (g_params if ema else 0))
    assert footprint.activation_bytes > 0


def test_the_estimate_grows_with_width_batch_and_ema():
    small = training_footprint(config_for("dcgan", (3, 64, 64)), TrainConfig(batch_size=16))
    # 1.4 billion parameters, sized in milliseconds without allocating their 21 GiB.
    huge = training_footprint(config_for("dcgan", (3, 64, 64), g_width=1024, d_width=1024), TrainConfig(batch_size=16))
    assert huge.parameters > 1.4e9 and huge.total_bytes > 20 * 2**30 > small.total_bytes
    assert training_footprint(config_for("dcgan"), TrainConfig(batch_size=64)).activation_bytes == \
        4 * training_footprint(config_for("dcgan"), TrainConfig(batch_size=16)).activation_bytes
    with_ema = training_footprint(config_for("dcgan"), TrainConfig(batch_size=16, ema=0.99))
    no_ema = training_footprint(config_for("dcgan"), TrainConfig(batch_size=16))
    assert with_ema.state_bytes > no_ema.state_bytes
