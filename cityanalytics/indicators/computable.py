"""Which indicators a table can support, and why not when it cannot.

An indicator is *not computable* when its table is missing or a column it needs (registry
``needs``) is absent or holds no value at all: a missing ``disposed_at`` must read "处置率:
not computable (disposed_at is empty)", never 0%. Partly filled columns are computable; the
data-quality report shows how many values are missing.
"""

from __future__ import annotations

from typing import Mapping

import pandas as pd

from cityanalytics.indicators.registry import get, registry

REASON_ZH = {"no_table": "缺少{table}表", "absent": "缺少{column}列", "empty": "{column}列全部为空"}


def filled_columns(table: pd.DataFrame) -> dict[str, bool]:
    """Each column of ``table`` -> whether it holds at least one value."""
    return {c: bool(table[c].notna().any()) for c in table.columns}


def why_not(indicator: str, table: pd.DataFrame | dict[str, bool] | None) -> str | None:
    """None when ``indicator`` can be computed from ``table``; otherwise the reason, in English.

    ``table`` is the canonical table, or its ``filled_columns`` (column -> holds a value).
    """
    info = get(indicator)
    if table is None:
        return f"no {info.table} table"
    filled = filled_columns(table) if isinstance(table, pd.DataFrame) else table
    for column in info.needs:
        if column not in filled:
            return f"{column} column absent"
        if not filled[column]:
            return f"{column} column empty"
    return None


def reason_zh(reason: str) -> str:
    """The Chinese wording of a ``why_not`` reason, for reports."""
    words = reason.split()
    if reason.startswith("no "):
        return REASON_ZH["no_table"].format(table=words[1])
    return REASON_ZH["absent" if words[-1] == "absent" else "empty"].format(column=words[0])


def _fed(observations: pd.DataFrame | None) -> set[str]:
    """Indicator ids an observations table carries values of: its own ids, and the indicators of the
    registered targets whose ids it uses (a feed reporting against numbered plan targets)."""
    if observations is None or "indicator" not in observations.columns:
        return set()
    from cityanalytics.targets import load_targets

    have = set(observations["indicator"].dropna().astype(str))
    targets = load_targets()
    return have | set(targets.loc[targets["target_id"].isin(have), "indicator"])


def computability(tables: Mapping[str, pd.DataFrame | None], indicators: list[str] | None = None) -> pd.DataFrame:
    """One row per indicator: its table, whether it can be computed, and the reason if not.

    Listing the whole registry (``indicators`` None), an indicator read from the observations feed
    is listed only when the feed carries it: the feed holds whatever a bureau reports.
    """
    rows = []
    fed = _fed(tables.get("observations")) if indicators is None else None
    for ind in indicators or list(registry()):
        info = get(ind)
        if fed is not None and info.table == "observations" and ind not in fed:
            continue
        reason = why_not(ind, tables.get(info.table))
        rows.append({"indicator": ind, "name_zh": info.name_zh, "table": info.table,
                     "computable": reason is None, "reason": reason or "",
                     "reason_zh": reason_zh(reason) if reason else ""})
    return pd.DataFrame(rows)


def drop_not_computable(frame: pd.DataFrame, table: pd.DataFrame | dict[str, bool],
                        indicators: list[str]) -> pd.DataFrame:
    """Remove the rows of indicators ``table`` cannot support; record them in ``frame.attrs``.

    ``frame.attrs["not_computable"]`` maps indicator id -> reason (merged with any already there).
    """
    reasons = {ind: r for ind in indicators if (r := why_not(ind, table)) is not None}
    if reasons:
        frame = frame[~frame["indicator"].isin(list(reasons))].reset_index(drop=True)
    frame.attrs["not_computable"] = {**frame.attrs.get("not_computable", {}), **reasons}
    return frame
