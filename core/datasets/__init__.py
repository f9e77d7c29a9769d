"""Data sets: the built-ins and uploaded images, decoded safely, stored compactly, loaded by jobs."""

from core.datasets.catalog import DatasetCatalog, dataset_checksum, load_dataset, warm_builtins
from core.datasets.errors import (
    BuiltinDataset,
    DatasetChanged,
    DatasetInUse,
    DatasetNotFound,
    InvalidUpload,
    UploadTooLarge,
)
from core.datasets.options import UploadLimits, UploadOptions

__all__ = [
    "BuiltinDataset", "DatasetCatalog", "DatasetChanged", "DatasetInUse", "DatasetNotFound", "InvalidUpload",
    "UploadLimits", "UploadOptions", "UploadTooLarge", "dataset_checksum", "load_dataset", "warm_builtins",
]
