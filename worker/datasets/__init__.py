"""Data sets: the built-ins and uploaded images, decoded safely, stored compactly, loaded by jobs."""

from worker.datasets.catalog import DatasetCatalog, dataset_checksum, load_dataset, warm_builtins
from worker.datasets.errors import (
    BuiltinDataset,
    DatasetChanged,
    DatasetInUse,
    DatasetNotFound,
    InvalidUpload,
    UploadTooLarge,
)
from worker.datasets.options import UploadLimits, UploadOptions

__all__ = [
    "BuiltinDataset", "DatasetCatalog", "DatasetChanged", "DatasetInUse", "DatasetNotFound", "InvalidUpload",
    "UploadLimits", "UploadOptions", "UploadTooLarge", "dataset_checksum", "load_dataset", "warm_builtins",
]
