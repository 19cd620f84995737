"""A units.csv proposal from the place names an export holds, for ``cityanalytics map``.

Levels come from the name's ending (街道, 镇, 区 ...); six-digit codes from the GB/T 2260 table
``cityanalytics/data/divisions.csv`` where a name is a real division's. Every row's ``note``
says what it rests on; a name several divisions share is never resolved silently.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from importlib import resources
from io import StringIO

import pandas as pd

from cityanalytics import schemas

LEVEL_BY_SUFFIX = (("街道", "街道"), ("开发区", "功能区"), ("新区", "功能区"), ("园区", "功能区"), ("管委会", "功能区"),
                   ("镇", "镇"), ("乡", "乡"), ("区", "区"), ("县", "县"), ("旗", "县"), ("市", "市"))


@lru_cache(maxsize=1)
def divisions() -> pd.DataFrame:
    text = resources.files("cityanalytics").joinpath("data/divisions.csv").read_text(encoding="utf-8")
    return pd.read_csv(StringIO(text), dtype=str, keep_default_na=False)


def _level(name: str) -> str:
    for suffix, level in LEVEL_BY_SUFFIX:
        if name.endswith(suffix):
            return level
    return ""


def propose_units(names: list[str], parents: dict[str, str] | None = None) -> pd.DataFrame:
    """A districts table for the place names found: level from the name's ending, codes from GB/T 2260.

    A name that is exactly one real division's name gets its code; a name several divisions
    share gets the one in the prefecture (or province) of the other names matched, when that
    settles it, and is said to be a guess; otherwise the code stays empty and the note lists
    the candidates. ``parents``: name -> the name of the unit above it (e.g. street -> 区).
    """
    parents = parents or {}
    table = divisions()
    by_name = table.groupby("name")["code"].agg(list).to_dict()
    full = {**{p: "" for p in parents.values() if p}, **{n: parents.get(n, "") for n in names}}
    unique_codes = [by_name[n][0] for n in full if len(by_name.get(n, [])) == 1]
    prefectures = Counter(c[:4] for c in unique_codes)
    provinces = Counter(c[:2] for c in unique_codes)
    rows = []
    for name, parent in full.items():
        notes, code = [], ""
        level = _level(name)
        if level:
            notes.append(f"guess: level {level} from the name's ending")
        else:
            notes.append("level unknown: set one of " + "/".join(schemas.UNIT_LEVELS))
        candidates = by_name.get(name, [])
        if len(candidates) == 1:
            code = candidates[0]
            notes.append(f"division_code: the GB/T 2260 division named {name} ({_where(code)})")
        elif candidates:
            pick = ([c for c in candidates if prefectures.get(c[:4])] or [c for c in candidates if provinces.get(c[:2])])
            if len(pick) == 1:
                code = pick[0]
                notes.append(f"guess: division_code {code} ({_where(code)}) of {len(candidates)} divisions named "
                             f"{name}, the one beside the other names found")
            else:
                notes.append(f"division_code left empty: {len(candidates)} divisions are named {name} "
                             f"({'; '.join(f'{c} {_where(c)}' for c in candidates)})")
        elif level in ("街道", "镇", "乡"):
            notes.append("no division_code: streets and towns have 12-digit statistical codes, not in GB/T 2260")
        elif re.search(r"[A-Za-z0-9]", name):
            notes.append("no division_code: the name holds Latin letters or digits (masked or romanised?)")
        else:
            notes.append("no GB/T 2260 division has this name")
        rows.append({"unit_id": code or name, "name_zh": name, "level": level, "parent_id": parent,
                     "division_code": code, "population": "", "households": "", "area_km2": "",
                     "note": "; ".join(notes)})
    frame = pd.DataFrame(rows, columns=["unit_id", "name_zh", "level", "parent_id", "division_code", "population",
                                        "households", "area_km2", "note"])
    ids = dict(zip(frame["name_zh"], frame["unit_id"]))
    frame["parent_id"] = frame["parent_id"].map(lambda p: ids.get(p, p) if p else "")
    return frame


def _where(code: str) -> str:
    names = dict(zip(divisions()["code"], divisions()["name"]))
    chain = [names.get(code[:2] + "0000"), names.get(code[:4] + "00") if code[2:4] != "00" else None]
    return "".join(n for n in chain if n and n != names.get(code)) or "province"
