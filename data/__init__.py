"""iongrad.data: datasets (tidy CSV + JSON sidecar) and their loader/validator.

Public API
----------
load_dataset(csv_path, sidecar_path=None) -> Dataset
    Load, validate and convert a dataset to canonical units.
load_dataset_bytes(csv_bytes, sidecar_bytes, *, csv_label, sidecar_label) -> Dataset
    The same from bytes in memory.
list_shipped() -> tuple[str, ...]; load_shipped(name) -> Dataset
    The datasets that ship with iongrad.
save_dataset(dataset, csv_path, sidecar_path=None) -> (Path, Path)
    Write a dataset back as CSV + sidecar in canonical names and units.
Dataset, DatasetSource
    The loaded dataset (frozen) and where it came from.

The vocabulary of quantities, roles and units is in :mod:`iongrad.data.vocabulary`.
"""

from iongrad.data.loader import (
    Dataset,
    DatasetSource,
    load_dataset,
    load_dataset_bytes,
    save_dataset,
)
from iongrad.data.shipped import list_shipped, load_shipped, shipped_files
from iongrad.data.vocabulary import CONDITIONS, OBSERVABLES, QUANTITIES

__all__ = [
    "CONDITIONS",
    "OBSERVABLES",
    "QUANTITIES",
    "Dataset",
    "DatasetSource",
    "list_shipped",
    "load_dataset",
    "load_dataset_bytes",
    "load_shipped",
    "save_dataset",
    "shipped_files",
]
