"""What a load did with every row: the load report, and the errors that stop a load."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

REJECTION_COLUMNS = ["file", "row", "column", "value", "reason"]


class LoadError(Exception):
    """A file that cannot be used at all: unreadable, or a required column is missing.

    The message names the file, the column (where there is one) and what was expected.
    """

    def __init__(self, file: str, message: str, column: str | None = None):
        self.file = file
        self.column = column
        where = f"{file}" + (f", column {column!r}" if column else "")
        super().__init__(f"{where}: {message}")


@dataclass
class LoadReport:
    """Rows in = rows kept + rows rejected, with file, row, column, value and reason for each rejection.

    ``row`` is the row number a person sees when opening the file: 1-based, counting the
    header and any title rows above it (the record number for CSV, which is its line number
    unless a quoted value spans lines; the sheet row for Excel);
    for Parquet and SQL it is the 1-based position in the result.
    """

    source: str
    table: str
    rows_read: int = 0
    rejections: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REJECTION_COLUMNS))
    notes: list[str] = field(default_factory=list)
    column_map: dict[str, str] = field(default_factory=dict)

    @property
    def rows_rejected(self) -> int:
        if self.rejections.empty:
            return 0
        return int(self.rejections[["file", "row"]].drop_duplicates().shape[0])

    @property
    def rows_kept(self) -> int:
        return self.rows_read - self.rows_rejected

    @property
    def ok(self) -> bool:
        return self.rows_rejected == 0

    def by_reason(self) -> pd.DataFrame:
        """Rejected rows counted by column and reason."""
        if self.rejections.empty:
            return pd.DataFrame(columns=["column", "reason", "rows"])
        return (
            self.rejections.groupby(["column", "reason"], dropna=False)["row"]
            .nunique()
            .rename("rows")
            .reset_index()
            .sort_values("rows", ascending=False, ignore_index=True)
        )

    def summary(self, max_rows: int = 20) -> str:
        lines = [
            f"{self.source} -> table {self.table}",
            f"  rows read {self.rows_read}, kept {self.rows_kept}, rejected {self.rows_rejected}",
        ]
        if self.column_map:
            mapped = ", ".join(f"{k} -> {v}" for k, v in self.column_map.items() if k != v)
            if mapped:
                lines.append(f"  columns mapped: {mapped}")
        lines += [f"  note: {n}" for n in self.notes]
        if not self.rejections.empty:
            lines.append("  rejected rows by reason:")
            for r in self.by_reason().itertuples():
                lines.append(f"    {r.rows:>8}  {r.column}: {r.reason}")
            lines.append(f"  first rejections (of {len(self.rejections)}):")
            shown = self.rejections.head(max_rows)
            for r in shown.itertuples():
                lines.append(f"    {r.file} row {r.row}, column {r.column}: {r.reason} (value {r.value!r})")
        return "\n".join(lines)


@dataclass
class LoadResult:
    frame: pd.DataFrame
    report: LoadReport

    def __iter__(self):  # allows `frame, report = load(...)`
        return iter((self.frame, self.report))


# A cell starting with one of these is a formula to Excel/WPS/LibreOffice (=HYPERLINK(...),
# +cmd|..., @SUM, a tab or CR before one): CSV injection. OWASP's advice: prefix with a quote.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells cannot run as formulas when opened in a spreadsheet."""
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_object_dtype(out[column].dtype) or pd.api.types.is_string_dtype(out[column].dtype):
            out[column] = out[column].map(
                lambda v: "'" + v if isinstance(v, str) and v.startswith(FORMULA_STARTS) else v)
    return out
