"""The real side of FID/KID/PRDC is embedded once per data set, extractor and set of images, then read back."""

import torch

from core.store import LocalStore
from models.data import ImageDataset
from models.metrics.features import FeatureExtractor
from worker.references import cached_real_features


def counting_extractor(name: str, calls: list) -> FeatureExtractor:
    def embed(images: torch.Tensor) -> torch.Tensor:
        calls.append(len(images))
        return images.flatten(1).float()[:, :5] * (2 if name == "b" else 1)
    return FeatureExtractor(name, name * 64, embed)


def test_real_features_are_computed_once_then_read_from_the_store(tmp_path):
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (40, 1, 8, 8), dtype=torch.uint8, generator=generator)
    dataset = ImageDataset("tiny", images, torch.arange(40) % 2, ("0", "1"))
    store, calls = LocalStore(tmp_path), []
    a = counting_extractor("a", calls)

    first = cached_real_features(store, dataset)(a, images[:30])
    again = cached_real_features(store, dataset)(a, images[:30])  # a new evaluation, same store
    assert calls == [30] and torch.equal(first, again)
    assert len(list(tmp_path.rglob("real-features-*.safetensors"))) == 1

    # Other images or another extractor are never served stale features.
    other_split = cached_real_features(store, dataset)(a, images[10:])
    other_extractor = cached_real_features(store, dataset)(counting_extractor("b", calls), images[:30])
    assert calls == [30, 30, 30]
    assert torch.equal(other_split, images[10:].flatten(1).float()[:, :5])
    assert torch.equal(other_extractor, 2 * first)
