"""Distances between two sets of features: the Fréchet distance (FID's formula) and the kernel distance (KID's).

Both take features (N x D tensors) from any extractor: Inception-v3 pool features make them FID and KID as
published; a data set's own reference classifier makes them the offline "classifier" variants, which must be
labelled as such wherever shown (see field notes, "GAN evaluation protocols").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class FeatureStats:
    """Mean and covariance of a feature set: all the Fréchet distance needs from the real side.

    Real-set statistics are computed once per data set and extractor and cached (as tensors plus string
    metadata, so they can live in a safetensors file), the way stylegan2-ada-pytorch caches them.
    """

    mean: torch.Tensor  # float64, D
    cov: torch.Tensor  # float64, D x D
    n: int
    extractor: str = ""  # the feature extractor's id, so cached stats are never mixed across extractors

    @classmethod
    def of(cls, features: torch.Tensor, extractor: str = "") -> FeatureStats:
        x = _as_features(features, "features")
        if len(x) < 2:
            raise ValueError(f"a covariance needs at least 2 feature vectors; got {len(x)}")
        mean = x.mean(0)
        centred = x - mean
        return cls(mean, centred.T @ centred / (len(x) - 1), len(x), extractor)

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        """Tensors and string metadata, the two halves of a safetensors file."""
        return {"mean": self.mean, "cov": self.cov}, {"n": str(self.n), "extractor": self.extractor}

    @classmethod
    def from_state(cls, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> FeatureStats:
        return cls(tensors["mean"].double(), tensors["cov"].double(), int(metadata["n"]), metadata.get("extractor", ""))


def _as_features(features: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(features, torch.Tensor) or features.ndim != 2:
        shape = tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
        raise ValueError(f"{name} must be an N x D tensor of feature vectors; got {shape}")
    return features.detach().to("cpu", torch.float64)


def _sqrt_psd(matrix: torch.Tensor) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(matrix)
    return (vectors * values.clamp(min=0).sqrt()) @ vectors.T


def trace_sqrt_product(cov1: torch.Tensor, cov2: torch.Tensor) -> torch.Tensor:
    """Tr sqrt(cov1 @ cov2), computed as Tr sqrt(A cov2 A) with A = sqrt(cov1).

    Both products have the same eigenvalues (AB and BA share their spectrum), but A cov2 A is symmetric PSD,
    so a symmetric eigen-decomposition gives real, non-negative roots even when the covariances are singular
    (fewer samples than dimensions, dead ReLU units), where scipy's sqrtm of cov1 @ cov2 returns complex noise
    and FID code has to add an epsilon to the diagonal.
    """
    root = _sqrt_psd(cov1)
    middle = root @ cov2 @ root
    middle = (middle + middle.T) / 2  # symmetric up to rounding; make it exactly so for eigvalsh
    return torch.linalg.eigvalsh(middle).clamp(min=0).sqrt().sum()


def frechet_distance(real: torch.Tensor | FeatureStats, fake: torch.Tensor | FeatureStats) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 sqrt(S1 S2)) between Gaussians fitted to two feature sets.

    The formula of FID (Heusel et al. 2017, arXiv:1706.08500), in float64. Either side may be cached
    FeatureStats; the distance is biased upward for small N (Chong & Forsyth 2020), so compare only numbers
    computed with the same sample counts.
    """
    s1 = real if isinstance(real, FeatureStats) else FeatureStats.of(real)
    s2 = fake if isinstance(fake, FeatureStats) else FeatureStats.of(fake)
    if s1.mean.shape != s2.mean.shape:
        raise ValueError(f"feature sizes differ: {tuple(s1.mean.shape)} vs {tuple(s2.mean.shape)}")
    if s1.extractor and s2.extractor and s1.extractor != s2.extractor:
        raise ValueError(f"statistics come from different feature extractors: {s1.extractor} vs {s2.extractor}")
    mean_term = (s1.mean - s2.mean).square().sum()
    distance = mean_term + s1.cov.trace() + s2.cov.trace() - 2 * trace_sqrt_product(s1.cov, s2.cov)
    return max(float(distance), 0.0)  # rounding can leave -1e-12 for identical sets


def _cubic_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    # k(x, y) = (x.y / d + 1)^3: the polynomial kernel KID uses (Binkowski et al. 2018, arXiv:1801.01401, §4),
    # chosen because it needs no bandwidth and compares means, variances and skewness of the features.
    return (x @ y.T / x.shape[1] + 1) ** 3


def _unbiased_mmd2(x: torch.Tensor, y: torch.Tensor) -> float:
    m = len(x)
    kxx, kyy, kxy = _cubic_kernel(x, x), _cubic_kernel(y, y), _cubic_kernel(x, y)
    # The unbiased U-statistic leaves out the diagonals k(x_i, x_i), so the estimate is not inflated at small m
    # and can be slightly negative when the two distributions are equal.
    within = (kxx.sum() - kxx.diagonal().sum() + kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return float(within - 2 * kxy.mean())


def kernel_inception_distance(real: torch.Tensor, fake: torch.Tensor, subsets: int = 100, subset_size: int = 1000,
                              seed: int = 0) -> tuple[float, float]:
    """Mean and standard deviation of the unbiased MMD^2 over `subsets` random subsets (Binkowski et al. 2018).

    Each subset draws min(subset_size, N_real, N_fake) vectors from each side without replacement, as
    stylegan2-ada-pytorch's metrics/kernel_inception_distance.py does; `seed` makes the draw reproducible.
    When both sides have no more than subset_size vectors, every subset is the whole set and std is 0.
    """
    x, y = _as_features(real, "real"), _as_features(fake, "fake")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"feature sizes differ: {x.shape[1]} vs {y.shape[1]}")
    m = min(subset_size, len(x), len(y))
    if m < 2:
        raise ValueError(f"KID needs at least 2 vectors on each side; got {len(x)} real and {len(y)} fake")
    if subsets < 1:
        raise ValueError(f"subsets must be at least 1; got {subsets}")
    generator = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(subsets):
        xs = x[torch.randperm(len(x), generator=generator)[:m]]
        ys = y[torch.randperm(len(y), generator=generator)[:m]]
        values.append(_unbiased_mmd2(xs, ys))
    estimates = torch.tensor(values, dtype=torch.float64)
    std = float(estimates.std()) if subsets > 1 else 0.0
    return float(estimates.mean()), std
