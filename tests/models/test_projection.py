"""Projection into a style-based generator finds the ws of an image the generator can make."""

import pytest
import torch

from models.gan import GANConfig, build_generator
from models.projection import project
from models.sampling import to_uint8


@pytest.fixture(scope="module")
def generator():
    torch.manual_seed(0)
    config = GANConfig(arch="stylegan2", latent_dim=16, data_shape=(3, 16, 16), g_width=8, mapping_layers=2)
    net = build_generator(config)
    net.train()
    with torch.no_grad():  # a mean w from the mapping, as training leaves one
        for _ in range(50):
            net.mapping(torch.randn(64, 16))
    return net.eval()


def target_of(generator, seed: int) -> torch.Tensor:
    with torch.no_grad():
        return to_uint8(generator(torch.randn(1, 16, generator=torch.Generator().manual_seed(seed))))[0]


@pytest.mark.parametrize("space", ["w", "w+"])
def test_projection_moves_from_the_mean_w_towards_the_target(generator, space):
    target = target_of(generator, 3)
    found = project(generator, target, steps=60, space=space, seed=0)
    assert found.ws.shape == (generator.num_ws, 16)
    assert found.pixel_mse < 0.5 * found.start_pixel_mse, (found.pixel_mse, found.start_pixel_mse)
    assert found.distance < found.start_distance and found.history[-1] < found.history[0]
    with torch.no_grad():  # the returned ws remake the returned image
        assert torch.equal(to_uint8(generator.synthesis(found.ws.unsqueeze(0)))[0], found.image)
    if space == "w":
        assert torch.equal(found.ws, found.ws[:1].expand_as(found.ws))


def test_projection_is_reproducible_and_takes_a_feature_term(generator):
    target = target_of(generator, 5)
    first = project(generator, target, steps=20, seed=1)
    assert torch.equal(first.ws, project(generator, target, steps=20, seed=1).ws)
    pooled = project(generator, target, steps=20, seed=1, features=lambda x: x.mean(dim=(2, 3)))
    assert not torch.equal(first.ws, pooled.ws)  # the feature term changes the search
    with pytest.raises(ValueError, match="space must be"):
        project(generator, target, steps=10, space="z")
