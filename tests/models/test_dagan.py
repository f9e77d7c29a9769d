"""DAGAN learns how a class varies and carries it to classes it never saw; it resumes bit for bit."""

import pytest
import torch

from core.spec import JobSpec, compatibility_errors
from models.config import TrainConfig
from models.dagan import DIVERSITY_FLOOR, _dihedral, _dihedral_draw, _too_alike, same_class_partners
from models.data import load_builtin, only_classes
from models.gan import GANConfig
from models.metrics.classifier import TrainOptions, train_classifier
from models.metrics.variations import variation_scores
from models.sampling import variation_latents, vary
from models.trainer import make_trainer

SEEN = [str(i) for i in range(7)]


def test_only_classes_keeps_the_named_classes_and_renumbers_them():
    mnist = load_builtin("mnist")
    seen = only_classes(mnist, ["7", "3"])
    assert seen.classes == ("3", "7") and set(seen.labels.tolist()) == {0, 1}
    assert len(seen.images) == int(((mnist.labels == 3) | (mnist.labels == 7)).sum())
    unseen = only_classes(mnist, ["9"], relabel=False)
    assert unseen.classes == mnist.classes and set(unseen.labels.tolist()) == {9}
    with pytest.raises(ValueError, match="no class '12'"):
        only_classes(mnist, ["12"])


def test_partners_are_other_images_of_the_same_class():
    labels = torch.tensor([0, 1, 0, 2, 1, 0, 2, 3])
    for seed in range(5):
        partners = same_class_partners(labels, torch.Generator().manual_seed(seed))
        assert torch.equal(labels[partners], labels)
        single = labels == 3  # alone in its class: its own partner
        assert bool((partners != torch.arange(8))[~single].all()) and bool((partners[single] == 7).all())


def test_the_diversity_floor_charges_only_variations_that_lie_too_close():
    first = torch.rand(4, 1, 8, 8) * 2 - 1  # variations with the first half's noises, then the second's
    assert _too_alike(torch.cat([first, first])) == pytest.approx(DIVERSITY_FLOOR), "copies pay the whole floor"
    half_way = (first + 0.5 * DIVERSITY_FLOOR).clamp(max=1)
    assert 0 < _too_alike(torch.cat([first, half_way])) < DIVERSITY_FLOOR
    assert _too_alike(torch.cat([first, first + 2 * DIVERSITY_FLOOR])) == 0, "far enough apart: nothing to pay"


def test_diversity_weight_and_dihedral_pairs_are_dagans_own_options():
    digits = [str(i) for i in range(10)]
    for option, value in (("diversity_weight", 5), ("dihedral_pairs", 0.5)):
        for arch, refused in (("dcgan", True), ("dagan", False)):
            spec = JobSpec(dataset="mnist", model={"arch": arch}, train={option: value})
            errors = compatibility_errors(spec, "images", (1, 28, 28), digits)
            assert any(f"train.{option} applies to dagan" in e for e in errors) == refused, errors


def test_dihedral_pairs_are_the_eight_symmetries_of_the_square():
    image = torch.arange(16.0).view(1, 1, 4, 4)
    turned = _dihedral(image.repeat(8, 1, 1, 1), torch.arange(8))
    assert torch.equal(turned[0], image[0]), "0 leaves the image as it is"
    assert len({tuple(t.flatten().tolist()) for t in turned}) == 8, "eight different symmetries"
    assert torch.equal(turned[2], image[0].flip(-1).flip(-2)) and torch.equal(turned[4], image[0].flip(-1))
    rng = torch.Generator().manual_seed(0)
    assert not _dihedral_draw(torch.zeros(64, 1, 4, 4), 0.0, rng).any(), "share 0: none moved"
    drawn = _dihedral_draw(torch.zeros(512, 1, 4, 4), 0.5, rng)
    assert 0.4 < (drawn > 0).float().mean() < 0.6 and set(drawn.tolist()) == set(range(8))
    wide = _dihedral_draw(torch.zeros(512, 1, 4, 6), 1.0, rng)
    assert set(wide.tolist()) == {2, 4, 6}, "a non-square image keeps its shape"
    assert _dihedral(torch.zeros(3, 1, 4, 6), wide[:3]).shape == (3, 1, 4, 6)


def test_dagan_varies_digits_it_never_saw_keeping_their_class():
    mnist = load_builtin("mnist")
    seen = only_classes(mnist, SEEN)
    unseen = only_classes(mnist, ["7", "8", "9"], relabel=False)
    gan = GANConfig(arch="dagan", data_shape=seen.shape, g_width=16, d_width=16)  # the 28 px recipe's widths
    trainer = make_trainer(gan, TrainConfig(seed=0))  # and the rest: 8 epochs, 432 steps, L1 10, floor 10, EMA,
    #                                                   turned and mirrored pairs
    result = trainer.fit(seen.images, seen.labels)
    first, last = result.history[0], result.history[-1]
    assert first["loss_g"] != last["loss_g"] and first["d_fake"] != last["d_fake"], "the losses move"
    judge = train_classifier(mnist.images, mnist.labels, 10, TrainOptions(epochs=3))
    pick = torch.linspace(0, len(unseen.images) - 1, 300).round().long()
    scores = variation_scores(trainer.serving_generator(), unseen.images[pick], unseen.labels[pick], gan.latent_dim,
                              judge.net, n=3)
    # A random digit would keep the class 1 time in 10; the recipe keeps 0.70-0.76 over seeds 0-2 (seed 0: 0.717
    # by the bench's judge, 0.681 by this test's), the recipe before its EMA and turned pairs 0.64-0.71, 0.28-0.46
    # without the L1 pull and diversity floor, and DAGAN without the matching-aware critic 0.08 (docs/models.md).
    assert scores["class_kept"] >= 0.6, scores
    # Not copies: further from the input than the input is from itself moved by one pixel, and not one
    # variation per input whatever the noise.
    assert scores["to_input_l1"] > scores["one_pixel_shift_l1"], scores
    assert scores["between_variations_l1"] > 0.5 * scores["one_pixel_shift_l1"], scores


def test_dagan_resumes_bit_for_bit():
    mnist = load_builtin("mnist")
    images, labels = mnist.images[:96], mnist.labels[:96]
    gan = GANConfig(arch="dagan", data_shape=(1, 28, 28), g_width=4, d_width=4, latent_dim=8)
    config = TrainConfig(epochs=2, batch_size=8, seed=3, d_steps=2)
    straight = make_trainer(gan, config)
    straight.fit(images, labels)
    first = make_trainer(gan, TrainConfig(**{**config.__dict__, "max_steps": 5}))
    first.fit(images, labels)
    resumed = make_trainer(gan, config)
    resumed.load_state_dict(first.state_dict())
    resumed.fit(images, labels)
    for (name, a), (_, b) in zip(straight.generator.state_dict().items(), resumed.generator.state_dict().items(),
                                 strict=True):
        assert torch.equal(a, b), name
    samples = straight.samples()
    assert samples.shape == (16, 1, 28, 28) and torch.equal(samples[::4], images[torch.tensor([0, 32, 63, 95])])


def test_the_same_seed_gives_the_same_variations_whatever_comes_with_the_image():
    gan = GANConfig(arch="dagan", data_shape=(3, 32, 32), g_width=4, d_width=4, latent_dim=8)
    net = make_trainer(gan, TrainConfig()).generator
    images = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8)
    together = vary(net, images.repeat_interleave(2, 0), variation_latents(3, 2, 8, seed=5))
    alone = vary(net, images[:1].repeat_interleave(2, 0), variation_latents(1, 2, 8, seed=5))
    assert together.shape == (6, 3, 32, 32) and torch.equal(together[:2], alone)
    assert not torch.equal(together[0], together[1]), "each variation has its own noise"


def test_a_dagan_footprint_counts_its_real_nets():
    from models.footprint import training_footprint, vary_pass
    from models.gan import build_discriminator, build_generator

    gan = GANConfig(arch="dagan", data_shape=(1, 28, 28), g_width=8, d_width=8)
    real = sum(p.numel() for net in (build_generator(gan), build_discriminator(gan)) for p in net.parameters())
    footprint = training_footprint(gan, TrainConfig(batch_size=4), vary_pass)
    assert footprint.parameters == real and footprint.activation_bytes > 0
