import math
import threading

import pytest
import torch

from models.sampling import interpolate, latents_for_seed, truncated_normal


def test_seeded_latents_are_the_same_every_time_and_differ_across_seeds():
    assert torch.equal(latents_for_seed(4, 10, 3), latents_for_seed(4, 10, 3))
    assert not torch.equal(latents_for_seed(4, 10, 3), latents_for_seed(4, 10, 4))


@pytest.mark.parametrize("bound", [0.1, 0.5, 1.0, 2.0])
def test_truncation_bounds_every_component_and_is_deterministic(bound):
    plain = latents_for_seed(500, 32, 7)
    truncated = latents_for_seed(500, 32, 7, truncation=bound)
    assert truncated.abs().max() <= bound and plain.abs().max() > bound
    assert torch.equal(truncated, latents_for_seed(500, 32, 7, truncation=bound))
    inside = plain.abs() <= bound
    assert torch.equal(truncated[inside], plain[inside])
    # Redrawn components follow the truncated normal, not a pile-up at the bound.
    assert (truncated.abs() > 0.99 * bound).float().mean() < 0.05


@pytest.mark.parametrize("bound", [1e-9, 1e-5, 1e-3])
def test_a_tiny_truncation_still_answers_at_once(bound):
    # Redrawing until every component is inside would take about 1/P(|z| <= bound) rounds: forever at 1e-9.
    # A liveness check, not a timing: it returns in milliseconds, or (as the old loop did) never.
    result: list[torch.Tensor] = []
    worker = threading.Thread(target=lambda: result.append(latents_for_seed(1000, 128, 1, truncation=bound)),
                              daemon=True)
    worker.start()
    worker.join(timeout=120)
    assert result, f"latents_for_seed(truncation={bound}) did not return"
    assert result[0].abs().max() <= bound and result[0].std() > bound / 4


def test_the_inverse_cdf_draws_follow_the_truncated_normal():
    draws = truncated_normal(200_000, 1.0, torch.Generator().manual_seed(0)).double()
    # Truncated at +-1: mean 0 and variance 1 - 2 phi(1) / (2 Phi(1) - 1) = 0.2911.
    phi, mass = math.exp(-0.5) / math.sqrt(2 * math.pi), math.erf(1 / math.sqrt(2))
    assert abs(draws.mean()) < 0.005 and abs(draws.var() - (1 - 2 * phi / mass)) < 0.005


@pytest.mark.parametrize("method", ["lerp", "slerp"])
def test_interpolation_includes_both_ends_exactly(method):
    start, end = latents_for_seed(2, 50, 1)
    path = interpolate(start, end, 9, method)
    assert path.shape == (9, 50)
    assert torch.equal(path[0], start) and torch.equal(path[-1], end)


def test_slerp_stays_on_the_sphere_where_lerp_cuts_inside():
    start, end = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 3.0])
    assert torch.allclose(interpolate(start, end, 5, "slerp").norm(dim=1), torch.full((5,), 3.0))
    assert interpolate(start, end, 3, "lerp")[1].tolist() == [1.5, 1.5]


def test_slerp_of_parallel_vectors_falls_back_to_a_line():
    start = torch.tensor([1.0, 1.0])
    path = interpolate(start, 2 * start, 3, "slerp")
    assert torch.isfinite(path).all() and torch.allclose(path[1], 1.5 * start)
