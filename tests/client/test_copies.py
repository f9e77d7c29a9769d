"""The client installs without the server, so it keeps copies of a few of the server's definitions: each must
equal its source."""

import ganforge_client.states
import pytest
from ganforge_client.dataset import safe_folder as client_safe_folder

import core.states
from service.serving.augment import safe_folder as server_safe_folder


def test_the_clients_job_states_are_the_servers():
    assert ganforge_client.states.TERMINAL == core.states.TERMINAL
    assert ganforge_client.states.STATUSES == core.states.STATUSES


@pytest.mark.parametrize("name", ["7", "cat", "a/b", "a\\b", " padded ", "", ".", "..", "/", "été"])
def test_the_clients_class_folders_are_the_ones_augment_writes(name):
    assert client_safe_folder(name, 3) == server_safe_folder(name, 3)
