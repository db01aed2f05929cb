"""Datasets shipped with iongrad (``iongrad/data/shipped/<name>.csv`` + ``<name>.json``)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from iongrad.data.loader import Dataset, load_dataset_bytes
from iongrad.models.errors import DataError

__all__ = ["list_shipped", "load_shipped", "shipped_files", "write_datasets"]

_PACKAGE = "iongrad.data"
_FOLDER = "shipped"


def _folder():
    return resources.files(_PACKAGE).joinpath(_FOLDER)


def list_shipped() -> tuple[str, ...]:
    """Names of the shipped datasets (those with both a CSV and a JSON sidecar), sorted.

    Returns
    -------
    tuple of str
    """
    entries = {e.name for e in _folder().iterdir() if e.is_file()}
    return tuple(sorted(n[:-4] for n in entries if n.endswith(".csv")
                        and n[:-4] + ".json" in entries))


def shipped_files(name: str) -> tuple[str, str]:
    """Locations of a shipped dataset's CSV and sidecar (as strings, for messages).

    Parameters
    ----------
    name : str
        A name from :func:`list_shipped`.

    Returns
    -------
    (csv, sidecar) : tuple of str
    """
    _check(name)
    return str(_folder().joinpath(name + ".csv")), str(_folder().joinpath(name + ".json"))


def _check(name: str) -> None:
    available = list_shipped()
    if name not in available:
        raise DataError(f"no shipped dataset named {name!r}; available: {list(available)}")


def load_shipped(name: str) -> Dataset:
    """Load a shipped dataset by name.

    Parameters
    ----------
    name : str
        A name from :func:`list_shipped`, e.g. ``"synthetic_vrest_ko"``.

    Returns
    -------
    Dataset
        Validated, in canonical units; ``provenance`` holds the citation or the
        generator, seed and true parameters.

    Raises
    ------
    DataError
        If there is no such dataset.
    """
    _check(name)
    folder = _folder()
    csv_res, json_res = folder.joinpath(name + ".csv"), folder.joinpath(name + ".json")
    return load_dataset_bytes(csv_res.read_bytes(), json_res.read_bytes(),
                              csv_label=str(csv_res), sidecar_label=str(json_res))


def write_datasets(texts: dict[str, tuple[str, str]],
                   out_dir: str | Path | None = None) -> list[Path]:
    """Write each dataset's CSV and JSON sidecar text as ``<name>.csv`` and
    ``<name>.json`` (the generators' output; default folder: the package's
    ``shipped/``). Each file is written to ``<file>.tmp`` and renamed into place, so an
    interrupted write leaves no truncated dataset under the dataset's name.

    Returns
    -------
    list of Path
        The files written, in order.
    """
    out = Path(out_dir) if out_dir is not None else Path(__file__).resolve().parent / _FOLDER
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, (csv_text, json_text) in texts.items():
        for suffix, text in ((".csv", csv_text), (".json", json_text)):
            path = out / f"{name}{suffix}"
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_bytes(text.encode("utf-8"))
            tmp.replace(path)
            paths.append(path)
    return paths
