"""Fixtures that more than one end-to-end module needs and that cost minutes: made once per session."""

import subprocess
import sys

import numpy as np
import pytest

from models.data import load_builtin
from tests.datasets_builders import npz_of
from tests.helpers import train_model

COMMON, RARE = 40, 6  # the imbalanced set: digits 0-4 keep 40 images each, 5-9 keep 6


def ganforge(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "service.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def imbalanced_digits() -> bytes:
    digits = load_builtin("digits")
    keep = np.concatenate([np.flatnonzero(digits.labels.numpy() == c)[: COMMON if c < 5 else RARE]
                           for c in range(10)])
    return npz_of(images=digits.images[keep, 0].numpy(), labels=digits.labels[keep].numpy())


@pytest.fixture(scope="session")
def imbalanced(client):
    response = client.post("/v1/datasets", files={"file": ("imbalanced.npz", imbalanced_digits())},
                           data={"name": "imbalanced digits"})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture(scope="session")
def imbalanced_cgan(client, worker_process, imbalanced):
    """A tiny cgan trained on the imbalanced set with its evaluation split held out."""
    return train_model(client, imbalanced["id"], {"arch": "cgan"}, {"max_steps": 30}, hold_out=True)


@pytest.fixture(scope="session")
def evaluated(api_url, imbalanced_cgan) -> subprocess.CompletedProcess:
    """`ganforge evaluate --metrics augmentation_gain`: it queues the report, waits, and prints it (about two
    minutes on two cores: the one report of the session)."""
    return ganforge("evaluate", imbalanced_cgan["id"], "--metrics", "augmentation_gain", "--seeds", "2",
                    "--url", api_url, timeout=900)


@pytest.fixture(scope="session")
def report(client, evaluated) -> dict:
    """The report's job, as GET /v1/jobs/{id} gives it once it succeeded."""
    assert evaluated.returncode == 0, evaluated.stderr
    job = client.get(f"/v1/jobs/{evaluated.stdout.splitlines()[0].split()[1]}").json()  # "job <id> queued (...)"
    assert job["status"] == "succeeded", job
    return job
