"""The fictional city's units (示范市): districts, streets, towns, a functional zone.

Every code carries the province prefix 99, which GB/T 2260 does not use, so a demo code can
never be mistaken for a real division. unit_id is the division code itself, as in many exports.

"Series" are the ten units that own cases, roads, communities and assessments. One of them
changed id: 石鼓镇 was re-designated 石鼓街道 (撤镇设街道) on CHANGE_ON, so its rows before
that date carry the old id.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .timeline import day_index

CITY_NAME = "示范市"
CITY_ID = "990100"
CHANGE_ON = "2021-01-01"


@dataclass(frozen=True)
class Unit:
    unit_id: str
    name_zh: str
    level: str
    parent_id: str | None
    population: int
    area_km2: float
    urban: bool = True  # urban street vs town / rural: drives cases per head and villages
    stem: str = ""  # two characters used to make up road names


# The ten case-bearing units, in a fixed order (their index is the "series" number).
SERIES: tuple[Unit, ...] = (
    Unit("990102001000", "鹭洲街道", "街道", "990102", 126_000, 9.6, stem="鹭洲"),
    Unit("990102002000", "柳荫街道", "街道", "990102", 96_000, 7.8, stem="柳荫"),
    Unit("990102003000", "望桥街道", "街道", "990102", 90_000, 12.4, stem="望桥"),
    Unit("990102004000", "石鼓街道", "街道", "990102", 64_000, 46.3, urban=False, stem="石鼓"),
    Unit("990103001000", "栖云街道", "街道", "990103", 131_000, 11.2, stem="栖云"),
    Unit("990103002000", "桂香街道", "街道", "990103", 110_000, 9.1, stem="桂香"),
    Unit("990103003000", "枫林街道", "街道", "990103", 88_000, 15.7, stem="枫林"),
    Unit("990103101000", "青禾镇", "镇", "990103", 71_000, 88.5, urban=False, stem="青禾"),
    Unit("990103102000", "白沙镇", "镇", "990103", 52_000, 102.3, urban=False, stem="白沙"),
    Unit("990171", "示范经济技术开发区", "功能区", CITY_ID, 68_000, 38.0, stem="开元"),
)
N_SERIES = len(SERIES)

# 石鼓镇 before it became 石鼓街道 (series 3).
OLD_UNIT = Unit("990102101000", "石鼓镇", "镇", "990102", 64_000, 46.3, urban=False, stem="石鼓")
CHANGED_SERIES = 3

DISTRICTS = (
    ("990102", "澄湖区", (0, 1, 2, 3)),
    ("990103", "栖云区", (4, 5, 6, 7, 8)),
)

# Each unit has six made-up roads named from its stem: suffix -> road class.
ROAD_SUFFIXES = (("大道", "主干路"), ("路", "主干路"), ("中路", "次干路"), ("北路", "次干路"),
                 ("街", "支路"), ("巷", "背街小巷"))

PERSONS_PER_HOUSEHOLD = 2.62  # close to the 2020 census average for urban China


def series_ids() -> list[str]:
    """All unit ids that can appear on a row: the ten current ones, then the historical one."""
    return [u.unit_id for u in SERIES] + [OLD_UNIT.unit_id]


def id_index(series: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Index into series_ids() for each (series, day-index) pair: old id before the change."""
    old = (series == CHANGED_SERIES) & (days < day_index(CHANGE_ON))
    return np.where(old, N_SERIES, series)


def unit_id_on(series: int, date: pd.Timestamp) -> str:
    if series == CHANGED_SERIES and pd.Timestamp(date) < pd.Timestamp(CHANGE_ON):
        return OLD_UNIT.unit_id
    return SERIES[series].unit_id


def roads(series: int) -> list[tuple[str, str, str]]:
    """(road_id, road_name, road_class) of a unit's roads; ids are stable across the id change."""
    stem = SERIES[series].stem
    return [(f"RD{series + 1:02d}{r + 1:02d}", f"{stem}{suffix}", cls)
            for r, (suffix, cls) in enumerate(ROAD_SUFFIXES)]


def _households(pop: int) -> int:
    return int(round(pop / PERSONS_PER_HOUSEHOLD))


def districts_frame() -> pd.DataFrame:
    """Rows of the districts table: city, districts, the functional zone, streets and towns."""
    rows = []
    total = sum(u.population for u in SERIES)
    area = sum(u.area_km2 for u in SERIES)
    rows.append((CITY_ID, CITY_NAME, "市", None, CITY_ID, total, _households(total), round(area, 1)))
    for code, name, members in DISTRICTS:
        pop = sum(SERIES[i].population for i in members)
        ar = sum(SERIES[i].area_km2 for i in members)
        rows.append((code, name, "区", CITY_ID, code, pop, _households(pop), round(ar, 1)))
    for u in (*SERIES, OLD_UNIT):
        rows.append((u.unit_id, u.name_zh, u.level, u.parent_id, u.unit_id, u.population,
                     _households(u.population), u.area_km2))
    cols = ["unit_id", "name_zh", "level", "parent_id", "division_code", "population", "households", "area_km2"]
    return pd.DataFrame(rows, columns=cols)


def unit_changes_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "old_unit_id": [OLD_UNIT.unit_id],
        "new_unit_id": [SERIES[CHANGED_SERIES].unit_id],
        "effective_on": [pd.Timestamp(CHANGE_ON)],
        "change": ["撤镇设街道"],
    })


def truth() -> dict:
    return {
        "city": {"unit_id": CITY_ID, "name_zh": CITY_NAME},
        "series": [
            {"series": i, "unit_id": u.unit_id, "name_zh": u.name_zh, "level": u.level,
             "parent_id": u.parent_id, "population": u.population, "area_km2": u.area_km2,
             "urban": u.urban}
            for i, u in enumerate(SERIES)
        ],
        "historical_units": [{
            "unit_id": OLD_UNIT.unit_id, "name_zh": OLD_UNIT.name_zh,
            "valid_until": str((pd.Timestamp(CHANGE_ON) - pd.Timedelta(days=1)).date()),
            "successor": SERIES[CHANGED_SERIES].unit_id, "change": "撤镇设街道",
            "effective_on": CHANGE_ON,
            "note": "rows dated before effective_on carry the old id; the communities register "
                    "is a snapshot at the end of the data and uses the new id throughout",
        }],
        "districts": [{"unit_id": c, "name_zh": n, "series": list(m)} for c, n, m in DISTRICTS],
    }


# --- a bigger city (``cityanalytics demo --units N``) ---------------------------------------
# Each series unit but the functional zone is split into several of the same level; the first
# keeps the unit's id and name (so campaigns and the 撤镇设街道 change still refer to it).
NAME_FIRST = "东西南北新金玉银龙凤长永安和兴平清泉青文华明光春秋云松柏梅竹桃杏荷兰翠碧丰乐福康宁泰顺"
NAME_SECOND = "湖山桥塘港溪园林坊苑城岭湾阳门亭河洲峰岗庄店营集堡渡浦滨台坪坝埠寨口关铺泽源头井"


def unit_names(n: int, seed: int, taken: set[str]) -> list[str]:
    """``n`` distinct two-character place-name stems (e.g. 金溪, 龙岗), shuffled by ``seed``,
    none of them in ``taken``; raises ValueError when the lists run out."""
    stems = [a + b for a in NAME_FIRST for b in NAME_SECOND if a + b not in taken]
    if n > len(stems):
        raise ValueError(f"at most {len(stems)} new unit names can be made, {n} asked")
    order = np.random.default_rng([seed, 20260]).permutation(len(stems))
    return [stems[i] for i in order[:n]]


def split_units(n_units: int, seed: int) -> list[tuple[int, list[Unit]]]:
    """(series, its units) for a city of ``n_units`` current units: the ten series' units,
    the nine splittable ones split in proportion to population (the zone never), each new
    unit with a deterministic id in its district (township codes after the used ones), name,
    population and area (shares drawn with ``seed``; the parts sum to the original)."""
    if n_units < N_SERIES:
        raise ValueError(f"units: at least {N_SERIES} (the demo city's own units), got {n_units}")
    splittable = [i for i, u in enumerate(SERIES) if u.level != "功能区"]
    pop = np.array([SERIES[i].population for i in splittable], dtype=float)
    extra = n_units - N_SERIES
    k = np.floor(extra * pop / pop.sum()).astype(int)
    for i in np.argsort(-(extra * pop / pop.sum() - k), kind="stable")[:extra - k.sum()]:
        k[i] += 1
    rng = np.random.default_rng([seed, 20261])
    names = iter(unit_names(extra, seed, {u.stem for u in (*SERIES, OLD_UNIT)}))
    used: dict[str, set[int]] = {}
    for u in (*SERIES, OLD_UNIT):
        if len(u.unit_id) == 12:
            used.setdefault(u.unit_id[:6], set()).add(int(u.unit_id[6:9]))
    out = []
    for s, u in enumerate(SERIES):
        more = int(k[splittable.index(s)]) if s in splittable else 0
        shares = rng.dirichlet(np.full(more + 1, 8.0))
        pops = np.floor(shares * u.population).astype(int)
        pops[0] += u.population - pops.sum()
        areas = np.round(shares * u.area_km2, 2)
        areas[0] = round(u.area_km2 - areas[1:].sum(), 2)
        parts = [Unit(u.unit_id, u.name_zh, u.level, u.parent_id, int(pops[0]), float(areas[0]), u.urban, u.stem)]
        county = u.unit_id[:6]
        for j in range(more):
            code = next(c for c in range(1 if u.level == "街道" else 102, 1000) if c not in used[county])
            used[county].add(code)
            stem = next(names)
            parts.append(Unit(f"{county}{code:03d}000", stem + ("街道" if u.level == "街道" else "镇"), u.level,
                              u.parent_id, int(pops[j + 1]), float(areas[j + 1]), u.urban, stem))
        out.append((s, parts))
    return out
