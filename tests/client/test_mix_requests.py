"""augment's `mix` as the client sends it, and how SyntheticDataset labels a recommended mix's entries: checked
before any request (tests/e2e/test_augmentation_report_clients.py runs them against a real report)."""

import pytest
from ganforge_client.client import _augment_request, _given
from ganforge_client.dataset import SyntheticDataset, _FolderLabels


def test_a_plain_synthetic_request_leaves_mix_out():
    # the server's default: an older server, without mixes, takes the request as before
    assert _given(**_augment_request("synthetic", None, 5, 1, None)) == {"total": 5, "seed": 1}


def test_the_recommended_mix_sends_no_counts():
    assert _given(**_augment_request("recommended", None, None, None, None)) == {"mix": "recommended"}


@pytest.mark.parametrize("size", [{"counts": {"3": 5}}, {"total": 5}])
def test_counts_or_total_with_the_recommended_mix_are_refused(size):
    with pytest.raises(ValueError, match="leave out counts and total"):
        _augment_request("recommended", size.get("counts"), size.get("total"), None, None)


def test_an_unknown_mix_is_refused():
    with pytest.raises(ValueError, match="'synthetic' or 'recommended'; got 'best'"):
        _augment_request("best", None, 5, None, None)


def test_the_dataset_takes_the_recommended_mix_without_a_size():
    assert SyntheticDataset("m", mix="recommended").request == {"mix": "recommended", "counts": None, "total": None,
                                                                "seed": None, "truncation": None}
    with pytest.raises(ValueError, match="leave out counts and total"):
        SyntheticDataset("m", mix="recommended", total=10)
    with pytest.raises(ValueError, match="exactly one of counts"):
        SyntheticDataset("m")


def test_a_mixs_entries_are_labelled_by_their_folder_in_any_order():
    labels = _FolderLabels(["cat", "dog", "a/b"])
    names = ["dog/real_000000.png", "cat/real_000000.png", "a_b/synthetic_000000.png", "dog/deformed_000003.png"]
    assert [labels.of(name) for name in names] == [1, 0, 2, 1]
    with pytest.raises(ValueError, match="no class of the model has that folder"):
        labels.of("bird/real_000000.png")


def test_classes_that_share_a_folder_cannot_be_told_apart_in_a_mix():
    with pytest.raises(ValueError, match="share a folder.*format='npz'"):
        _FolderLabels(["a/b", "a_b"])
