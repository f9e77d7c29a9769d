"""ganforge_client.SyntheticDataset over real HTTP: a model's augment streamed into torch as (image, label) pairs,
one image in memory at a time."""

import tracemalloc
from itertools import islice

import httpx
import numpy as np
import pytest
import torch
from ganforge_client import Client, GANForgeError, SyntheticDataset
from PIL import Image
from torch.utils.data import DataLoader

pytestmark = pytest.mark.e2e

LARGE = 3000  # the test API's max_augment_images


class CountingTransport(httpx.HTTPTransport):
    """A real HTTP transport that counts the response bytes its client has taken off the network."""

    def __init__(self):
        super().__init__()
        self.received, self.closed = 0, 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        response.stream = _Counted(response.stream, self)
        return response


class _Counted(httpx.SyncByteStream):
    def __init__(self, stream: httpx.SyncByteStream, counter: CountingTransport):
        self.stream, self.counter = stream, counter

    def __iter__(self):
        for chunk in self.stream:
            self.counter.received += len(chunk)
            yield chunk

    def close(self) -> None:
        self.counter.closed += 1
        self.stream.close()


def test_the_pairs_are_augments_images_with_their_class_index(cgan, api_url, tmp_path):
    dataset = SyntheticDataset(cgan["id"], counts={"3": 5, "7": 3}, seed=5, base_url=api_url)
    pairs = list(dataset)
    assert len(dataset) == len(pairs) == 8
    assert [label for _, label in pairs] == [3] * 5 + [7] * 3 and cgan["classes"][3] == "3"
    with Client(api_url) as gf:
        gf.augment(cgan["id"], tmp_path, counts={"3": 5, "7": 3}, seed=5)
    files = sorted(tmp_path.glob("3/*.png")) + sorted(tmp_path.glob("7/*.png"))
    for (image, _), file in zip(pairs, files, strict=True):
        assert image.dtype == torch.float32 and list(image.shape) == cgan["image_shape"]
        np.testing.assert_array_equal((image[0] * 255).round().byte().numpy(), np.asarray(Image.open(file)))


def test_a_transform_is_applied_to_each_image(cgan, api_url):
    plain = SyntheticDataset(cgan["id"], total=4, seed=6, base_url=api_url)
    signed = SyntheticDataset(cgan["id"], total=4, seed=6, base_url=api_url, transform=lambda x: x * 2 - 1)
    for (image, label), (shifted, same) in zip(plain, signed, strict=True):
        assert label == same and torch.equal(shifted, image * 2 - 1) and shifted.min() >= -1 and shifted.max() <= 1


def test_an_unconditional_models_images_all_have_label_0(trained_model, api_url):
    assert [label for _, label in SyntheticDataset(trained_model["id"], total=4, base_url=api_url)] == [0] * 4


def test_a_classifier_trains_on_the_shuffled_stream(cgan, api_url):
    dataset = SyntheticDataset(cgan["id"], counts={"3": 40, "7": 24}, seed=3, shuffle_buffer=64, base_url=api_url)
    torch.manual_seed(0)
    classifier = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 10))
    optimizer = torch.optim.SGD(classifier.parameters(), lr=0.05)
    epoch_losses = []
    for _ in range(3):  # the same seed: the same 64 images each pass
        losses, labels = [], []
        for images, targets in DataLoader(dataset, batch_size=16):
            assert images.shape == (16, 1, 28, 28) and 0 <= images.min() and images.max() <= 1
            loss = torch.nn.functional.cross_entropy(classifier(images), targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            labels += targets.tolist()
        assert sorted(labels) == [3] * 40 + [7] * 24 and labels != sorted(labels), "all of them, shuffled"
        epoch_losses.append(sum(losses) / len(losses))
    assert epoch_losses[-1] < epoch_losses[0], epoch_losses


def test_taking_a_few_images_downloads_a_small_part_of_the_set(cgan, api_url, tmp_path):
    received = []
    with Client(api_url) as gf:
        gf.augment(cgan["id"], tmp_path, total=LARGE, seed=12, on_bytes=received.append)
    transport = CountingTransport()
    stream = iter(SyntheticDataset(cgan["id"], total=LARGE, seed=12, base_url=api_url, transport=transport))
    assert [label for _, label in (next(stream) for _ in range(5))] == [0] * 5
    stream.close()
    assert transport.closed == 2, "the card's response and the archive's, stopped early"
    assert transport.received < received[-1] / 4, (transport.received, received[-1])


def test_memory_stays_flat_while_a_large_set_streams(cgan, api_url):
    transport = CountingTransport()
    stream = iter(SyntheticDataset(cgan["id"], total=LARGE, seed=13, base_url=api_url, transport=transport))
    next(stream)  # connected: what connecting costs once (an SSL context, the card) is not the data set's
    tracemalloc.start()
    try:
        # Each layer (h11, httpcore, httpx, the ZIP reader) holds a chunk of up to 64 KiB: a few hundred KiB in
        # all, reached within the first chunks. From then on the peak must not grow with what is read.
        count = 1 + sum(1 for _ in islice(stream, 999))
        settled, received = tracemalloc.get_traced_memory()[1], transport.received
        count += sum(1 for _ in stream)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == LARGE
    read_since = transport.received - received
    assert read_since > 500_000 and peak - settled < read_since / 4, (settled, peak, read_since)


def test_an_unknown_model_raises_the_servers_problem(api_url):
    with pytest.raises(GANForgeError) as refused:
        next(iter(SyntheticDataset("model_0123456789abcdef", total=4, base_url=api_url)))
    assert refused.value.status == 404


def test_counts_or_total_must_be_given_once():
    with pytest.raises(ValueError, match="exactly one of counts"):
        SyntheticDataset("model_0123456789abcdef", counts={"3": 1}, total=1)
