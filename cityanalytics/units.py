"""Keep unit series comparable across boundary changes (renamed, merged, re-designated units)."""

from __future__ import annotations

import pandas as pd


def successor_map(changes: pd.DataFrame) -> dict[str, str]:
    """old unit_id -> the unit that carries its series today, following chains (A->B->C)."""
    direct = dict(zip(changes["old_unit_id"].astype(str), changes["new_unit_id"].astype(str)))
    resolved = {}
    for old in direct:
        seen, current = {old}, direct[old]
        while current in direct:
            if current in seen:
                raise ValueError(f"unit_changes has a cycle through {current!r}")
            seen.add(current)
            current = direct[current]
        resolved[old] = current
    return resolved


def harmonize_units(frame: pd.DataFrame, changes: pd.DataFrame, column: str = "unit_id") -> pd.DataFrame:
    """A copy of ``frame`` with old unit ids replaced by their current successor.

    Rows keep their dates: a case filed under 城关镇 in 2020 counts for 城关街道 once the town
    became a street, so the series runs unbroken across the change.
    """
    mapping = successor_map(changes)
    out = frame.copy()
    out[column] = out[column].astype("string").replace(mapping)
    return out


def current_units(districts: pd.DataFrame, changes: pd.DataFrame) -> pd.DataFrame:
    """The districts table without the units that were replaced."""
    return districts[~districts["unit_id"].isin(set(changes["old_unit_id"]))].reset_index(drop=True)
