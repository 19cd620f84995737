"""A bigger demo city (``cityanalytics demo --units N``): the same city, its units split.

The default demo has ten current units. For scale tests (hundreds of per-unit reports) each
unit but the functional zone is split into several of the same level
(``units.split_units``): the first part keeps the unit's id and name, the others get new ids
and names in the same district. The tables are the default demo's, with rows moved to the
parts: a case, dust sample or community goes to a part with probability proportional to its
population (drawn from a hash of the row's id, so the same seed gives the same city); each
unit's monthly assessment is repeated for its parts with the score moved by a small
deterministic amount and the problems shared out. City and district totals are unchanged;
the per-unit truths of ``truth.json`` describe the original ten units (``split_units`` there
lists the parts). Boundaries: each unit's cell is cut into strips of the parts' areas.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from . import boundaries, units, writing

ROW_IDS = {"cases": "case_id", "dust_samples": "sample_id", "communities": "community_id"}
SCORE_SD = 2.0  # points between parts of one unit in the same month


def scale_demo(out_dir: str | Path, files: dict[str, Path], n_units: int, seed: int, fmt: str) -> dict[str, Path]:
    """Rewrite the default demo written in ``out_dir`` (``files`` from ``write_demo``, plus
    ``boundaries``) as a city of ``n_units`` current units. Returns the files."""
    plan = units.split_units(n_units, seed)
    if all(len(parts) == 1 for _, parts in plan):
        return files
    out = Path(out_dir)
    frames = {name: pd.read_parquet(path) if fmt == "parquet" else None for name, path in files.items()
              if name in (*ROW_IDS, "districts", "assessments")}
    if fmt != "parquet":
        from cityanalytics.io import load

        frames = {name: load(files[name], name).frame for name in frames}
    parts = {s_units[0].unit_id: s_units for _, s_units in plan}
    for name, column in ROW_IDS.items():
        frames[name] = _move_rows(frames[name], column, parts)
    frames["districts"] = _districts(frames["districts"], parts)
    frames["assessments"] = _assessments(frames["assessments"], parts, seed)
    for name, frame in frames.items():
        files[name] = writing.write_table(out, name, writing.from_pandas(name, frame), fmt)
    truth_path = out / "truth.json"
    import json

    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    truth["tables"] = {**truth.get("tables", {}), **{k: len(v) for k, v in frames.items()}}
    truth["split_units"] = {
        "n_units": n_units,
        "note": "each series unit (but the functional zone) split into parts; the per-unit truths above "
                "describe the ten original units; rows moved to parts in proportion to population",
        "parts": {u: [{"unit_id": p.unit_id, "name_zh": p.name_zh, "population": p.population,
                       "area_km2": p.area_km2} for p in ps] for u, ps in parts.items()},
    }
    files["truth"] = writing.write_truth(out, truth)
    if "boundaries" in files:
        files["boundaries"] = _boundaries(Path(files["boundaries"]), parts)
    return files


def _draw(ids: pd.Series, salt: str) -> np.ndarray:
    """A uniform number in [0, 1) per id, from its hash (the same id, the same number)."""
    return np.array([int.from_bytes(hashlib.blake2b(f"{salt}:{i}".encode(), digest_size=8).digest(), "big")
                     for i in ids.astype(str)], dtype=np.float64) / 2.0 ** 64


def _move_rows(frame: pd.DataFrame, column: str, parts: dict[str, list[units.Unit]]) -> pd.DataFrame:
    frame = frame.copy()
    unit = frame["unit_id"].astype("string")
    for uid, ps in parts.items():
        if len(ps) == 1:
            continue
        rows = (unit == uid).fillna(False).to_numpy()
        if not rows.any():
            continue
        cum = np.cumsum([p.population for p in ps], dtype=float)
        pick = np.searchsorted(cum / cum[-1], _draw(frame.loc[rows, column], uid), side="right")
        frame.loc[rows, "unit_id"] = np.array([p.unit_id for p in ps], dtype=object)[pick]
    return frame


def _districts(frame: pd.DataFrame, parts: dict[str, list[units.Unit]]) -> pd.DataFrame:
    rows = []
    for _, row in frame.iterrows():
        ps = parts.get(row["unit_id"])
        if not ps or len(ps) == 1:
            rows.append(row.to_dict())
            continue
        for p in ps:
            rows.append({**row.to_dict(), "unit_id": p.unit_id, "name_zh": p.name_zh, "division_code": p.unit_id,
                         "population": p.population, "households": int(round(p.population / units.PERSONS_PER_HOUSEHOLD)),
                         "area_km2": p.area_km2})
    return pd.DataFrame(rows, columns=frame.columns).astype(frame.dtypes.to_dict())


def _assessments(frame: pd.DataFrame, parts: dict[str, list[units.Unit]], seed: int) -> pd.DataFrame:
    rng = np.random.default_rng([seed, 20262])
    out = []
    for _, row in frame.iterrows():
        ps = parts.get(row["unit_id"])
        if not ps or len(ps) == 1:
            out.append(row.to_dict())
            continue
        pop = np.array([p.population for p in ps], dtype=float)
        found = rng.multinomial(int(row["problems_found"]), pop / pop.sum()) if pd.notna(row["problems_found"]) else None
        rate = (row["problems_rectified"] / row["problems_found"]
                if found is not None and pd.notna(row["problems_rectified"]) and row["problems_found"] else None)
        for j, p in enumerate(ps):
            score = row["score"]
            if pd.notna(score):
                score = float(np.clip(round(score + rng.normal(0, SCORE_SD), 1), 0, 100))
            item = {**row.to_dict(), "unit_id": p.unit_id, "score": score}
            if found is not None:
                item["problems_found"] = int(found[j])
                item["problems_rectified"] = int(rng.binomial(found[j], rate)) if rate is not None else pd.NA
            out.append(item)
    return pd.DataFrame(out, columns=frame.columns).astype(frame.dtypes.to_dict())


def _boundaries(path: Path, parts: dict[str, list[units.Unit]]) -> Path:
    """Cut each split unit's cell into west-to-east strips with the parts' areas."""
    import json

    import shapely
    from shapely.geometry import box

    cells = boundaries.unit_polygons()
    data = json.loads(path.read_text(encoding="utf-8"))
    feats = [f for f in data["features"] if len(parts.get(f["properties"]["unit_id"], [None])) == 1]
    for uid, ps in parts.items():
        if len(ps) == 1:
            continue
        cell = cells[uid]
        x0, y0, x1, y1 = cell.bounds
        areas = np.cumsum([p.area_km2 for p in ps], dtype=float)
        areas = areas / areas[-1] * cell.area
        left = x0
        for p, upto in zip(ps, areas):
            lo, hi = left, x1
            for _ in range(50):  # bisection: the cut where the part west of it has area ``upto``
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if cell.intersection(box(x0 - 1, y0 - 1, mid, y1 + 1)).area < upto else (lo, mid)
            right = x1 + 1 if p is ps[-1] else hi
            strip = cell.intersection(box(left, y0 - 1, right, y1 + 1))
            strip = strip if isinstance(strip, (shapely.Polygon, shapely.MultiPolygon)) else strip.buffer(0)
            feats.append(boundaries._feature(strip, {"unit_id": p.unit_id, "name_zh": p.name_zh, "level": p.level,
                                                     "division_code": p.unit_id}))
            left = right
    data["features"] = feats
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path
