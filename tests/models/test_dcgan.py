import pytest
import torch

from models.gan import GANConfig, build_discriminator, build_generator


@pytest.mark.parametrize("size", [28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_generator_and_discriminator_shapes(size, channels):
    config = GANConfig(channels=channels, image_size=size, latent_dim=20, g_width=8, d_width=8)
    images = build_generator(config)(torch.randn(5, 20))
    assert images.shape == (5, channels, size, size)
    assert images.min() >= -1 and images.max() <= 1  # Tanh output
    assert build_discriminator(config)(images).shape == (5,)


def test_unsupported_size_is_refused_with_the_supported_ones():
    with pytest.raises(ValueError, match=r"image_size must be one of \(28, 32, 64\); got 48"):
        build_generator(GANConfig(image_size=48))


def test_networks_follow_the_dcgan_guidelines():
    config = GANConfig(image_size=64, channels=3, g_width=8, d_width=8)
    layers = [type(m).__name__ for m in build_generator(config).modules()] + \
             [type(m).__name__ for m in build_discriminator(config).modules()]
    assert "Linear" not in layers and "MaxPool2d" not in layers and "AvgPool2d" not in layers
    assert {"BatchNorm2d", "ReLU", "Tanh", "LeakyReLU", "ConvTranspose2d", "Conv2d"} <= set(layers)
