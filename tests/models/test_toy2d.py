import torch

from models.toy2d import grid25, ring8


def test_ring8_has_eight_distinct_unit_circle_modes():
    means = ring8().means
    assert means.shape == (8, 2)
    assert torch.allclose(means.norm(dim=1), torch.ones(8))
    assert torch.cdist(means, means).add(torch.eye(8)).min() > 0.7  # no two means coincide


def test_grid25_modes():
    means = grid25().means
    assert means.shape == (25, 2) and set(means.flatten().tolist()) == {-4.0, -2.0, 0.0, 2.0, 4.0}


def test_real_samples_score_like_a_perfect_sampler():
    for mixture in (ring8(), grid25()):
        points, _ = mixture.sample(2500, seed=1)
        score = mixture.evaluate(points)
        assert score["modes"] == score["modes_held"] == len(mixture.means)
        assert 0.97 < score["high_quality"] <= 1.0  # 2-D: 1 - exp(-4.5) ≈ 98.9 %


def test_a_collapsed_sampler_is_caught():
    mixture = ring8()
    collapsed = mixture.means[0] + 0.01 * torch.randn(2500, 2)
    assert mixture.evaluate(collapsed)["modes"] == 1
    assert mixture.evaluate(torch.zeros(2500, 2))["high_quality"] == 0.0


def test_a_mode_fed_a_few_samples_is_captured_but_not_held():
    mixture = grid25()
    points, modes = mixture.sample(3000, seed=1)
    thin = torch.cat([points[modes != 0][:2495], points[modes == 0][:5]])  # mode 0 keeps 5 of its fair 100
    score = mixture.evaluate(thin)
    assert score["held_at"] == 10.0  # a tenth of 2,500 / 25
    assert score["modes"] == 25 and score["modes_held"] == 24
