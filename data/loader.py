"""Load and validate a dataset: a tidy CSV plus a JSON sidecar that states units and roles.

A dataset is one CSV file (comma-separated, UTF-8, one header line, one row per
observation) and a JSON sidecar (by default the same path with ``.json``) that says
what every column is. The loader checks everything once, converts every value to
the canonical unit of its quantity (see :mod:`iongrad.data.vocabulary`) and returns
a frozen :class:`Dataset`.

Row numbers in error messages
-----------------------------
Errors name the *data row*, counted from 1 with the header not counted (the first
row under the header is data row 1), and also the file line (data row + 1), which
is the row number a spreadsheet shows.

Missing values
--------------
An empty cell in an observable column means "not measured in this row" (a tidy
wide table can hold V at five [K]o values and R_in at one). Empty cells anywhere
else (conditions, ids, the SEM of a measured value) are errors, and so is any
text such as ``NaN``, ``NA`` or ``-`` in a numeric column: leave the cell empty.

Files are parsed as data only (``json`` and ``pandas.read_csv``); nothing is evaluated.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from iongrad.data.vocabulary import (
    CONDITIONS,
    FXYD_STATES,
    ID_QUANTITIES,
    OBSERVABLES,
    QUANTITIES,
    ROLES,
    UNCERTAINTY_KINDS,
    UNITS,
    Quantity,
    accepted_units,
    to_canonical,
)
from iongrad.models.errors import DataError

__all__ = ["Dataset", "DatasetSource", "load_dataset", "load_dataset_bytes", "save_dataset"]

#: Top-level keys a sidecar may have.
SIDECAR_KEYS: dict[str, bool] = {  # key -> required
    "name": True, "columns": True, "provenance": True, "description": False,
    "cell_column": False, "constants": False, "notes": False, "schema_version": False,
}
#: Keys a column entry may have, by role (``role`` itself always).
_COLUMN_KEYS: dict[str, tuple[set[str], set[str]]] = {  # role -> (required, optional)
    "observable": ({"quantity", "unit"}, {"description"}),
    "condition": ({"quantity"}, {"unit", "description"}),
    "id": (set(), {"quantity", "description"}),
    "uncertainty": ({"of", "kind", "unit"}, {"description"}),
    "n": (set(), {"of", "description"}),
    "note": (set(), {"description"}),
}
_PROVENANCE_ANY = ("citation", "lab", "generator")
SINGLE_CELL_ID = "cell_1"


class DatasetSource(NamedTuple):
    """Where a dataset was read from (paths or package resource names)."""

    csv: str
    sidecar: str


@dataclass(frozen=True, eq=False)
class Dataset:
    """A validated dataset in canonical units.

    Attributes
    ----------
    name : str
        Dataset name from the sidecar.
    frame : pandas.DataFrame
        One row per CSV data row (index ``data_row``, 1-based as in error messages).
        Columns: ``cell`` (string ids), the conditions (canonical names and units,
        sidecar constants broadcast to every row), the observables (canonical names
        and units; NaN = not measured in that row), uncertainty columns
        ``<observable>_<kind>`` in the observable's unit, sample sizes ``n`` or
        ``n_<observable>``, a ``recording`` id if declared, and note columns under
        their CSV names.
    observables : tuple of str
        Canonical names of the observables present.
    conditions : tuple of str
        Canonical names of the conditions present (columns and constants).
    uncertainty : dict
        Observable name -> name of its SEM/SD column in ``frame`` (canonical unit).
    uncertainty_kind : dict
        Observable name -> ``"sem"``, ``"sd"`` or ``"unstated"``.
    provenance : dict
        The sidecar's provenance block (citation or lab, date, licence; for
        synthetic data generator, seed and true parameters).
    source : DatasetSource
        The CSV and sidecar locations.
    meta : dict
        The whole sidecar as parsed.
    """

    name: str
    frame: pd.DataFrame
    observables: tuple[str, ...]
    conditions: tuple[str, ...]
    uncertainty: dict[str, str] = field(default_factory=dict)
    uncertainty_kind: dict[str, str] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    source: DatasetSource = field(default_factory=lambda: DatasetSource("", ""))
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def cells(self) -> tuple[str, ...]:
        """Cell ids in order of first appearance."""
        return tuple(pd.unique(self.frame["cell"]))

    def observations(self, observable: str) -> pd.DataFrame:
        """The rows where ``observable`` was measured.

        Parameters
        ----------
        observable : str
            Canonical observable name, e.g. ``"v_rest_mV"``.

        Returns
        -------
        pandas.DataFrame
            Columns ``cell``, the conditions, the observable, and its uncertainty
            and sample-size columns if any; canonical units.

        Raises
        ------
        DataError
            If the dataset has no such observable.
        """
        if observable not in self.observables:
            raise DataError(f"dataset {self.name!r} has no observable {observable!r}; "
                            f"it has {list(self.observables)}")
        cols = ["cell", *self.conditions, observable]
        if observable in self.uncertainty:
            cols.append(self.uncertainty[observable])
        cols += [c for c in (f"n_{observable}", "n") if c in self.frame.columns]
        return self.frame.loc[self.frame[observable].notna(), cols]

    def summary(self) -> str:
        """A short human-readable description of the content, units and origin."""
        f = self.frame
        lines = [f"dataset {self.name!r}: {len(f)} rows, {len(self.cells)} cell(s)",
                 f"  source: {self.source.csv}"]
        for obs in self.observables:
            q = OBSERVABLES[obs]
            v = f[obs].dropna()
            extra = ""
            if obs in self.uncertainty:
                extra = f", with {self.uncertainty_kind[obs]} ({self.uncertainty[obs]})"
            lines.append(f"  observable {obs} [{q.unit}]: {len(v)} values, "
                         f"{v.min():.4g} .. {v.max():.4g}{extra}")
        for cond in self.conditions:
            vals = pd.unique(f[cond])
            shown = ", ".join(str(x) if isinstance(x, str) else f"{x:g}" for x in vals[:8])
            more = " ..." if len(vals) > 8 else ""
            lines.append(f"  condition {cond} [{QUANTITIES[cond].unit or 'category'}]: "
                         f"{shown}{more}")
        prov = self.provenance
        origin = prov.get("citation") or prov.get("lab") or prov.get("generator", "")
        lines.append(f"  provenance: {origin}")
        return "\n".join(lines)


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------
def _where(row0: int) -> str:
    return (f"data row {row0 + 1} (1-based, header not counted; line {row0 + 2} "
            "of the file)")


def _cell_error(label: str, mask: np.ndarray, column: str, raw: pd.Series, problem: str,
                expected: str, note: str = "") -> DataError:
    """A DataError naming the first row where ``mask`` is true."""
    bad = np.flatnonzero(mask)
    first = int(bad[0])
    more = f" ({len(bad) - 1} more row(s) like this)" if len(bad) > 1 else ""
    tail = f"; {note}" if note else ""
    return DataError(f"{label}: {_where(first)}, column {column!r}: {problem}: got "
                     f"{raw.iloc[first]!r}, expected {expected}{more}{tail}")


# --------------------------------------------------------------------------------------
# Sidecar
# --------------------------------------------------------------------------------------
class _Col(NamedTuple):
    csv: str
    role: str
    quantity: str | None
    unit: str
    of: str | None
    kind: str | None


def _decode(data: bytes, label: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise DataError(
            f"{label}: line {line}, byte {err.start}: not valid UTF-8 (byte "
            f"0x{data[err.start]:02x}); save the file with UTF-8 encoding "
            "(e.g. 'CSV UTF-8' in a spreadsheet program)") from None


def _reject_constant(token: str):
    raise ValueError(f"{token} is not allowed in a sidecar")


class _DuplicateKey(ValueError):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _json_depth(text: str) -> int:
    """Deepest nesting of ``[``/``{`` outside strings (a cheap pre-parse scan)."""
    depth = deepest = 0
    in_str = escaped = False
    for ch in text:
        if in_str:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


#: Deepest nesting of objects/arrays a sidecar may have (real sidecars use 3).
MAX_SIDECAR_DEPTH = 32


def _parse_sidecar(text: str, label: str) -> dict[str, Any]:
    if _json_depth(text) > MAX_SIDECAR_DEPTH:
        raise DataError(f"{label}: JSON objects/arrays nested more than {MAX_SIDECAR_DEPTH} "
                        "levels deep; a sidecar needs 3")
    try:
        meta = json.loads(text, parse_constant=_reject_constant,
                          object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as err:
        raise DataError(f"{label}: invalid JSON at line {err.lineno}, column {err.colno}: "
                        f"{err.msg}") from None
    except _DuplicateKey as err:
        raise DataError(f"{label}: duplicate key {err.args[0]!r} in a JSON object (the "
                        "sidecar must give every key once)") from None
    except RecursionError:
        raise DataError(f"{label}: JSON nested too deeply") from None
    except ValueError as err:
        raise DataError(f"{label}: invalid JSON: {err}") from None
    if not isinstance(meta, dict):
        raise DataError(f"{label}: the sidecar must be a JSON object, got "
                        f"{type(meta).__name__}")
    return meta


def _sidecar_columns(meta: dict[str, Any], label: str) -> list[_Col]:
    unknown = sorted(set(meta) - set(SIDECAR_KEYS))
    if unknown:
        raise DataError(f"{label}: unknown top-level key(s) {unknown}; allowed: "
                        f"{sorted(SIDECAR_KEYS)}")
    missing = [k for k, req in SIDECAR_KEYS.items() if req and k not in meta]
    if missing:
        raise DataError(f"{label}: missing required key(s) {missing}")
    if not isinstance(meta["name"], str) or not meta["name"].strip():
        raise DataError(f"{label}: key 'name' must be a non-empty string, got {meta['name']!r}")
    prov = meta["provenance"]
    if not isinstance(prov, dict) or not any(k in prov for k in _PROVENANCE_ANY):
        raise DataError(f"{label}: key 'provenance' must be an object with at least one of "
                        f"{list(_PROVENANCE_ANY)}, got {prov!r}")
    columns = meta["columns"]
    if not isinstance(columns, dict) or not columns:
        raise DataError(f"{label}: key 'columns' must be a non-empty object mapping CSV "
                        "column names to their description")

    cols: list[_Col] = []
    for name, entry in columns.items():
        where = f"{label}: columns.{name}"
        if not isinstance(entry, dict):
            raise DataError(f"{where}: must be an object with a 'role', got {entry!r}")
        role = entry.get("role")
        if role not in ROLES:
            raise DataError(f"{where}: unknown role {role!r}; allowed: {list(ROLES)}")
        required, optional = _COLUMN_KEYS[role]
        keys = set(entry) - {"role"}
        if required - keys:
            raise DataError(f"{where}: role {role!r} needs key(s) {sorted(required - keys)}")
        if keys - required - optional:
            raise DataError(f"{where}: unknown key(s) {sorted(keys - required - optional)} "
                            f"for role {role!r}; allowed: {sorted(required | optional)}")
        quantity, unit, of, kind = entry.get("quantity"), entry.get("unit", ""), None, None
        if role in ("observable", "condition"):
            table = OBSERVABLES if role == "observable" else CONDITIONS
            if quantity not in table:
                other = "condition" if quantity in CONDITIONS else (
                    "observable" if quantity in OBSERVABLES else None)
                hint = f" ({quantity!r} is a {other})" if other else ""
                raise DataError(f"{where}: unknown {role} quantity {quantity!r}{hint}; "
                                f"allowed: {sorted(table)}")
            if unit not in accepted_units(quantity):
                raise DataError(f"{where}: unknown unit {unit!r} for {quantity}; accepted: "
                                f"{list(accepted_units(quantity))}")
        elif role == "id":
            quantity = quantity or ("cell" if name == meta.get("cell_column") else "recording")
            if quantity not in ID_QUANTITIES:
                raise DataError(f"{where}: unknown id quantity {quantity!r}; allowed: "
                                f"{list(ID_QUANTITIES)}")
        elif role == "uncertainty":
            of, kind = entry["of"], entry["kind"]
            if kind not in UNCERTAINTY_KINDS:
                raise DataError(f"{where}: unknown uncertainty kind {kind!r}; allowed: "
                                f"{list(UNCERTAINTY_KINDS)}")
        elif role == "n":
            of = entry.get("of")
        cols.append(_Col(name, role, quantity, unit, of, kind))

    # Duplicates and cross references.
    seen: dict[str, str] = {}
    for c in cols:
        if c.quantity is not None:
            if c.quantity in seen:
                raise DataError(f"{label}: columns {seen[c.quantity]!r} and {c.csv!r} both "
                                f"declare quantity {c.quantity!r}; each quantity may appear once")
            seen[c.quantity] = c.csv
    obs_cols = {c.csv: c for c in cols if c.role == "observable"}
    if not obs_cols:
        raise DataError(f"{label}: no column has role 'observable'; a dataset needs at least one")
    by_quantity = {c.quantity: c for c in obs_cols.values()}
    resolved = []
    targets: dict[tuple[str, str], str] = {}
    for c in cols:
        if c.role in ("uncertainty", "n") and c.of is not None:
            target = obs_cols.get(c.of) or by_quantity.get(c.of)
            if target is None:
                raise DataError(f"{label}: columns.{c.csv}: 'of' is {c.of!r}, which is not an "
                                f"observable column; observable columns: {sorted(obs_cols)}")
            key = (c.role, target.quantity)
            if key in targets:
                raise DataError(f"{label}: columns {targets[key]!r} and {c.csv!r} are both "
                                f"the {c.role} of {target.quantity!r}")
            targets[key] = c.csv
            if c.role == "uncertainty" and c.unit not in accepted_units(target.quantity):
                raise DataError(f"{label}: columns.{c.csv}: unknown unit {c.unit!r} for the "
                                f"uncertainty of {target.quantity}; accepted: "
                                f"{list(accepted_units(target.quantity))}")
            c = c._replace(of=target.quantity, quantity=None)
        resolved.append(c)

    cell_column = meta.get("cell_column")
    if cell_column is not None:
        match = [c for c in resolved if c.csv == cell_column]
        if not match or match[0].role != "id":
            raise DataError(f"{label}: cell_column {cell_column!r} must name a column with "
                            "role 'id' in 'columns'")
        if match[0].quantity != "cell":
            raise DataError(f"{label}: columns.{cell_column}: the cell column's quantity must "
                            f"be 'cell', got {match[0].quantity!r}")
    elif any(c.role == "id" and c.quantity == "cell" for c in resolved):
        raise DataError(f"{label}: a column has id quantity 'cell' but 'cell_column' is not set")
    return resolved


def _constants(meta: dict[str, Any], cols: list[_Col], label: str) -> dict[str, Any]:
    """Dataset-wide conditions from the sidecar's ``constants`` block, canonical units."""
    raw = meta.get("constants", {})
    if not isinstance(raw, dict):
        raise DataError(f"{label}: key 'constants' must be an object, got {raw!r}")
    in_columns = {c.quantity for c in cols}
    out: dict[str, Any] = {}
    for q, entry in raw.items():
        where = f"{label}: constants.{q}"
        if q not in CONDITIONS:
            raise DataError(f"{where}: unknown condition quantity {q!r}; allowed: "
                            f"{sorted(CONDITIONS)}")
        if q in in_columns:
            raise DataError(f"{where}: {q!r} is also a CSV column; give it in one place only")
        if not isinstance(entry, dict) or set(entry) - {"value", "unit", "description"} \
                or "value" not in entry:
            raise DataError(f"{where}: must be an object {{\"value\": ..., \"unit\": ...}}, "
                            f"got {entry!r}")
        unit, value = entry.get("unit", ""), entry["value"]
        quantity = CONDITIONS[q]
        if quantity.dimension == "categorical":
            if value not in FXYD_STATES:
                raise DataError(f"{where}: got {value!r}, expected one of {list(FXYD_STATES)}")
            out[q] = value
            continue
        if unit not in accepted_units(q):
            raise DataError(f"{where}: unknown unit {unit!r}; accepted: {list(accepted_units(q))}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise DataError(f"{where}: value must be a number, got {value!r}")
        canon = float(to_canonical(float(value), q, unit))
        if not _in_range(np.array([canon]), quantity)[0]:
            raise DataError(f"{where}: value out of range: got {value!r} {unit}, expected "
                            f"{quantity.range_text()}{_unit_hint(quantity, unit, [value])}")
        out[q] = canon
    return out


# --------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------
#: Longest CSV field accepted (the limit of Python's csv module).
MAX_FIELD_CHARS = 131_072


def _check_text(text: str, label: str) -> None:
    """File-level hazards of a CSV text: NUL bytes and old-Mac (CR-only) line endings."""
    nul = text.find("\x00")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        raise DataError(f"{label}: line {line}: contains a NUL byte (0x00); iongrad reads "
                        "plain-text CSV (is this a binary or corrupted file?)")
    if "\r" in text and "\n" not in text.rstrip("\r"):
        raise DataError(f"{label}: the lines end in CR only (classic Mac line endings); save "
                        "the file with LF or CRLF line endings (e.g. 'CSV UTF-8' in a "
                        "spreadsheet program)")


def _read_table(text: str, label: str, cols: list[_Col]) -> pd.DataFrame:
    if not text.strip():
        raise DataError(f"{label}: the file is empty (expected a header line and data rows)")
    _check_text(text, label)
    try:
        header = [h.strip() for h in next(csv.reader(io.StringIO(text)))]
    except csv.Error as err:
        detail = str(err)
        if "field larger than field limit" in detail:
            detail = f"a field is longer than {MAX_FIELD_CHARS} characters (an unclosed quote?)"
        raise DataError(f"{label}: line 1: cannot parse the header: {detail}") from None
    declared = [c.csv for c in cols]
    if len(header) == 1 and len(declared) > 1:
        for delim, what in ((";", "semicolon"), ("\t", "tab"), ("|", "pipe")):
            if delim in header[0]:
                raise DataError(
                    f"{label}: line 1: the header looks {what}-separated ({header[0]!r}); "
                    "iongrad reads comma-separated files: save as CSV with ',' as the "
                    "delimiter (and '.' as the decimal mark)")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise DataError(f"{label}: line 1: duplicate column name(s) {dupes}")
    missing = [d for d in declared if d not in header]
    if missing:
        raise DataError(f"{label}: column(s) {missing} described in the sidecar are missing "
                        f"from the CSV header {header}")
    extra = [h for h in header if h not in declared]
    if extra:
        raise DataError(f"{label}: CSV column(s) {extra} are not described in the sidecar's "
                        "'columns'; describe them (role 'note' for free text) or delete them")
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False,
                         skip_blank_lines=False)
    except (pd.errors.ParserError, ValueError) as err:
        detail = " ".join(str(err).split())
        raise DataError(f"{label}: cannot parse as comma-separated values (line numbers count "
                        f"the header as line 1): {detail}") from None
    df.columns = header
    if len(df) == 0:
        raise DataError(f"{label}: the file has a header but no data rows")
    for col in df.columns:
        lengths = df[col].astype(str).str.len()
        if int(lengths.max()) > MAX_FIELD_CHARS:
            row0 = int(np.flatnonzero(lengths.to_numpy() > MAX_FIELD_CHARS)[0])
            raise DataError(f"{label}: {_where(row0)}, column {col!r}: the field is "
                            f"{int(lengths.iloc[row0])} characters long; at most "
                            f"{MAX_FIELD_CHARS} (an unclosed quote?)")
    return df.apply(lambda s: s.fillna("").astype(str).str.strip())


def _in_range(x: np.ndarray, q: Quantity) -> np.ndarray:
    lo_ok = (x >= q.low) if q.low_inclusive else (x > q.low)
    return lo_ok & ((x <= q.high) if q.high_inclusive else (x < q.high))


def _unit_hint(q: Quantity, unit: str, raw_values) -> str:
    """A guess at the unit mistake behind out-of-range values, or ''."""
    v = np.abs(np.asarray(raw_values, dtype=float))
    if q.dimension == "potential" and unit == "V" and np.all(v > 1.0):
        return "; the values look like mV while the unit says V"
    if q.dimension == "temperature" and unit == "K" and np.all(v < 60.0):
        return "; the values look like degrees Celsius: declare \"unit\": \"degC\""
    if q.dimension == "temperature" and unit in ("degC", "°C") and np.all(v > 200.0):
        return "; the values look like kelvin: declare \"unit\": \"K\""
    if q.dimension == "concentration" and unit in ("mM", "mmol/L") and np.all(v > 2000.0):
        return "; the values look like µM: declare \"unit\": \"uM\""
    return ""


def _numeric(raw: pd.Series, column: str, label: str, *, allow_blank: bool,
             what: str) -> np.ndarray:
    blank = (raw == "").to_numpy()
    values = pd.to_numeric(raw.where(~blank, "0"), errors="coerce").to_numpy(dtype=float,
                                                                         copy=True)
    bad = np.isnan(values) & ~blank
    if bad.any():
        raise _cell_error(label, bad, column, raw, "not a number", what,
                          "leave the cell empty when a value was not measured")
    if np.isinf(values).any():
        raise _cell_error(label, np.isinf(values), column, raw, "not finite", what)
    if not allow_blank and blank.any():
        raise _cell_error(label, blank, column, raw, "empty cell", what,
                          "this column may not have missing values")
    values[blank] = np.nan
    return values


def _quantity_values(raw: pd.Series, col: _Col, label: str, *, allow_blank: bool) -> np.ndarray:
    """Parse, convert to canonical and range-check one observable/condition column."""
    q = QUANTITIES[col.quantity]
    expected = f"a number in {col.unit} ({q.description})"
    x = _numeric(raw, col.csv, label, allow_blank=allow_blank, what=expected)
    canon = to_canonical(x, q.name, col.unit)
    present = ~np.isnan(canon)
    if q.dimension == "potential" and present.any() and np.all(np.abs(canon[present]) < 0.3):
        raise _cell_error(
            label, present, col.csv, raw, "the values look like volts",
            f"potentials in {col.unit} (e.g. -70 for -70 mV)",
            f"every value has |V| < 0.3 {q.unit} while the sidecar declares unit "
            f"{col.unit!r}: declare \"unit\": \"V\" or convert to mV")
    bad = present & ~_in_range(np.where(present, canon, 0.0), q)
    if bad.any():
        scale = UNITS[q.dimension][col.unit]
        lo = (q.low - (canon - x * scale)[bad][0]) / scale if np.isfinite(q.low) else q.low
        hi = (q.high - (canon - x * scale)[bad][0]) / scale if np.isfinite(q.high) else q.high
        exp = (f"{'>=' if q.low_inclusive else '>'} {lo:g} and "
               f"{'<=' if q.high_inclusive else '<'} {hi:g} {col.unit}")
        if col.unit != q.unit:
            exp += f" ({q.range_text()})"
        raise _cell_error(label, bad, col.csv, raw, f"{q.description} out of range", exp,
                          _unit_hint(q, col.unit, x[bad]).lstrip("; "))
    return canon


def _build(df: pd.DataFrame, cols: list[_Col], constants: dict[str, Any],
           meta: dict[str, Any], label: str) -> tuple[pd.DataFrame, dict, dict]:
    n_rows = len(df)
    out: dict[str, Any] = {}
    cell_col = meta.get("cell_column")
    if cell_col is None:
        out["cell"] = np.full(n_rows, SINGLE_CELL_ID, dtype=object)
    unc, unc_kind = {}, {}
    obs_present: dict[str, np.ndarray] = {}

    for c in cols:
        raw = df[c.csv]
        if c.role == "id":
            blank = (raw == "").to_numpy()
            if blank.any():
                raise _cell_error(label, blank, c.csv, raw, "empty id",
                                  f"a non-empty {c.quantity} id")
            out[c.quantity] = raw.to_numpy(dtype=object)
        elif c.role == "condition" and c.quantity == "fxyd_state":
            norm = raw.str.lower()
            bad = ~norm.isin(FXYD_STATES).to_numpy()
            if bad.any():
                raise _cell_error(label, bad, c.csv, raw, "unknown FXYD state",
                                  f"one of {list(FXYD_STATES)}")
            out[c.quantity] = norm.to_numpy(dtype=object)
        elif c.role == "condition":
            out[c.quantity] = _quantity_values(raw, c, label, allow_blank=False)
        elif c.role == "observable":
            values = _quantity_values(raw, c, label, allow_blank=True)
            present = ~np.isnan(values)
            if not present.any():
                raise DataError(f"{label}: column {c.csv!r} ({c.quantity}) has no values; "
                                "remove it from the CSV and the sidecar")
            out[c.quantity] = values
            obs_present[c.quantity] = present

    any_obs = np.logical_or.reduce(list(obs_present.values()))
    if not any_obs.all():
        first_obs = next(c for c in cols if c.role == "observable")
        raise _cell_error(label, ~any_obs, first_obs.csv, df[first_obs.csv],
                          "row has no observed value in any observable column",
                          "at least one measured value per row (remove empty rows)")

    for c in cols:
        raw = df[c.csv]
        if c.role == "uncertainty":
            present = obs_present[c.of]
            q = QUANTITIES[c.of]
            what = f"a positive {c.kind} in {c.unit} of {c.of}"
            x = _numeric(raw, c.csv, label, allow_blank=True, what=what)
            have = ~np.isnan(x)
            if (present & ~have).any():
                raise _cell_error(label, present & ~have, c.csv, raw,
                                  f"{c.kind} missing for a measured {c.of}", what)
            if (have & ~present).any():
                raise _cell_error(label, have & ~present, c.csv, raw,
                                  f"{c.kind} given where {c.of} is empty", "an empty cell")
            if (have & ~(np.where(have, x, 1.0) > 0)).any():
                raise _cell_error(label, have & ~(np.where(have, x, 1.0) > 0), c.csv, raw,
                                  f"{c.kind} must be positive", what)
            name = f"{c.of}_{c.kind}"
            out[name] = to_canonical(x, q.name, c.unit, dispersion=True)
            unc[c.of], unc_kind[c.of] = name, c.kind
        elif c.role == "n":
            present = obs_present[c.of] if c.of else any_obs
            what = "a whole number >= 1 (sample size)"
            x = _numeric(raw, c.csv, label, allow_blank=True, what=what)
            have = ~np.isnan(x)
            if (present & ~have).any():
                raise _cell_error(label, present & ~have, c.csv, raw,
                                  "sample size missing for a measured value", what)
            xs = np.where(have, x, 1.0)
            bad = have & ~((xs >= 1) & (np.mod(xs, 1.0) == 0))
            if bad.any():
                raise _cell_error(label, bad, c.csv, raw, "invalid sample size", what)
            out[f"n_{c.of}" if c.of else "n"] = x
        elif c.role == "note":
            if c.csv in QUANTITIES or c.csv in ("cell", "recording", "n"):
                raise DataError(f"{label}: columns.{c.csv}: a note column may not use the "
                                "canonical name of a quantity; rename it")
            out[c.csv] = raw.to_numpy(dtype=object)

    for q, value in constants.items():
        out[q] = np.full(n_rows, value, dtype=object if isinstance(value, str) else float)

    # Column order: cell, recording, conditions, observables, uncertainty, n, notes.
    cond_names = [q for q in CONDITIONS if q in out]
    obs_names = [q for q in OBSERVABLES if q in out]
    n_names = [k for k in out if k == "n" or k.startswith("n_")]
    first = ["cell", "recording", *cond_names, *obs_names,
             *(unc[q] for q in obs_names if q in unc), *n_names]
    order = [k for k in first if k in out] + [k for k in out if k not in first]
    frame = pd.DataFrame({k: out[k] for k in order},
                         index=pd.RangeIndex(1, n_rows + 1, name="data_row"))
    frame["cell"] = frame["cell"].astype(str)
    return frame, unc, unc_kind


def load_dataset_bytes(csv_bytes: bytes, sidecar_bytes: bytes, *, csv_label: str,
                       sidecar_label: str) -> Dataset:
    """Validate and load a dataset given the raw bytes of its CSV and sidecar.

    Parameters
    ----------
    csv_bytes, sidecar_bytes : bytes
        File contents (UTF-8).
    csv_label, sidecar_label : str
        Names used in error messages and recorded as :attr:`Dataset.source`.

    Returns
    -------
    Dataset

    Raises
    ------
    DataError
        For any problem; the message names the file, row and column.
    """
    meta = _parse_sidecar(_decode(sidecar_bytes, sidecar_label), sidecar_label)
    cols = _sidecar_columns(meta, sidecar_label)
    constants = _constants(meta, cols, sidecar_label)
    df = _read_table(_decode(csv_bytes, csv_label), csv_label, cols)
    frame, unc, unc_kind = _build(df, cols, constants, meta, csv_label)
    observables = tuple(q for q in OBSERVABLES if q in frame.columns)
    conditions = tuple(q for q in CONDITIONS if q in frame.columns)
    return Dataset(name=meta["name"], frame=frame, observables=observables,
                   conditions=conditions, uncertainty=unc, uncertainty_kind=unc_kind,
                   provenance=dict(meta["provenance"]),
                   source=DatasetSource(csv_label, sidecar_label), meta=meta)


def load_dataset(csv_path: str | Path, sidecar_path: str | Path | None = None) -> Dataset:
    """Load a dataset (CSV + JSON sidecar), validate it and convert it to canonical units.

    Parameters
    ----------
    csv_path : str or Path
        The tidy CSV file (comma-separated, UTF-8, one header line).
    sidecar_path : str or Path, optional
        The JSON sidecar; default: ``csv_path`` with the suffix ``.json``.

    Returns
    -------
    Dataset
        Frozen; ``frame`` in canonical units (mV, MΩ, mM, pA, K, molecules/s, s).

    Raises
    ------
    DataError
        If a file is missing, not UTF-8, not valid CSV/JSON, or any column, unit or
        value is invalid. The one-line message names the file, the data row (1-based,
        header not counted; the file line is one more) and the column, the offending
        value and what was expected.

    Examples
    --------
    >>> ds = load_dataset("my_cells.csv")            # doctest: +SKIP
    >>> ds.observations("v_rest_mV").head()          # doctest: +SKIP
    """
    csv_path = Path(csv_path)
    sidecar = Path(sidecar_path) if sidecar_path is not None else csv_path.with_suffix(".json")
    if _file_kind(csv_path) == "missing":
        raise DataError(f"{csv_path}: no such data file")
    _require_regular(csv_path, "data file")
    if _file_kind(sidecar) == "missing":
        raise DataError(f"{sidecar}: sidecar not found; every CSV needs a JSON sidecar "
                        f"describing its columns (default: {csv_path.stem}.json next to the CSV)")
    _require_regular(sidecar, "sidecar")
    return load_dataset_bytes(_read(csv_path), _read(sidecar),
                              csv_label=str(csv_path), sidecar_label=str(sidecar))


def _file_kind(path: Path) -> str:
    """``"file"``, ``"dir"``, ``"special"`` (FIFO, device, socket), ``"loop"`` or ``"missing"``."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return "loop" if exc.errno == errno.ELOOP else "missing"
    if stat.S_ISREG(mode):
        return "file"
    return "dir" if stat.S_ISDIR(mode) else "special"


def _require_regular(path: Path, what: str) -> None:
    kind = _file_kind(path)
    if kind == "dir":
        raise DataError(f"{path}: is a directory, expected a {what}")
    if kind == "loop":
        raise DataError(f"{path}: symlink loop, expected a {what}")
    if kind == "special":
        raise DataError(f"{path}: not a regular file (a FIFO, device or socket); expected a "
                        f"{what}")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read it ({exc.strerror or type(exc).__name__})") from None


def save_dataset(dataset: Dataset, csv_path: str | Path,
                 sidecar_path: str | Path | None = None) -> tuple[Path, Path]:
    """Write a dataset as a CSV + sidecar in canonical names and units.

    Loading the written files gives back the same frame (floats are written with
    full precision). Sidecar constants become ordinary condition columns.

    Parameters
    ----------
    dataset : Dataset
        A loaded dataset.
    csv_path : str or Path
        Target CSV file.
    sidecar_path : str or Path, optional
        Target sidecar; default: ``csv_path`` with the suffix ``.json``.

    Returns
    -------
    (csv_path, sidecar_path) : tuple of Path
    """
    csv_path = Path(csv_path)
    sidecar = Path(sidecar_path) if sidecar_path is not None else csv_path.with_suffix(".json")
    unc_cols = {col: obs for obs, col in dataset.uncertainty.items()}
    columns: dict[str, dict[str, Any]] = {}
    for col in dataset.frame.columns:
        if col in ID_QUANTITIES:
            columns[col] = {"role": "id", "quantity": col}
        elif col in CONDITIONS:
            columns[col] = {"role": "condition", "quantity": col}
            if CONDITIONS[col].unit:
                columns[col]["unit"] = CONDITIONS[col].unit
        elif col in OBSERVABLES:
            columns[col] = {"role": "observable", "quantity": col, "unit": OBSERVABLES[col].unit}
        elif col in unc_cols:
            obs = unc_cols[col]
            columns[col] = {"role": "uncertainty", "of": obs,
                            "kind": dataset.uncertainty_kind[obs],
                            "unit": OBSERVABLES[obs].unit}
        elif col == "n":
            columns[col] = {"role": "n"}
        elif col.startswith("n_") and col[2:] in OBSERVABLES:
            columns[col] = {"role": "n", "of": col[2:]}
        else:
            columns[col] = {"role": "note"}
    meta = {k: dataset.meta[k] for k in ("name", "description", "notes") if k in dataset.meta}
    meta.update(name=dataset.name, provenance=dataset.provenance, cell_column="cell",
                columns=columns)
    frame = dataset.frame.copy()
    for col, spec in columns.items():
        if spec["role"] == "n":
            frame[col] = frame[col].astype("Int64")
    csv_path.write_text(frame.to_csv(index=False, na_rep="", lineterminator="\n"),
                        encoding="utf-8")
    sidecar.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return csv_path, sidecar
