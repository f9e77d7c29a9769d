"""The image-to-image families learn their built-ins (scored on held-out examples against trivial baselines),
and resume bit for bit, CycleGAN's pools of fakes included."""

import pytest
import torch

from models.config import TrainConfig
from models.data import load_builtin
from models.gan import GANConfig
from models.metrics.translation import (
    bicubic,
    held_out,
    mean_l1,
    psnr,
    subset,
    train_judges,
    translate,
    unpaired_scores,
)
from models.nets.translation import UNetGenerator, halvings
from models.trainer import make_trainer


def trained(arch: str, dataset: str, epochs: int, **nets):
    data = load_builtin(dataset)
    train_a, test_a = held_out(data.a.shape[0])
    train_b, test_b = held_out(data.b.shape[0])
    gan = GANConfig(arch=arch, data_shape=data.shape, source_shape=data.source_shape, **nets)
    trainer = make_trainer(gan, TrainConfig(epochs=epochs, batch_size=16, seed=0))
    result = trainer.fit(subset(data, train_a, None if data.paired else train_b))
    return trainer, result, data, (train_a, test_a, train_b, test_b)


def test_pix2pix_fills_in_outlines_far_closer_than_the_baselines():
    trainer, result, data, (train_a, test_a, _, _) = trained("pix2pix", "edges-digits", 1, g_width=16, d_width=16)
    first, last = result.history[0], result.history[-1]
    assert last["aux_loss"] < 0.7 * first["aux_loss"], "the L1 to the targets falls"
    sources, targets = data.a[test_a], data.b[test_a]
    out = translate(trainer.serving_generator(), sources)
    mean_digit = data.b[train_a].float().mean(0, keepdim=True).expand_as(targets)
    best_baseline = min(mean_l1(sources, targets), mean_l1(mean_digit, targets))
    assert mean_l1(out, targets) < 0.7 * best_baseline, (mean_l1(out, targets), best_baseline)


def test_srgan_beats_bicubic_upscaling_on_held_out_digits():
    trainer, _, data, (_, test_a, _, _) = trained("srgan", "digits-14to28", 1, g_width=16, d_width=8, blocks=2)
    low, high = data.a[test_a], data.b[test_a]
    out = translate(trainer.serving_generator(), low)
    assert out.shape == high.shape
    assert psnr(out, high) > psnr(bicubic(low, 28), high) + 1.0


def test_cyclegan_stripes_digits_and_back_keeping_the_digit():
    trainer, _, data, (train_a, test_a, train_b, test_b) = trained("cyclegan", "digits-stripes", 2, g_width=16,
                                                                     d_width=16, blocks=3)
    judges = train_judges(subset(data, train_a, train_b))
    assert judges.domain_accuracy > 0.98 and judges.label_accuracy > 0.9
    net = trainer.serving_generator()
    for direction, images, labels in (("a2b", data.a[test_a], data.labels_a[test_a]),
                                      ("b2a", data.b[test_b], data.labels_b[test_b])):
        scores = unpaired_scores(net, judges, images, labels, direction)
        assert scores["target_domain"] >= 0.9, (direction, scores)
        assert scores["label_kept"] >= 0.9, (direction, scores)
        # The round trip lands closer to the input than the input is to itself moved by one pixel.
        assert scores["cycle_l1"] < scores["one_pixel_shift_l1"], (direction, scores)


@pytest.mark.parametrize("arch,dataset", [("cyclegan", "digits-stripes"), ("pix2pix", "edges-digits"),
                                          ("srgan", "digits-14to28")])
def test_translators_resume_bit_for_bit(arch, dataset):
    data = load_builtin(dataset)
    small = subset(data, torch.arange(64))
    gan = GANConfig(arch=arch, data_shape=data.shape, source_shape=data.source_shape, g_width=4, d_width=4, blocks=1)
    config = TrainConfig(epochs=2, batch_size=8, seed=3, checkpoint_every_steps=5)
    straight = make_trainer(gan, config)
    straight.fit(small)
    first = make_trainer(gan, config.__class__(**{**config.__dict__, "max_steps": 5}))
    first.fit(small)
    if arch == "cyclegan":
        assert first.pools["a"].images.shape[0] == 40, "the pool holds the fakes so far"
    state = first.state_dict()
    resumed = make_trainer(gan, config)
    resumed.load_state_dict(state)
    resumed.fit(small)
    for (name, a), (_, b) in zip(straight.generator.state_dict().items(), resumed.generator.state_dict().items(),
                                 strict=True):
        assert torch.equal(a, b), name


def test_the_unet_goes_down_as_far_as_the_image_halves():
    assert [halvings(size, 8) for size in (28, 32, 64, 256)] == [2, 5, 6, 8]
    net = UNetGenerator(GANConfig(arch="pix2pix", data_shape=(3, 32, 32), source_shape=(1, 32, 32), g_width=4))
    assert net(torch.zeros(2, 1, 32, 32)).shape == (2, 3, 32, 32)
    with pytest.raises(ValueError, match="translates a2b only"):
        net(torch.zeros(1, 1, 32, 32), "b2a")


@pytest.mark.parametrize("arch,source", [("pix2pix", (1, 28, 28)), ("cyclegan", (3, 28, 28)), ("srgan", (1, 7, 7))])
def test_a_translators_footprint_counts_its_real_nets(arch, source):
    from models.footprint import training_footprint, translate_pass
    from models.gan import build_discriminator, build_generator

    gan = GANConfig(arch=arch, data_shape=(1, 28, 28), source_shape=source, g_width=8, d_width=8, blocks=2)
    real = sum(p.numel() for net in (build_generator(gan), build_discriminator(gan)) for p in net.parameters())
    footprint = training_footprint(gan, TrainConfig(batch_size=4), translate_pass)
    assert footprint.parameters == real and footprint.activation_bytes > 0
