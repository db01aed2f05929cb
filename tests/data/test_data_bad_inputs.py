"""Bad inputs: each raises a one-line DataError naming the file, row and column.

Row convention in messages: "data row N (1-based, header not counted; line N+1 of the file)".
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import pytest
from _data_helpers import BASE_CSV, BASE_SIDECAR, write

from iongrad.data import load_dataset
from iongrad.models.errors import DataError, IongradError


def _meta(edit=None):
    meta = copy.deepcopy(BASE_SIDECAR)
    if edit is not None:
        edit(meta)
    return meta


def _col(name, **entry):
    def edit(meta):
        meta["columns"][name].update(entry)
    return edit


@dataclass
class Case:
    id: str
    csv: str | bytes = BASE_CSV
    meta: object = None  # a callable editing the sidecar dict, or raw sidecar text
    expect: list[str] = field(default_factory=list)  # substrings of the message
    file: str = "tiny.csv"  # which file the message must name
    drop_sidecar: bool = False


ROW2 = "data row 2 (1-based, header not counted; line 3 of the file)"

CASES = [
    Case("missing column", BASE_CSV.replace(",na_sem", "").replace(",0.5\n", "\n")
         .replace(",0.4\n", "\n").replace(",,,\n", ",,\n"),
         expect=["['na_sem']", "missing from the CSV header"]),
    Case("unknown unit", meta=_col("v", unit="millivolt"),
         expect=["columns.v", "unknown unit 'millivolt'", "'mV'"], file="tiny.json"),
    Case("negative concentration", BASE_CSV.replace("a,8,310", "a,-8,310"),
         expect=[ROW2, "column 'k_o'", "'-8'", "> 0", "mM"]),
    Case("literal NaN in a condition", BASE_CSV.replace("a,8,310", "a,NaN,310"),
         expect=[ROW2, "column 'k_o'", "not a number", "'NaN'", "mM"]),
    Case("empty condition cell", BASE_CSV.replace("a,8,310", "a,,310"),
         expect=[ROW2, "column 'k_o'", "empty cell", "mM"]),
    Case("ragged row (decimal comma)", BASE_CSV.replace("-60.2", "-60,2"),
         expect=["cannot parse", "Expected 7 fields in line 3, saw 8"]),
    Case("text in an observable", BASE_CSV.replace("-60.2", "n/a"),
         expect=[ROW2, "column 'v'", "'n/a'", "mV", "leave the cell empty"]),
    Case("infinite value", BASE_CSV.replace("-60.2", "inf"),
         expect=[ROW2, "column 'v'", "not finite", "'inf'"]),
    Case("volts declared as mV",
         BASE_CSV.replace("-70.1", "-0.0701").replace("-60.2", "-0.0602")
         .replace("-71.0", "-0.0710"),
         expect=["data row 1", "column 'v'", "look like volts", "'-0.0701'", "'mV'"]),
    Case("mV declared as V", meta=_col("v", unit="V"),
         expect=["data row 1", "column 'v'", "out of range", "'-70.1'", "look like mV"]),
    Case("potential beyond 200 mV", BASE_CSV.replace("-60.2", "-260.2"),
         expect=[ROW2, "column 'v'", "out of range", "'-260.2'", "< 200 mV"]),
    Case("temperature in degC declared as K", BASE_CSV.replace(",310,", ",37,"),
         expect=["data row 1", "column 'temp'", "'37'", ">= 250", "K",
                 "degrees Celsius", "2 more row(s)"]),
    Case("temperature above the inclusive upper bound", BASE_CSV.replace(",310,", ",360,"),
         expect=["data row 1", "column 'temp'", "'360'", ">= 250 and <= 350 K"]),
    Case("micromolar declared as mM", BASE_CSV.replace("12.0,0.5", "12000,0.5")
         .replace("11.0,0.4", "11000,0.4"),
         expect=["data row 1", "column 'na'", "'12000'", "look like µM"]),
    Case("zero input resistance", BASE_CSV.replace("450", "0"),
         expect=["data row 3", "column 'rin'", "'0'", "> 0", "MOhm"]),
    Case("sem missing for a measured value", BASE_CSV.replace("11.0,0.4", "11.0,"),
         expect=["data row 3", "column 'na_sem'", "sem missing"]),
    Case("sem not positive", BASE_CSV.replace("11.0,0.4", "11.0,-0.4"),
         expect=["data row 3", "column 'na_sem'", "positive", "'-0.4'"]),
    Case("row without any observation", BASE_CSV.replace("a,8,310,-60.2,,,", "a,8,310,,,,"),
         expect=[ROW2, "no observed value"]),
    Case("empty id", BASE_CSV.replace("b,4,310", ",4,310"),
         expect=["data row 3", "column 'cell'", "empty id"]),
    Case("empty file", "", expect=["tiny.csv", "empty"]),
    Case("header only", "cell,k_o,temp,v,rin,na,na_sem\n", expect=["no data rows"]),
    Case("non-UTF-8 bytes", BASE_CSV.replace("b,4", "\u00e9,4").encode("latin-1"),
         expect=["line 4", "not valid UTF-8", "0xe9"]),
    Case("semicolon delimiter", BASE_CSV.replace(",", ";"),
         expect=["line 1", "semicolon-separated", "','"]),
    Case("CSV column not in sidecar", BASE_CSV.replace("na_sem\n", "na_sem,extra\n")
         .replace("0.5\n", "0.5,1\n").replace(",,,\n", ",,,,\n").replace("0.4\n", "0.4,2\n"),
         expect=["['extra']", "not described in the sidecar"]),
    Case("duplicate header", BASE_CSV.replace("rin,na,", "v,na,"),
         expect=["line 1", "duplicate column name", "'v'"]),
    Case("unknown role", meta=_col("rin", role="measurement"),
         expect=["columns.rin", "unknown role 'measurement'"], file="tiny.json"),
    Case("unknown quantity", meta=_col("rin", quantity="r_series_MOhm"),
         expect=["columns.rin", "unknown observable quantity 'r_series_MOhm'"],
         file="tiny.json"),
    Case("condition used as observable", meta=_col("v", quantity="k_o_mM"),
         expect=["columns.v", "'k_o_mM' is a condition"], file="tiny.json"),
    Case("duplicate quantity", meta=_col("rin", quantity="v_rest_mV", unit="mV"),
         expect=["'v'", "'rin'", "both declare quantity 'v_rest_mV'"], file="tiny.json"),
    Case("uncertainty of a non-observable", meta=_col("na_sem", of="temp"),
         expect=["columns.na_sem", "'of' is 'temp'"], file="tiny.json"),
    Case("unknown uncertainty kind", meta=_col("na_sem", kind="ci95"),
         expect=["columns.na_sem", "unknown uncertainty kind 'ci95'"], file="tiny.json"),
    Case("unknown key in a column", meta=_col("v", units="mV"),
         expect=["columns.v", "unknown key(s) ['units']"], file="tiny.json"),
    Case("invalid JSON", meta='{"name": "tiny",\n "columns": {,}}',
         expect=["invalid JSON", "line 2"], file="tiny.json"),
    Case("NaN constant in JSON", meta='{"name": NaN}',
         expect=["invalid JSON", "NaN is not allowed"], file="tiny.json"),
    Case("sidecar not an object", meta="[1, 2]",
         expect=["must be a JSON object"], file="tiny.json"),
    Case("missing provenance", meta=lambda m: m.pop("provenance"),
         expect=["missing required key(s) ['provenance']"], file="tiny.json"),
    Case("misspelt top-level key", meta=lambda m: m.update(cell_colum="cell"),
         expect=["unknown top-level key(s) ['cell_colum']"], file="tiny.json"),
    Case("cell column is not an id", meta=lambda m: m.update(cell_column="k_o"),
         expect=["cell_column 'k_o'", "role 'id'"], file="tiny.json"),
    Case("sidecar missing", drop_sidecar=True,
         expect=["sidecar not found", "tiny.json"], file="tiny.json"),
    Case("unknown FXYD state",
         BASE_CSV.replace("na_sem\n", "na_sem,fxyd\n").replace("0.5\n", "0.5,phosphorylated\n")
         .replace(",,,\n", ",,,,dephospho\n").replace("0.4\n", "0.4,phosphorylated\n"),
         meta=lambda m: m["columns"].update(fxyd={"role": "condition", "quantity": "fxyd_state"}),
         expect=[ROW2, "column 'fxyd'", "'dephospho'", "unphosphorylated"]),
    Case("constant out of range",
         meta=lambda m: m.update(constants={"na_o_mM": {"value": -145, "unit": "mM"}}),
         expect=["constants.na_o_mM", "-145", "> 0"], file="tiny.json"),
    Case("constant duplicates a column",
         meta=lambda m: m.update(constants={"k_o_mM": {"value": 4, "unit": "mM"}}),
         expect=["constants.k_o_mM", "also a CSV column"], file="tiny.json"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_raises_located_data_error(tmp_path, case):
    meta = case.meta
    if callable(meta):
        meta = _meta(meta)
    csv_path = write(tmp_path, case.csv, meta)
    if case.drop_sidecar:
        (tmp_path / "tiny.json").unlink()
    with pytest.raises(DataError) as info:
        load_dataset(csv_path)
    msg = str(info.value)
    assert "\n" not in msg, msg
    assert case.file in msg, msg
    for part in case.expect:
        assert part in msg, f"{part!r} not in {msg!r}"


def test_data_error_is_a_value_error(tmp_path):
    with pytest.raises(ValueError):
        load_dataset(write(tmp_path, ""))
    assert issubclass(DataError, IongradError)


def test_missing_csv_file(tmp_path):
    with pytest.raises(DataError, match=r"nowhere\.csv: no such data file"):
        load_dataset(tmp_path / "nowhere.csv")


def test_at_least_twelve_bad_cases():
    assert len(CASES) >= 12
