"""The generator's inputs and the one prior its codes are drawn from, for training, sampling and augment."""

import pytest
import torch

from models.gan import GANConfig, build_generator
from models.inputs import Inputs, draw_codes, draw_inputs
from models.sampling import generate


def test_the_code_prior_is_uniform_over_categories_and_uniform_on_minus_one_to_one():
    codes = draw_codes(20_000, 10, 3, torch.Generator().manual_seed(0))
    counts = torch.bincount(codes["categorical"], minlength=10)
    assert codes["categorical"].dtype == torch.long and counts.min() > 1800 and counts.max() < 2200
    continuous = codes["continuous"]
    assert continuous.shape == (20_000, 3) and continuous.min() >= -1 and continuous.max() < 1
    assert continuous.min() < -0.99 and continuous.max() > 0.99 and continuous.mean().abs() < 0.02


def test_cycled_categories_continue_from_the_offset_and_draw_nothing():
    generator = torch.Generator().manual_seed(0)
    before = generator.get_state()
    codes = draw_codes(5, 3, 0, generator, cycle=True, offset=4)
    assert codes["categorical"].tolist() == [1, 2, 0, 1, 2]
    assert "continuous" not in codes and torch.equal(generator.get_state(), before)


def test_a_code_of_size_zero_is_left_out():
    assert draw_codes(4, 0, 0, torch.Generator()) == {}
    assert list(draw_codes(4, 0, 2, torch.Generator())) == ["continuous"]


def test_inputs_are_drawn_in_a_fixed_order_so_a_saved_rng_state_replays_them():
    # Training noise comes from one RNG saved in checkpoints: z, then labels, then the codes.
    gan = GANConfig(arch="cgan", latent_dim=6, data_shape=(2,), num_classes=4, cat_codes=3, cont_codes=2)
    inputs = draw_inputs(gan, 5, torch.Generator().manual_seed(7))
    replay = torch.Generator().manual_seed(7)
    assert torch.equal(inputs.z, torch.randn(5, 6, generator=replay))
    assert torch.equal(inputs.labels, torch.randint(4, (5,), generator=replay))
    assert torch.equal(inputs.categorical, torch.randint(3, (5,), generator=replay))
    assert torch.equal(inputs.continuous, torch.rand(5, 2, generator=replay) * 2 - 1)


def test_fixed_inputs_cycle_labels_and_categories():
    gan = GANConfig(arch="cgan", latent_dim=6, data_shape=(2,), num_classes=4, cat_codes=3)
    inputs = draw_inputs(gan, 6, torch.Generator().manual_seed(0), cycle=True)
    assert inputs.labels.tolist() == [0, 1, 2, 3, 0, 1] and inputs.categorical.tolist() == [0, 1, 2, 0, 1, 2]


def test_an_unconditional_family_gets_no_labels_even_with_classes():
    gan = GANConfig(arch="dcgan", latent_dim=6, num_classes=10)
    assert draw_inputs(gan, 3, torch.Generator()).as_kwargs() == {}


def test_inputs_keep_only_the_conditioning_that_exists_and_slice_every_part():
    inputs = Inputs.of(torch.zeros(4, 2), {"labels": torch.arange(4)})
    assert list(inputs.as_kwargs()) == ["labels"] and len(inputs) == 4
    rows = inputs[1:3]
    assert rows.z.shape == (2, 2) and rows.labels.tolist() == [1, 2] and rows.categorical is None


def test_unknown_conditioning_is_refused_with_the_names_a_generator_takes():
    with pytest.raises(ValueError, match="unknown conditioning \\['label'\\].*labels, categorical, continuous"):
        Inputs.of(torch.zeros(1, 2), {"label": torch.zeros(1)})


def test_generate_in_small_batches_gives_each_row_its_own_conditioning():
    gan = GANConfig(arch="cgan", latent_dim=4, data_shape=(2,), hidden=8, depth=1, num_classes=3)
    torch.manual_seed(0)
    generator = build_generator(gan).eval()
    inputs = draw_inputs(gan, 7, torch.Generator().manual_seed(1))
    one = generate(generator, inputs.z, **inputs.as_kwargs())
    # Equal up to float rounding: the matrix kernels may sum in another order for another batch size.
    assert torch.allclose(generate(generator, inputs.z, batch_size=3, **inputs.as_kwargs()), one, atol=1e-6)
    assert not torch.equal(generate(generator, inputs.z, labels=(inputs.labels + 1) % 3), one)
