"""What common readers make of headwater's NULL and empty string, with their defaults.

The table in formats/csv.py's docstring (and the XML and xlsx notes in theirs) is held to
the real readers here. From their documentation:

DuckDB read_csv (duckdb.org/docs/stable/data/csv/overview, "Parameters"):
    allow_quoted_nulls  "Option to allow the conversion of quoted values to NULL values"
                        BOOL, default true
    nullstr             "Specifies the string that represents a NULL value or (since
                        v0.10.2) a list of strings that represent a NULL value", default ''
pandas.read_csv (pandas.pydata.org/docs/reference/api/pandas.read_csv.html):
    na_values           "By default the following values are interpreted as NaN: '',
                        '#N/A', '#N/A N/A', '#NA', '-1.#IND', '-1.#QNAN', '-NaN', '-nan',
                        '1.#IND', '1.#QNAN', '<NA>', 'N/A', 'NA', 'NULL', 'NaN', 'None',
                        'n/a', 'nan', 'null'."
    keep_default_na     "Whether or not to include the default NaN values when parsing"
pyarrow.csv.ConvertOptions (arrow.apache.org/docs/python):
    strings_can_be_null "Whether string / binary columns can have null values. If true,
                        then strings in null_values are considered null for string
                        columns. If false, then all strings are valid string values."
                        default False
    quoted_strings_can_be_null  "Whether quoted values can be null. If true, then strings
                        in 'null_values' are also considered null when they appear quoted
                        in the CSV file. Otherwise, quoted values are never considered
                        null." default True
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pytest

from headwater.sinks.files.formats import writer_for
from headwater.sinks.files.publish import Manifest, PublishedFile
from headwater.verify.files import read_xlsx, read_xml

TEXT = pa.table({"id": [1, 2, 3], "s": [None, "", "x"]})


def _csv(tmp_path: Path, options: dict[str, Any] | None = None) -> Path:
    path = tmp_path / "t.csv"
    out = io.BytesIO()
    w = writer_for("csv", out, TEXT.schema, options or {})
    w.write(TEXT)
    w.close()
    path.write_bytes(out.getvalue())
    return path


def _sql(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return "'" + str(value).replace("'", "''") + "'"


def _duck(path: Path, **options: Any) -> list[Any]:
    args = "".join(f", {k} = {_sql(v)}" for k, v in options.items())
    rows = duckdb.sql(f"SELECT s FROM read_csv('{path}'{args}) ORDER BY id").fetchall()
    return [r[0] for r in rows]


def _pandas(path: Path, **options: Any) -> list[Any]:
    return _pandas_values(pd.read_csv(path, **options)["s"])


def test_the_default_spelling_is_postgresql_copys(tmp_path: Path) -> None:
    assert _csv(tmp_path).read_text() == 'id,s\n1,\n2,""\n3,x\n'


def test_duckdb_defaults_read_null_exactly_and_the_empty_string_as_null(tmp_path: Path) -> None:
    path = _csv(tmp_path)
    assert _duck(path) == [None, None, "x"]
    assert _duck(path, allow_quoted_nulls=False) == [None, "", "x"]


def test_pandas_defaults_read_both_as_nan_and_cannot_tell_them_apart(tmp_path: Path) -> None:
    path = _csv(tmp_path)
    assert _pandas(path) == [None, None, "x"]
    assert _pandas(path, keep_default_na=False) == ["", "", "x"]


def test_pyarrow_reads_both_exactly_when_quoted_strings_cannot_be_null(tmp_path: Path) -> None:
    path = _csv(tmp_path)
    assert pa_csv.read_csv(path)["s"].to_pylist() == ["", "", "x"]
    exact = pa_csv.ConvertOptions(strings_can_be_null=True, quoted_strings_can_be_null=False)
    assert pa_csv.read_csv(path, convert_options=exact)["s"].to_pylist() == [None, "", "x"]


def test_a_null_token_keeps_the_empty_string_unquoted_for_duckdb(tmp_path: Path) -> None:
    path = _csv(tmp_path, {"null": "\\N"})
    assert path.read_text() == "id,s\n1,\\N\n2,\n3,x\n"
    assert _duck(path, nullstr="\\N") == [None, "", "x"]
    assert _duck(path) == ["\\N", None, "x"]  # DuckDB's defaults: the token is text
    assert _pandas(path) == ["\\N", None, "x"]  # \N is not among pandas' NaN values
    assert _pandas(path, na_values=["\\N"], keep_default_na=False) == [None, "", "x"]


@pytest.mark.parametrize(
    ("options", "spelled"),
    [
        ({}, {"null": "", "empty_string": '""', "encoding": "utf-8"}),
        ({"null": "NULL"}, {"null": "NULL", "empty_string": "", "encoding": "utf-8"}),
    ],
)
def test_the_manifest_records_the_spellings(
    tmp_path: Path, options: dict[str, Any], spelled: dict[str, str]
) -> None:
    f = PublishedFile(tmp_path / "t.csv", "csv", TEXT.schema, options)
    f.write(TEXT)
    entry = Manifest(tmp_path).add(f.publish()).files[0]
    assert entry["conventions"] == spelled


# -- XML and Excel: the file tells NULL from '', common readers do not -----------------------


def _written(fmt: str, table: pa.Table, options: dict[str, Any] | None = None) -> bytes:
    out = io.BytesIO()
    w = writer_for(fmt, out, table.schema, options or {})
    w.write(table)
    w.close()
    return out.getvalue()


@pytest.mark.parametrize("style", ["elements", "attributes"])
def test_xml_spells_null_and_empty_apart_which_pandas_read_xml_reads_as_nan(
    tmp_path: Path, style: str
) -> None:
    path = tmp_path / "t.xml"
    path.write_bytes(_written("xml", TEXT, {"style": style}))
    text = path.read_text()
    assert ('<s xsi:nil="true"/>' in text and "<s></s>" in text) or (
        '<row id="1"/>' in text and 's=""' in text
    )
    assert _pandas_values(pd.read_xml(path)["s"]) == [None, None, "x"]
    assert read_xml(path)["s"].to_pylist() == [None, "", "x"]  # what verify reads


def test_xlsx_keeps_an_empty_text_cell_which_openpyxl_and_pandas_read_as_empty(
    tmp_path: Path,
) -> None:
    import datetime as dt

    seen = dt.datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=dt.UTC)
    table = TEXT.append_column("seen", pa.array([seen] * 3, pa.timestamp("us", tz="UTC")))
    path = tmp_path / "t.xlsx"
    path.write_bytes(_written("xlsx", table))
    assert _pandas_values(pd.read_excel(path)["s"]) == [None, None, "x"]
    # openpyxl turns Excel's serial day numbers into datetimes to the millisecond
    assert pd.read_excel(path)["seen"][0].to_pydatetime() == seen.replace(
        microsecond=123000, tzinfo=None
    )
    back = read_xlsx(path)
    assert back["s"].to_pylist() == [None, "", "x"]  # what verify reads
    assert abs(back["seen"][0].as_py() - seen.replace(tzinfo=None)) < dt.timedelta(milliseconds=1)


def _pandas_values(series: Any) -> list[Any]:
    return [None if isinstance(v, float) and math.isnan(v) else v for v in series.tolist()]
