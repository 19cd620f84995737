"""Arrow schemas for the canonical tables and the writers (Parquet, CSV, README, truth).

Tables are built as pyarrow Tables with the canonical types. The Parquet files carry pandas
metadata, so a plain ``pandas.read_parquet`` returns the canonical dtypes (string, Int64,
Float64, boolean, datetime64[ns]). Dates are stored as midnight timestamps for the same
reason; a month column is stored as the text "YYYY-MM" (portable to DuckDB and CSV).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from cityanalytics import schemas

ARROW_TYPES = {
    "str": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "percent": pa.float64(),
    "datetime": pa.timestamp("ns"),
    "date": pa.timestamp("ns"),
    "month": pa.string(),
    "bool": pa.bool_(),
}
FORMATS = ("parquet", "csv")


def arrow_schema(name: str) -> pa.Schema:
    t = schemas.table(name)
    fields = [pa.field(c.name, ARROW_TYPES[c.kind]) for c in t.columns]
    # pandas metadata from an empty canonical frame (months as text) lets read_parquet
    # restore the nullable pandas dtypes.
    empty = schemas.empty_frame(name)
    for c in t.columns:
        if c.kind == "month":
            empty[c.name] = empty[c.name].astype("string")
    meta = pa.Schema.from_pandas(empty, preserve_index=False).metadata
    return pa.schema(fields, metadata=meta)


def from_pandas(name: str, df: pd.DataFrame) -> pa.Table:
    """A small pandas frame (months as Period or text) -> canonical arrow table."""
    df = df.copy()
    for c in schemas.table(name).columns:
        if c.kind == "month" and isinstance(df[c.name].dtype, pd.PeriodDtype):
            df[c.name] = df[c.name].dt.strftime("%Y-%m")
        elif c.kind in ("date", "datetime"):
            df[c.name] = pd.to_datetime(df[c.name]).astype("datetime64[ns]")
    return pa.Table.from_pandas(df, schema=arrow_schema(name), preserve_index=False)


def to_pandas(name: str, table: pa.Table) -> pd.DataFrame:
    """Canonical arrow table -> pandas frame with exactly the dtypes of schemas.DTYPES."""
    t = schemas.table(name)
    df = table.to_pandas()
    for c in t.columns:
        if c.kind == "month":
            df[c.name] = pd.PeriodIndex(df[c.name].astype(object), freq="M")
        else:
            df[c.name] = df[c.name].astype(schemas.DTYPES[c.kind])
    return df


def _csv_ready(name: str, table: pa.Table) -> pa.Table:
    # Whole seconds and plain dates read better in a spreadsheet than nanosecond stamps.
    cols = []
    for c in schemas.table(name).columns:
        col = table.column(c.name)
        if c.kind == "datetime":
            col = col.cast(pa.timestamp("s"))
        elif c.kind == "date":
            col = col.cast(pa.timestamp("s")).cast(pa.date32())
        cols.append(col)
    return pa.table(cols, names=table.column_names)


class TableWriter:
    """Writes one table to DIR/<name>.<fmt>, all at once or chunk by chunk (row groups)."""

    def __init__(self, out_dir: Path, name: str, fmt: str = "parquet"):
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
        self.name, self.fmt = name, fmt
        self.path = Path(out_dir) / f"{name}.{fmt}"
        self.schema = arrow_schema(name)
        self._writer = None
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        table = table.cast(self.schema)
        if self._writer is None:
            if self.fmt == "parquet":
                self._writer = pq.ParquetWriter(self.path, self.schema, compression="zstd",
                                                compression_level=1)
            else:
                self._writer = pacsv.CSVWriter(self.path, _csv_ready(self.name, table.slice(0, 0)).schema)
        if self.fmt == "parquet":
            self._writer.write_table(table, row_group_size=max(len(table), 1))
        else:
            self._writer.write_table(_csv_ready(self.name, table))
        self.rows += len(table)

    def close(self) -> Path:
        if self._writer is None:  # nothing written: still leave a valid empty file
            self.write(self.schema.empty_table())
        self._writer.close()
        return self.path

    def __enter__(self) -> "TableWriter":
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.close()
        elif self._writer is not None:
            self._writer.close()


def write_table(out_dir: Path, name: str, table: pa.Table, fmt: str) -> Path:
    with TableWriter(out_dir, name, fmt) as w:
        w.write(table)
    return w.path


def write_truth(out_dir: Path, truth: dict) -> Path:
    path = Path(out_dir) / "truth.json"
    path.write_text(json.dumps(truth, ensure_ascii=False, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    return path


README = """\
合成演示数据,非真实城市 / SYNTHETIC DEMO DATA - NOT A REAL CITY

{city} and all its districts, streets, towns, roads and communities are made up.
Division codes start with 99, a province prefix that GB/T 2260 does not use.
Nothing here describes any real place, person or agency.

Written by `cityanalytics demo` (seed {seed}, {n_cases} cases, format {fmt}).
Period: {start} .. {end}.

Files: one per canonical table (see cityanalytics/schemas.py):
{files}
truth.json: every parameter the data were generated from (true campaign effects,
adoption curves through 2026-12, unit-level disposal probabilities ...), for testing
estimators against the truth. Its "_doc" key explains each entry.

Notes:
- 石鼓镇 (990102101000) became 石鼓街道 (990102004000) on 2021-01-01 (撤镇设街道, see
  unit_changes); earlier rows carry the old id, districts lists both.
- Cases reported near the end of the window may still be open (no disposed_at/closed_at).
- Parquet: dates are stored as midnight timestamps; assessments.period as text YYYY-MM.
"""


def write_readme(out_dir: Path, *, seed: int, n_cases: int, fmt: str, files: dict[str, Path],
                 city: str, start: str, end: str) -> Path:
    path = Path(out_dir) / "README.txt"
    listing = "\n".join(f"  {p.name}" for p in files.values())
    path.write_text(README.format(city=city, seed=seed, n_cases=n_cases, fmt=fmt, files=listing,
                                  start=start, end=end), encoding="utf-8")
    return path
