"""The augmentation report's parts: the rows' training sets, the filter, the deformation, the recommendation rule,
and the class-balanced draw a conditional GAN trains with on an imbalanced set."""

import pytest
import torch

from models.data import load_builtin
from models.gan import GANConfig
from models.metrics import augmentation_gain as report
from models.metrics.classifier import TrainOptions, evaluation_split, fit, stratified_split
from models.trainer import Callbacks, TrainConfig, Trainer, _Schedule


def imbalanced(common: int = 30, rare: int = 4) -> report.Split:
    digits = load_builtin("digits")
    keep = torch.cat([(digits.labels == c).nonzero().view(-1)[: common if c < 5 else rare] for c in range(10)])
    return report.Split(digits.images[keep], digits.labels[keep])


def test_the_balance_rows_top_every_class_up_to_the_largest():
    train = imbalanced()
    counts = torch.bincount(train.labels, minlength=10).tolist()
    for name, each in (("oversample", 30), ("deform", 60)):  # deform: oversample, plus as many deformed copies
        made = report.training_set(report.ROW_BY_NAME[name], train, counts, None, seed=0)
        assert torch.bincount(made.labels, minlength=10).tolist() == [each] * 10
        assert torch.equal(made.images[: len(train)], train.images)  # the real images come first, as they are
    oversampled = report.training_set(report.ROW_BY_NAME["oversample"], train, counts, None, seed=0)
    rare_images = train.images[train.labels == 7]
    assert all(any(torch.equal(image, r) for r in rare_images) for image in oversampled.images[oversampled.labels == 7])


def test_deformed_copies_move_pixels_but_keep_the_digit_in_frame():
    train = imbalanced()
    copies = report.deformed_copies(train, [2] * 10, seed=0)
    originals = torch.cat([train.images[train.labels == c][:2] for c in range(10)])
    changed = (copies.images.float() - originals.float()).abs().mean(dim=(1, 2, 3))
    assert (changed > 1).all()  # every copy differs from its source
    assert (copies.images.float().mean(dim=(1, 2, 3)) > 0.5 * originals.float().mean(dim=(1, 2, 3))).all()
    assert torch.equal(report.deformed_copies(train, [2] * 10, seed=0).images, copies.images)  # seeded


def test_share_rows_add_that_share_of_the_set_spread_over_the_classes():
    added = report.ROW_BY_NAME["synthetic_25"].added([30] * 5 + [4] * 5)
    assert sum(added) == round(0.25 / 0.75 * 170) and max(added) - min(added) <= 1
    on_top = report.ROW_BY_NAME["oversample_synthetic_25"].added([30] * 5 + [4] * 5)
    assert on_top == [10] * 5 + [36] * 5  # balanced to 30 each by repeats, then 100 synthetic (25 % of 400)


def test_the_filter_drops_copies_of_training_images_and_unconfident_ones():
    train = imbalanced()
    judge = fit(report_config(), train.images, train.labels, TrainOptions(steps=60, seed=0))
    keep = report.Filter.for_split(judge, train)
    copies = keep.keep(train.take(torch.arange(20)))
    assert not copies.any()  # a training image itself is a near-copy
    noise = report.Split(torch.randint(0, 256, (20, 1, 28, 28), dtype=torch.uint8), torch.arange(20) % 10)
    assert keep.keep(noise).float().mean() < 0.5  # noise seldom reads as its asked digit with p >= 0.9


def report_config():
    return report.row_classifier(imbalanced(), 10)


def test_fixed_steps_and_class_weights_train_the_classifier():
    train = imbalanced()
    net = fit(report_config(), train.images, train.labels,
              TrainOptions(steps=7, batch_size=16, class_weights=(1.0,) * 10))
    assert not net.training
    with pytest.raises(ValueError, match="one weight per class"):
        fit(report_config(), train.images, train.labels, TrainOptions(steps=2, class_weights=(1.0, 2.0)))


def test_the_evaluation_split_is_the_reference_classifiers():
    labels = imbalanced().labels
    assert all(torch.equal(a, b) for a, b in zip(evaluation_split(labels), stratified_split(labels, 0.2, 0),
                                                   strict=True))


def _rows(gains: dict[str, list[float]]) -> list[dict]:
    rows = []
    for name, diffs in gains.items():
        row = report.ROW_BY_NAME[name]
        mean = sum(diffs) / len(diffs)
        std = (sum((d - mean) ** 2 for d in diffs) / (len(diffs) - 1)) ** 0.5 if len(diffs) > 1 else 0.0
        rows.append({"name": name, "deliverable": row.deliverable, "vs_real": {"mean": mean, "std": std},
                     "vs_real_p": 0.001, "balanced_accuracy": {"mean": 0.5 + mean, "std": std}})
    return rows


def test_a_mix_is_recommended_only_where_its_gain_exceeds_the_seeds_spread():
    noisy = _rows({"real": [0, 0, 0], "oversample": [0.05, -0.04, 0.02], "synthetic_balance": [0.03, 0.04, 0.05],
                   "reweight": [0.2, 0.21, 0.22]})
    chosen = report.recommend(noisy, seeds=3)
    assert chosen["row"] == "synthetic_balance"  # reweight gains more, but is a way to train, not data
    assert chosen["gain"] == pytest.approx(0.04)
    flat = _rows({"real": [0, 0, 0], "oversample": [0.05, -0.04, 0.02], "synthetic_balance": [-0.01, 0.02, -0.03]})
    assert report.recommend(flat, seeds=3)["row"] == "real"
    assert "no measured gain" in report.recommend(flat, seeds=3)["words"]
    one_seed = _rows({"real": [0], "synthetic_balance": [0.1]})
    assert report.recommend(one_seed, seeds=1)["row"] == "real"
    few_test_images = _rows({"real": [0, 0, 0], "synthetic_balance": [0.03, 0.04, 0.05]})
    few_test_images[1]["vs_real_p"] = 0.25  # steady over seeds, but so few test images could show it by chance
    assert report.recommend(few_test_images, seeds=3)["row"] == "real"
    assert "p = 0.250, needed < 0.0500" in report.recommend(few_test_images, seeds=3)["words"]  # one candidate
    many = _rows({"real": [0, 0, 0], "oversample": [0.03, 0.04, 0.05], "deform": [0.01, 0.02, 0.03]})
    many[1]["vs_real_p"] = many[2]["vs_real_p"] = 0.03  # below 0.05, but one of two rows tried: 0.025 needed
    assert report.recommend(many, seeds=3)["row"] == "real" and report.recommend(many, seeds=3)["p_needed"] == 0.025


def test_a_gain_on_a_few_test_images_is_not_significant_and_on_many_it_is():
    labels = torch.arange(10).repeat_interleave(100)
    real = torch.rand(3, 1000, generator=torch.Generator().manual_seed(0)) < 0.8
    better = real | (torch.rand(1, 1000, generator=torch.Generator().manual_seed(1)) < 0.25)  # about +5 points
    assert report.gain_p_value(better, real, labels) < 0.01
    two_a_class = torch.arange(0, 1000, 50)
    assert report.gain_p_value(better[:, two_a_class], real[:, two_a_class], labels[two_a_class]) > 0.05
    assert report.gain_p_value(real, real, labels) == 1.0
    one_rare_image = torch.tensor([True, False]).repeat(3, 1), torch.tensor([False, False]).repeat(3, 1)
    assert report.gain_p_value(*one_rare_image, torch.tensor([0, 1])) == pytest.approx(0.5, abs=0.03)


def test_a_conditional_gan_draws_an_imbalanced_set_class_balanced():
    train = imbalanced(common=40, rare=4)
    gan = GANConfig(arch="cgan", num_classes=10, latent_dim=8, g_width=8, d_width=8)
    weights = Trainer(gan, TrainConfig(batch_size=16).for_family(gan)).class_balance_weights(train.labels)
    schedule = _Schedule(TrainConfig(batch_size=16, seed=0, epochs=50, d_steps=1), len(train), weights=weights)
    drawn = torch.cat([train.labels[i] for step in range(schedule.total) for i in schedule.batches(step)])
    shares = torch.bincount(drawn, minlength=10).double() / len(drawn)
    assert (shares - 0.1).abs().max() < 0.03  # each class about a tenth, though 5 classes hold 4 images of 220
    off = Trainer(gan, TrainConfig(batch_size=16, balance_classes=False).for_family(gan))
    assert off.class_balance_weights(train.labels) is None
    balanced_set = imbalanced(common=10, rare=10).labels
    assert Trainer(gan, TrainConfig(batch_size=16).for_family(gan)).class_balance_weights(balanced_set) is None


def test_ada_raises_p_while_d_is_sure_of_the_reals_and_lowers_it_after():
    from models.augment import AdaptiveAugment

    ada = AdaptiveAugment(0.6, torch.device("cpu"))
    ada.speed_images = 64 * 4 * 10  # ten adjustments cross [0, 1]
    for _ in range(4 * 5):
        ada.observe(torch.full((64,), 3.0), 64)  # every real image scored real: r_t = 1 > 0.6
    assert ada.p.item() == pytest.approx(0.5)
    for _ in range(4 * 2):
        ada.observe(torch.full((64,), -1.0), 64)  # r_t = -1 < 0.6
    assert ada.p.item() == pytest.approx(0.3)
    x = torch.ones(1000, 1, 8, 8)
    out = ada(x, ("cutout",), torch.Generator().manual_seed(0))
    assert 0.2 < (out != x).flatten(1).any(1).float().mean() < 0.4  # about p of the images augmented


def test_a_trainer_with_ada_keeps_p_in_its_state_and_reports_it():
    gan = GANConfig(arch="cgan", num_classes=10, latent_dim=8, g_width=8, d_width=8)
    train = imbalanced(common=20, rare=20)
    trainer = Trainer(gan, TrainConfig(batch_size=16, max_steps=12, epochs=1, augment=("translation",),
                                       ada_target=0.6, progress_every_steps=4))
    seen = []

    class Progressed(Callbacks):
        def on_progress(self, progress):
            seen.append(progress.augment_p)

    trainer.fit(train.images, train.labels, Progressed())
    assert seen and all(p is not None and 0 <= p <= 1 for p in seen)
    resumed = Trainer(gan, TrainConfig(batch_size=16, max_steps=12, epochs=1, augment=("translation",),
                                       ada_target=0.6))
    resumed.load_state_dict(trainer.state_dict())
    assert resumed.ada.p.item() == trainer.ada.p.item()
