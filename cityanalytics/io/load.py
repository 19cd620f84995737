"""Load any supported source into a canonical table, accounting for every row.

    read (readers) -> map headers (headers) -> drop blank/summary rows -> parse values
    (parsing) -> resolve unit names -> validate (pandera schema from schemas) -> keep/reject

Every row read is either kept or listed in the load report with its file, row, column,
value and reason; rows read = rows kept + rows rejected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
import pandera.pandas as pa

from cityanalytics import schemas
from cityanalytics.io.derive import add_columns
from cityanalytics.io.headers import map_columns, merged_aliases, normalize_header
from cityanalytics.io.parsing import EMPTY_MARKERS, EXCEL_SERIAL_RANGE, normalize_text, parse_column
from cityanalytics.io.readers import RawSheet, read_sheets, reader_rejections
from cityanalytics.io.report import REJECTION_COLUMNS, LoadError, LoadReport, LoadResult

SUMMARY_WORDS = {"合计", "总计", "小计"}  # compared after NFKC, without spaces or a trailing colon

# pandera's names for its built-in checks, said the way a user reads them.
_PANDERA_REASONS = {
    "not_nullable": "required value is empty",
    "field_uniqueness": "duplicate {column}",
    "multiple_fields_uniqueness": "duplicate {key}",
}


def load(
    source: str | Path,
    table: str,
    *,
    sheet: str | int | None = None,
    sql: str | None = None,
    aliases: Mapping | None = None,
    value_fixes: Mapping[str, str] | None = None,
    units: pd.DataFrame | None = None,
    encoding: str | None = None,
    constants: Mapping | None = None,
    derive: Mapping | None = None,
    date_formats: Mapping[str, str] | None = None,
    decimal: str = ".",
) -> LoadResult:
    """Load ``source`` (CSV, .xlsx, Parquet file, or SQLAlchemy URL) as canonical ``table``.

    aliases: extra column names, ``{table: {column: [names]}}``, tried before the defaults.
    value_fixes: text replacements applied to text cells before validation
        (e.g. ``{"UedBet体育": "扎兰屯市"}``); each use is noted in the report.
    units: a districts table; unit names in ``unit_id`` are resolved to ids and unknown
        units are rejected.
    sheet: for Excel, one sheet (name or index); by default every sheet with a header
        for this table is loaded.
    sql: for a database URL, a query to run instead of reading the table named ``table``.
    encoding: for CSV and text files, the text encoding (e.g. ``gbk``) instead of detecting it.
    constants, derive: columns the source lacks, added before headers are mapped
        (``cityanalytics.io.derive``): ``{"category": "事件"}``, ``{"unit_id": {"column": "地址",
        "pattern": r"(\\S+?街道)"}}``.
    date_formats: explicit strptime formats per date column
        (``{"reported_at": "%m/%d/%Y %I:%M:%S %p"}``); a cell that does not match is rejected
        naming the format.
    decimal: ``","`` when numbers are written with a decimal comma (3,5 -> 3.5). With the
        default ``"."`` a comma is read only as a valid thousands grouping (1,234,567) and
        ``3,5`` is rejected with a reason.
    """
    spec = schemas.table(table)
    alias_table = merged_aliases(aliases)
    fixes = {**alias_table.get("value_fixes", {}), **(value_fixes or {})}
    report = LoadReport(source=str(source).split("@")[-1], table=table)
    options = _parse_options(spec, date_formats, decimal)

    parts, rejected = [], []
    for raw in read_sheets(source, table, alias_table, sheet=sheet, sql=sql, encoding=encoding):
        if constants or derive:
            add_columns(raw, table, constants, derive)
        frame, rows_rejected = _prepare_sheet(raw, spec, alias_table, fixes, report, options)
        parts.append(frame)
        rejected.append(rows_rejected)
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)

    if units is not None and "unit_id" in frame:
        rejected.append(_resolve_units(frame, units, report))
    rejected.append(_validate(frame, spec, pd.concat(rejected, ignore_index=True)))

    rejections = pd.concat([r for r in rejected if not r.empty] or [_no_rejections()], ignore_index=True)
    report.rejections = rejections.sort_values(["file", "row"], kind="stable", ignore_index=True)
    bad = set(zip(rejections["file"], rejections["row"]))
    keep = [(f, r) not in bad for f, r in zip(frame["_file"], frame["_row"])] if bad else slice(None)
    kept = frame.loc[keep, spec.names].reset_index(drop=True)
    _note_rows_without_unit(kept, spec, report)
    assert report.rows_read == len(kept) + report.rows_rejected, "load report does not add up"
    return LoadResult(kept, report)


def _note_rows_without_unit(kept: pd.DataFrame, spec: schemas.Table, report: LoadReport) -> None:
    """Count kept rows that carry no unit (allowed where unit_id is not part of the key)."""
    if "unit_id" not in spec.names or not spec.col("unit_id").nullable:
        return
    n = int(kept["unit_id"].isna().sum())
    if n:
        report.notes.append(f"{n} row(s) without a unit, kept; they count in the city total and show as "
                            f"{schemas.UNASSIGNED_UNIT}")


def _no_rejections() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in REJECTION_COLUMNS})


def _rejections(file, rows, column, values, reasons) -> pd.DataFrame:
    n = len(rows)
    return pd.DataFrame({
        "file": np.broadcast_to(np.asarray(file, dtype=object), n),
        "row": np.asarray(rows, dtype=int),
        "column": np.broadcast_to(np.asarray(column, dtype=object), n),
        "value": list(values),
        "reason": np.broadcast_to(np.asarray(reasons, dtype=object), n) if np.ndim(reasons) == 0 else list(reasons),
    })


def _parse_options(spec: schemas.Table, date_formats: Mapping[str, str] | None, decimal: str) -> dict:
    """Per-column keyword arguments for parse_column."""
    if decimal not in (".", ","):
        raise ValueError(f"decimal: expected '.' or ',', got {decimal!r}")
    options = {}
    for column, fmt in (date_formats or {}).items():
        if column not in spec.names or spec.col(column).kind not in ("datetime", "date"):
            dates = [c.name for c in spec.columns if c.kind in ("datetime", "date")]
            raise ValueError(f"date_formats: {column!r} is not a date column of {spec.name} "
                             f"(date columns: {', '.join(dates) or 'none'})")
        options[column] = {"date_format": fmt}
    for col in spec.columns:
        opts = options.setdefault(col.name, {})
        if col.kind in ("int", "float", "percent"):
            opts["decimal"] = decimal
        if col.free_text:
            opts["free_text"] = True
    return options


def _vocabulary(parsed: pd.Series, col: schemas.Col, header: str, source: str, value_aliases: Mapping,
                report: LoadReport) -> pd.Series:
    """Map variants of a closed vocabulary to its terms; an optional column keeps unknown labels.

    A required column's unknown labels are left for the schema to reject (an indicator needs
    them); an optional column's are kept as given and counted in a note.
    """
    variants = {normalize_text(k): str(v) for k, v in (value_aliases or {}).items()}
    present = parsed.dropna()
    hit = present[present.isin(variants.keys()) & ~present.isin(col.allowed)]
    if not hit.empty:
        counts = hit.value_counts()
        report.notes.append(f"{source}: {header}: {len(hit)} cell(s) mapped to the vocabulary of {col.name}: "
                            + ", ".join(f"{v}→{variants[v]} ×{n}" for v, n in counts.items()))
        parsed = parsed.where(~parsed.isin(hit.unique()), parsed.map(variants, na_action="ignore"))
    if not col.required:
        unknown = parsed.dropna()
        unknown = unknown[~unknown.isin(col.allowed)]
        if not unknown.empty:
            counts = unknown.value_counts()
            shown = ", ".join(f"{v} ×{n}" for v, n in counts.head(10).items())
            more = f", … ({len(counts) - 10} more)" if len(counts) > 10 else ""
            report.notes.append(f"{source}: {header}: {len(counts)} label(s) not in the vocabulary of {col.name} "
                                f"({'/'.join(col.allowed)}) kept as given: {shown}{more}")
    return parsed.astype("string")


def _serial_note(values: pd.Series, parsed: pd.Series, reasons: pd.Series, column: str, source: str,
                 report: LoadReport) -> None:
    """Say how many bare numbers in a date column were read as Excel serial days."""
    if _is_typed(values):
        return
    text = values.astype("string").str.strip()
    bare = text.str.fullmatch(r"\d{5}(\.\d+)?").fillna(False) & parsed.notna() & reasons.isna()
    if bare.any():
        report.notes.append(f"{source}: {column}: {int(bare.sum())} bare number(s) read as Excel serial days "
                            f"({EXCEL_SERIAL_RANGE[0]}..{EXCEL_SERIAL_RANGE[1]}, i.e. 1990..2100), e.g. "
                            f"{text[bare].iat[0]} -> {parsed[bare].iat[0]:%Y-%m-%d %H:%M}")


def _prepare_sheet(raw: RawSheet, spec: schemas.Table, alias_table: dict, fixes: Mapping[str, str],
                   report: LoadReport, options: Mapping | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Map, clean and parse one sheet; returns the typed frame and the rows rejected so far."""
    mapping, notes = map_columns(raw.headers, spec.name, alias_table)
    present = set(mapping.values())
    for column in spec.required:
        if column not in present:
            names = [column, *(alias_table.get(spec.name) or {}).get(column, []),
                     *(alias_table.get("common") or {}).get(column, [])]
            known = list(dict.fromkeys(names))
            raise LoadError(
                raw.source,
                f"missing required column; expected a header named one of: {', '.join(known[:8])}"
                f" (headers found: {', '.join(h for h in raw.headers if h) or 'none'})",
                column=column,
            )
    report.notes += raw.notes + [f"{raw.source}: {n}" for n in notes]
    report.column_map.update({raw.headers[p]: c for p, c in mapping.items()})
    unused = [h for p, h in enumerate(raw.headers) if p not in mapping and normalize_header(h)]
    if unused:
        report.notes.append(f"{raw.source}: columns not part of {spec.name}, not loaded: {', '.join(unused)}")
    unnamed = [p + 1 for p, h in enumerate(raw.headers)
               if not normalize_header(h) and _has_values(raw.cells[p])]
    if unnamed:
        report.notes.append(f"{raw.source}: column(s) {', '.join(map(str, unnamed))} hold values but have no "
                            "header; not loaded")
    report.rows_read += len(raw.cells)

    frame = raw.cells[list(mapping)].rename(columns=mapping)
    frame["_file"] = raw.source
    frame["_row"] = raw.rows
    rejected = [_blank_and_summary_rows(raw), _extra_fields(raw), reader_rejections(raw, mapping)]
    dropped = set(rejected[0]["row"])

    for col in spec.columns:
        if col.name not in frame:
            frame[col.name] = pd.Series(pd.NA, index=frame.index, dtype=schemas.DTYPES[col.kind])
            continue
        values = frame[col.name]
        if col.kind == "str" and fixes:
            values = _apply_fixes(values, fixes, col.name, raw.source, report)
        parsed, reasons = parse_column(values, col.kind, **(options or {}).get(col.name, {}))
        if col.kind in ("datetime", "date"):
            _serial_note(values, parsed, reasons, col.name, raw.source, report)
        if col.allowed is not None:
            header = next((raw.headers[p] for p, c in mapping.items() if c == col.name), col.name)
            parsed = _vocabulary(parsed, col, header, raw.source,
                                 ((alias_table.get("values") or {}).get(spec.name) or {}).get(col.name), report)
        bad = reasons.notna().to_numpy() & ~np.isin(raw.rows, list(dropped))
        if bad.any():
            rejected.append(_rejections(raw.source, raw.rows[bad], col.name, values[bad], reasons[bad]))
            parsed = parsed.mask(bad)
        frame[col.name] = parsed
        if col.kind == "percent" and "indicator" in frame:
            rejected.append(_share_scale(frame, col.name, values, raw, report))
    return frame, pd.concat(rejected, ignore_index=True)


SHARE_UNITS = {"%", "％", "百分比", "百分率", "percent", "pct"}


def _share_scale(frame: pd.DataFrame, column: str, values: pd.Series, raw: RawSheet,
                 report: LoadReport) -> pd.DataFrame:
    """Shares on the wrong scale: 150% or -5%, and 0.9883 beside 98.83 in one indicator.

    An indicator is a share when one of its cells is written with a percent sign or its unit
    is %. Its values must lie in 0..100. A bare value in (0, 1] beside values above 1 may be a
    fraction among percents (0.9883 for 98.83%): rejected naming both scales when the
    indicator's percent values all lie above 10 (a gap no real spread explains); otherwise (a
    recycling share of 0.68% beside 5% and 72%) kept and flagged in a note. A true 0.5% written
    "0.5%" is read as percent.
    """
    signed = values.astype("string").str.strip().str.endswith(("%", "％")).fillna(False).to_numpy()
    number = frame[column].astype("Float64")
    unit = frame["unit"].astype("string").str.strip().str.lower() if "unit" in frame else None
    share_row = signed.copy()
    if unit is not None:
        share_row |= unit.isin(SHARE_UNITS).fillna(False).to_numpy()
    indicator = frame["indicator"].astype("string").fillna("")
    share = indicator.isin(set(indicator[share_row])).to_numpy() & number.notna().to_numpy()
    if not share.any():
        return _no_rejections()
    value = number.fillna(0).to_numpy(dtype=float)
    reasons = pd.Series(pd.NA, index=frame.index, dtype="object")
    above, below = share & (value > 100), share & (value < 0)
    reasons[above] = "a share above 100% (shares are 0-100)"
    reasons[below] = "a share below 0% (shares are 0-100)"
    ok = share & ~above & ~below
    fraction = ok & ~signed & (value > 0) & (value <= 1)
    on_percent = pd.Series(np.where(ok & (value > 1), value, np.nan), index=frame.index).groupby(indicator)
    lowest, example = on_percent.transform("min").to_numpy(), on_percent.transform("max").to_numpy()
    both = fraction & ~np.isnan(lowest)
    mixed = both & (lowest > 10)
    for name, n in pd.Series(indicator[both & ~mixed]).value_counts().items():
        report.notes.append(f"{raw.source}: {column}: indicator {name} has {n} bare value(s) in 0..1 beside values "
                            "above 1 on the percent scale (0-100); kept as percent: check none is a fraction (0-1)")
    if mixed.any():
        reasons[mixed] = [
            f"looks like a fraction (0-1 scale: {v:g} = {v * 100:g}%?) beside percent values (0-100 scale, e.g. "
            f"{e:g}) of indicator {i}; write one scale per indicator (percent 0-100)"
            for v, e, i in zip(value[mixed], example[mixed], indicator[mixed])]
    bad = reasons.notna().to_numpy()
    if not bad.any():
        return _no_rejections()
    frame[column] = frame[column].mask(bad)
    return _rejections(raw.source, raw.rows[bad], column, values[bad], reasons[bad].tolist())


def _has_values(cells: pd.Series) -> bool:
    return bool((~cells.astype("string").fillna("").str.strip().str.lower().isin(EMPTY_MARKERS)).any())


def _is_typed(column: pd.Series) -> bool:
    """Numbers, dates and booleans from Parquet/SQL/Excel: empty only when missing."""
    return not (pd.api.types.is_object_dtype(column.dtype) or pd.api.types.is_string_dtype(column.dtype))


def _empty_cells(column: pd.Series) -> np.ndarray:
    if _is_typed(column):
        return column.isna().to_numpy()
    text = column.astype("string").str.strip().str.lower()
    return (text.isna() | text.isin(EMPTY_MARKERS)).to_numpy()


def _blank_and_summary_rows(raw: RawSheet) -> pd.DataFrame:
    if raw.cells.empty:
        return _no_rejections()
    # Column by column (vectorised): a row-wise apply takes minutes on 10^5 rows.
    empty = np.column_stack([_empty_cells(raw.cells[c]) for c in raw.cells.columns])
    blank = empty.all(axis=1)
    first_col = np.argmax(~empty, axis=1)  # first non-empty cell of each row
    first = pd.Series("", index=raw.cells.index, dtype="string")
    for j, c in enumerate(raw.cells.columns):
        pick = (first_col == j) & ~blank
        if pick.any() and not _is_typed(raw.cells[c]):
            first[pick] = raw.cells[c][pick].astype("string").str.strip()
    word = first.str.normalize("NFKC").str.replace(r"\s+", "", regex=True).str.rstrip(":")
    summary = (~blank) & word.isin(SUMMARY_WORDS).to_numpy()
    out = []
    if blank.any():
        out.append(_rejections(raw.source, raw.rows[blank], "", [""] * int(blank.sum()), "blank row"))
    if summary.any():
        out.append(_rejections(raw.source, raw.rows[summary], "", first[summary].tolist(),
                               "summary row (合计/总计), not a record"))
    return pd.concat(out, ignore_index=True) if out else _no_rejections()


def _extra_fields(raw: RawSheet) -> pd.DataFrame:
    """Rows with values beyond the last header column (an unquoted separator inside a value)."""
    width = len(raw.headers)
    if raw.cells.shape[1] <= width or raw.cells.empty:
        return _no_rejections()
    extra = raw.cells.iloc[:, width:].astype("string").fillna("")
    filled = (extra.apply(lambda s: s.str.strip()) != "").to_numpy()
    bad = filled.any(axis=1)
    if not bad.any():
        return _no_rejections()
    fields = width + filled.shape[1] - np.argmax(filled[:, ::-1], axis=1)
    values = [" | ".join(v for v in row if v) for row in extra.to_numpy()[bad].tolist()]
    reasons = [f"row has {n} fields but the header has {width}; is there an unquoted separator in a value?"
               for n in fields[bad]]
    return _rejections(raw.source, raw.rows[bad], "", values, reasons)


def _apply_fixes(values: pd.Series, fixes: Mapping[str, str], column: str, source: str,
                 report: LoadReport) -> pd.Series:
    text = values.astype("string")
    for wrong, right in fixes.items():
        hit = text.str.contains(wrong, regex=False, na=False)
        if hit.any():
            text = text.str.replace(wrong, right, regex=False)
            report.notes.append(f"{source}: replaced {wrong!r} with {right!r} in {int(hit.sum())} {column} cell(s)")
    return text


def _resolve_units(frame: pd.DataFrame, units: pd.DataFrame, report: LoadReport) -> pd.DataFrame:
    """Turn unit names into ids using a districts table; reject units it does not know."""
    ids = set(units["unit_id"].astype(str))
    pairs = pd.DataFrame({"name": units["name_zh"].astype(str), "id": units["unit_id"].astype(str)})
    ids_by_name = pairs.groupby("name", sort=False)["id"].agg(list).to_dict()
    by_name = {n: i[0] for n, i in ids_by_name.items() if len(i) == 1}
    values = frame["unit_id"]
    resolved = values.map(lambda v: v if v is pd.NA or v in ids else by_name.get(v, pd.NA)).astype("string")
    named = values.notna() & ~values.isin(ids) & resolved.notna()
    if named.any():
        report.notes.append(f"unit names resolved to unit_id in {int(named.sum())} row(s)")
    unknown = values.notna() & resolved.isna()
    frame["unit_id"] = resolved.where(~unknown, values)
    if not unknown.any():
        return _no_rejections()
    reasons = [
        f"ambiguous unit name: {len(ids_by_name[v])} units in the districts table are called that "
        f"({', '.join(ids_by_name[v])}); use the unit id" if v in ids_by_name
        else "unknown unit (not an id or name in the districts table)"
        for v in values[unknown]
    ]
    return _rejections(frame.loc[unknown, "_file"].to_numpy(), frame.loc[unknown, "_row"].to_numpy(),
                       "unit_id", values[unknown], reasons)


def _validate(frame: pd.DataFrame, spec: schemas.Table, already: pd.DataFrame) -> pd.DataFrame:
    """Run the pandera schema; turn its failure cases into rejections."""
    present = [c.name for c in spec.columns if c.required or frame[c.name].notna().any()]
    schema = schemas.pandera_schema(spec.name, present=present)
    try:
        schema.validate(frame[present], lazy=True)
        return _no_rejections()
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases
    if cases["index"].isna().any():
        column_errors = cases[cases["index"].isna()]
        raise RuntimeError(f"schema error that is not about rows (a bug in the loader): {column_errors}")
    rules = {r.name: r for r in spec.rules}
    rule_by_reason = {r.reason: r for r in spec.rules}
    out = cases.copy()
    out["index"] = out["index"].astype(int)
    # A rule is reported once per row, on its first column; pandera lists every column.
    is_rule = out["check"].isin(rule_by_reason) | out["check"].isin(rules)
    rule_col = out["check"].map(lambda c: (rule_by_reason.get(c) or rules.get(c)).columns[0] if c in rule_by_reason or c in rules else None)
    out = out[~is_rule | (out["column"] == rule_col)]
    key = "+".join(spec.key)
    out["reason"] = [
        _PANDERA_REASONS.get(c, c).format(column=col, key=key) for c, col in zip(out["check"], out["column"])
    ]
    out["column"] = out["column"].where(out["check"] != "multiple_fields_uniqueness", key)
    idx = out["index"].to_numpy()
    rej = pd.DataFrame({
        "file": frame["_file"].to_numpy()[idx],
        "row": frame["_row"].to_numpy()[idx],
        "column": out["column"].to_numpy(),
        "value": out["failure_case"].to_numpy(),
        "reason": out["reason"].to_numpy(),
    })
    rej = _name_first_duplicates(rej, frame, spec, idx, out["check"].to_numpy())
    multi = (out["check"] == "multiple_fields_uniqueness").to_numpy()
    if multi.any():
        keyed = rej[multi].drop_duplicates(["file", "row"]).copy()
        rows = frame.set_index(["_file", "_row"])
        keyed["value"] = [", ".join(str(rows.at[(f, r), k]) for k in spec.key)
                          for f, r in zip(keyed["file"], keyed["row"])]
        rej = pd.concat([rej[~multi], keyed], ignore_index=True)
    # A cell that already failed to parse is empty now; don't report it twice as "required".
    if not already.empty:
        seen = set(zip(already["file"], already["row"], already["column"]))
        dup = [(f, r, c) in seen for f, r, c in zip(rej["file"], rej["row"], rej["column"])]
        rej = rej[~np.asarray(dup, dtype=bool)]
        seen_rows = set(zip(already["file"], already["row"]))
        empty_after_reject = [(f, r) in seen_rows and reason == "required value is empty"
                              for f, r, reason in zip(rej["file"], rej["row"], rej["reason"])]
        rej = rej[~np.asarray(empty_after_reject, dtype=bool)]
    return rej.reset_index(drop=True)


def _name_first_duplicates(rej, frame, spec, idx, checks) -> pd.DataFrame:
    """Say where the first copy of a duplicated key is."""
    dup = np.isin(checks, ["field_uniqueness", "multiple_fields_uniqueness"])
    if not dup.any():
        return rej
    key = list(spec.key)
    first = frame.groupby(key, dropna=False, sort=False)["_row"].transform("first").to_numpy()
    first_file = frame.groupby(key, dropna=False, sort=False)["_file"].transform("first").to_numpy()
    reasons = rej["reason"].to_numpy(dtype=object)
    for i in np.flatnonzero(dup):
        where = f"row {first[idx[i]]}" if first_file[idx[i]] == frame["_file"].iat[idx[i]] else f"{first_file[idx[i]]} row {first[idx[i]]}"
        reasons[i] = f"{reasons[i]} (first seen at {where}; the first copy is kept)"
    rej["reason"] = reasons
    return rej
