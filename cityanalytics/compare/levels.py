"""Which units a comparison sets side by side, from the districts table.

Two levels, read from the structure of the table rather than from names:

- ``"区"`` (区县): the units directly under the city (districts, counties, functional zones);
  every data unit is rolled up to its ancestor at that level;
- ``"街道"`` (街镇): the units at the bottom of the tree (streets, towns, a functional zone
  without streets), each compared as it is.

Units replaced by a boundary change (``unit_changes``, e.g. 撤镇设街道) are mapped to their
successor first, so a series runs on across the change and the retired unit is never listed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from cityanalytics.indicators.frame import CITY
from cityanalytics.units import successor_map

from ._common import CITY_NAME

LEVEL_ALIASES = {"区": "区", "区县": "区", "县": "区", "县区": "区", "district": "区",
                 "街道": "街道", "街镇": "街道", "镇": "街道", "乡镇": "街道", "street": "街道"}
LEVEL_NAMES = {"区": "区县", "街道": "街镇"}


@dataclass
class Level:
    """The units compared at one level: roll-up map, order, names and residents."""

    level: str
    units: list[str]  # reporting units, in the districts table's order
    unit_map: dict[str, str]  # any unit id in the data -> its reporting unit
    names: dict[str, str]  # reporting unit id (and CITY) -> Chinese name
    population: dict[str, float] = field(default_factory=dict)  # residents per reporting unit (and CITY)
    city_id: str | None = None
    city_name: str = CITY_NAME

    @property
    def exposure(self) -> dict[str, float]:
        """Residents in 10,000s per reporting unit and CITY (for counts per 10,000 residents)."""
        return {u: p / 10_000 for u, p in self.population.items() if p and p > 0}

    def table(self) -> pd.DataFrame:
        return pd.DataFrame({"unit_id": self.units, "单位": [self.names[u] for u in self.units],
                             "常住人口": [self.population.get(u) for u in self.units]})


def normalise_level(level: str) -> str:
    try:
        return LEVEL_ALIASES[str(level).strip()]
    except KeyError:
        raise ValueError(f"unknown level {level!r}; use 区 (区县) or 街道 (街镇)") from None


def level_units(districts: pd.DataFrame, changes: pd.DataFrame | None = None, level: str = "街道") -> Level:
    """The reporting units at ``level`` and the map that rolls every data unit up to them."""
    level = normalise_level(level)
    d = districts.copy()
    d["unit_id"] = d["unit_id"].astype(str)
    d["parent_id"] = d["parent_id"].astype("string").fillna("").astype(str)
    successors = successor_map(changes) if changes is not None and len(changes) else {}
    current = d[~d["unit_id"].isin(successors)]
    cities = current.loc[current["level"] == "市", "unit_id"].tolist()
    parent = dict(zip(current["unit_id"], current["parent_id"]))
    has_children = set(current["parent_id"])

    def top(u: str) -> str:
        seen = set()
        while parent.get(u, "") not in ("", *cities) and u not in seen:
            seen.add(u)
            u = parent[u]
        return u

    members = current[current["level"] != "市"]
    if level == "区":
        units = [u for u in members["unit_id"] if parent.get(u, "") in ("", *cities)]
    else:
        units = [u for u in members["unit_id"] if u not in has_children]
    unit_map = {}
    for u in d["unit_id"]:
        cur = successors.get(u, u)
        if cur in cities:
            continue
        unit_map[u] = top(cur) if level == "区" else cur
    names = dict(zip(d["unit_id"], d["name_zh"].astype(str)))
    names[CITY] = CITY_NAME
    population = {}
    if "population" in d:
        leaves = members[~members["unit_id"].isin(has_children)]
        pop = pd.to_numeric(leaves["population"], errors="coerce")
        for u, p in zip(leaves["unit_id"], pop):
            if pd.notna(p):
                r = unit_map.get(u, u)
                population[r] = population.get(r, 0.0) + float(p)
        if population:
            population[CITY] = sum(v for k, v in population.items() if k in units)
    return Level(level=level, units=units, unit_map=unit_map, names={u: names[u] for u in [*units, CITY]},
                 population=population, city_id=cities[0] if cities else None,
                 city_name=names.get(cities[0], CITY_NAME) if cities else CITY_NAME)
