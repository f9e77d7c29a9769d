"""What can go wrong with a data set, in words a caller can act on. The HTTP layer maps these to statuses."""

from __future__ import annotations


class InvalidUpload(ValueError):
    """The upload cannot become a data set: not a ZIP or NPZ, corrupt, unsafe, or without images."""


class UploadTooLarge(InvalidUpload):
    """The upload exceeds one of the server's caps (bytes, entries, pixels, images)."""


class DatasetNotFound(LookupError):
    def __str__(self) -> str:  # KeyError-style quoting would hide the message in a job's error
        return str(self.args[0]) if self.args else "data set not found"


class BuiltinDataset(PermissionError):
    """Built-in data sets are part of the code: they cannot be deleted."""


class DatasetInUse(RuntimeError):
    def __init__(self, dataset_id: str, jobs: list[str]):
        super().__init__(f"data set {dataset_id} is used by {len(jobs)} queued or running job(s): "
                         f"{', '.join(jobs)}; wait for them to finish (or cancel them), then delete it")
        self.jobs = jobs


class DatasetChanged(RuntimeError):
    """The data set's content no longer matches the checksum the job recorded when it was submitted."""
