import pytest
import torch

from models.gan import FAMILIES, GANConfig, build_discriminator, build_generator


def config_for(arch: str, shape: tuple[int, ...], **extra) -> GANConfig:
    """Tiny nets of the family, with 10 classes if it can condition on them and codes if it takes them."""
    family = FAMILIES[arch]
    kwargs = {"num_classes": 10 if family.conditional != "never" else 0}
    if family.takes_codes:
        kwargs = {"cat_codes": 10, "cont_codes": 2}
    return GANConfig(arch=arch, latent_dim=20, data_shape=shape, g_width=8, d_width=8, hidden=32,
                     **{**kwargs, **extra})


def inputs_for(config: GANConfig, n: int) -> dict:
    kwargs = {}
    if config.conditions_generator:
        kwargs["labels"] = torch.arange(n) % config.num_classes
    if config.cat_codes:
        kwargs["categorical"] = torch.arange(n) % config.cat_codes
        kwargs["continuous"] = torch.zeros(n, config.cont_codes)
    return kwargs


@pytest.mark.parametrize("size", [28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_shapes_for_every_supported_size(size, channels):
    config = config_for("dcgan", (channels, size, size))
    images = build_generator(config)(torch.randn(5, 20))
    assert images.shape == (5, channels, size, size)
    assert images.min() >= -1 and images.max() <= 1  # Tanh output
    assert build_discriminator(config)(images).logit.shape == (5,)


@pytest.mark.parametrize("arch", [name for name, family in FAMILIES.items() if family.kind == "sampler"])
@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 28, 28), (2,)])
def test_every_family_maps_its_inputs_to_data_and_scores(arch, shape):
    config = config_for(arch, shape)
    family = FAMILIES[arch]
    if config.data_kind not in family.data_kinds or (config.is_image and shape[-1] not in family.image_sizes):
        pytest.skip(f"{arch} does not take {shape}")
    kwargs = inputs_for(config, 6)
    fake = build_generator(config)(torch.randn(6, 20), **kwargs)
    assert fake.shape == (6, *shape)
    out = build_discriminator(config)(fake, kwargs.get("labels"))
    assert out.logit.shape == (6,)
    if config.conditioning == "auxiliary":
        assert out.class_logits.shape == (6, 10)
    if config.cat_codes:
        assert out.q_categorical.shape == (6, 10) and out.q_continuous.shape == (6, 2)


def test_unsupported_size_is_refused_with_the_supported_ones():
    with pytest.raises(ValueError, match=r"image_size must be one of \(28, 32, 64\); got 48"):
        build_generator(GANConfig(data_shape=(1, 48, 48)))


def test_dcgan_follows_the_papers_guidelines():
    config = config_for("dcgan", (3, 64, 64))
    g_layers = {type(m).__name__ for m in build_generator(config).backbone.modules()}
    d_layers = {type(m).__name__ for m in build_discriminator(config).body.modules()}
    assert not {"Linear", "MaxPool2d", "AvgPool2d"} & (g_layers | d_layers)  # no pooling, no FC hidden layers
    assert {"BatchNorm2d", "ReLU", "Tanh", "ConvTranspose2d"} <= g_layers
    assert {"BatchNorm2d", "LeakyReLU", "Conv2d"} <= d_layers


def test_wgan_gp_critic_has_no_batchnorm_and_sngan_is_spectrally_normalised():
    critic = build_discriminator(config_for("wgan-gp", (1, 28, 28)))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in critic.modules())
    sngan = build_discriminator(config_for("sngan", (1, 28, 28)))
    convs = [m for m in sngan.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear, torch.nn.Embedding))]
    assert convs and all(hasattr(m, "parametrizations") for m in convs if m is not sngan.classifier)


def test_conditional_generator_output_depends_on_the_label():
    config = config_for("cgan", (1, 28, 28))
    generator = build_generator(config).eval()
    z = torch.randn(1, 20).repeat(2, 1)
    images = generator(z, labels=torch.tensor([0, 1]))
    assert not torch.equal(images[0], images[1])


def test_config_round_trips_through_json_types():
    config = config_for("infogan", (1, 28, 28))
    as_json = {k: list(v) if isinstance(v, tuple) else v for k, v in config.to_dict().items()}
    assert GANConfig.from_dict(as_json) == config


def test_unknown_arch_is_refused():
    with pytest.raises(ValueError, match="unknown arch 'stylegan'"):
        GANConfig(arch="stylegan")
