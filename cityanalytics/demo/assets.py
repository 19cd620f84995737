"""The demo city's infrastructure register (``assets``) and its checks (``inspections``).

Street lamps by road class with night-time on/off checks, road segments with intactness checks and
bridges with their yearly check. The lighting-on and minor-road intactness rates the records give
are the figures the city's plan feed reports for the same targets (``plan_observations``), so the
plan-progress report reaches the same verdict computed from records as read from the feed:

- a yearly round in December 2020-2024 checks every lamp and every segment (the 十四五 plans'
  yearly values, 2020 the baseline): 主干路 lamps lit = the feed's 主干道亮灯率; 次干路 and 背街小巷
  lamps (pooled, as the target's wording pools them) = 次干道和背街小巷亮灯率; 支路 and 背街小巷
  segments intact = 支路及背街小巷完好率;
- the 百日攻坚 (June-October 2022) checks every lamp each month: 主干路 and the pooled secondary
  lamps follow the straight line between their December 2021 and December 2022 values, and 支路
  lamps make the whole city's rate the feed's 市区整体亮灯率.

Each class has a round number of lamps (``LAMPS``) so that a rate to 0.1% is a whole number of
lamps; which lamps are off in a round is drawn at random. ``truth()`` gives every rate as the
records give it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .units import SERIES

STREAM = 11  # the random stream of this table (timeline.STREAMS holds the others)
LAMPS = {"主干路": 1000, "次干路": 600, "背街小巷": 400, "支路": 2000}
SECONDARY = ("次干路", "背街小巷")  # pooled by 次干道和背街小巷亮灯率
SEGMENTS = {"主干路": 200, "次干路": 200, "支路": 500, "背街小巷": 500}
MINOR = ("支路", "背街小巷")  # pooled by 支路及背街小巷完好率
MAJOR_INTACT = 96.0  # carriageway segments (not split by the register into 车行道 / 人行道; not routed)
BRANCH_LIT = 97.0  # 支路 lamps in the yearly rounds
BRIDGES, BRIDGE_DEFECTS = 30, (2, 2, 1, 1, 0)  # bridges; those found with a defect, 2020-2024
YEARS = (2020, 2021, 2022, 2023, 2024)
CAMPAIGN_MONTHS = ("2022-06", "2022-07", "2022-08", "2022-09", "2022-10")
IN_SERVICE = pd.Timestamp("2015-01-01")
LAMP_DEFECTS = ("灯不亮", "灯杆倾斜后断电", "线路故障")
ROAD_DEFECTS = ("路面坑槽", "裂缝", "井盖沉降", "路面沉陷")


def _feed(seed: int) -> dict[str, dict[str, float]]:
    """The plan feed's figures for the routed indicators: indicator -> {period: value}."""
    from .plan_observations import generate

    frame, _ = generate(seed)
    out: dict[str, dict[str, float]] = {}
    for key in ("lighting_on_rate_main", "lighting_on_rate_secondary", "lighting_on_rate_overall",
                "road_intact_rate_minor"):
        rows = frame[frame["indicator"] == key]
        out[key] = dict(zip(rows["period"].astype(str), rows["value"].astype(float)))
    return out


def _count(rate: float, n: int) -> int:
    return int(round(rate * n / 100.0))


def _register() -> pd.DataFrame:
    rows = []
    units = [u.unit_id for u in SERIES]
    for kind, classes, prefix in (("路灯", LAMPS, "LD"), ("道路", SEGMENTS, "DL")):
        for road_class, n in classes.items():
            for i in range(n):
                rows.append({"asset_id": f"{prefix}{len(rows) + 1:06d}", "kind": kind,
                             "unit_id": units[i % len(units)], "road_class": road_class,
                             "length_m": (200.0 + 50 * (i % 7)) if kind == "道路" else np.nan,
                             "check_every_days": 365, "in_service_from": IN_SERVICE, "retired_on": pd.NaT,
                             "attributes": pd.NA})
    for i in range(BRIDGES):
        rows.append({"asset_id": f"QL{i + 1:04d}", "kind": "桥梁", "unit_id": units[i % len(units)],
                     "road_class": ("主干路", "次干路")[i % 2], "length_m": 40.0 + 10 * (i % 5),
                     "check_every_days": 365, "in_service_from": IN_SERVICE, "retired_on": pd.NaT,
                     "attributes": pd.NA})
    return pd.DataFrame(rows)


def _round_counts(seed: int) -> list[tuple[pd.Timestamp, str, dict[str, int]]]:
    """(day, kind, {road class: assets ok}) of every round, every class checked in full."""
    feed = _feed(seed)
    main, sec = feed["lighting_on_rate_main"], feed["lighting_on_rate_secondary"]
    n_sec = sum(LAMPS[c] for c in SECONDARY)
    n_minor = sum(SEGMENTS[c] for c in MINOR)
    rounds = []

    def split(total: int, classes: tuple[str, ...], sizes: dict[str, int]) -> dict[str, int]:
        # the pooled count shared in proportion to the classes' sizes
        first = int(round(total * sizes[classes[0]] / sum(sizes[c] for c in classes)))
        first = min(first, sizes[classes[0]])
        return {classes[0]: first, classes[1]: total - first}

    for year in YEARS:
        y = str(year)
        lamps = {"主干路": _count(main[y], LAMPS["主干路"]), **split(_count(sec[y], n_sec), SECONDARY, LAMPS),
                 "支路": _count(BRANCH_LIT, LAMPS["支路"])}
        rounds.append((pd.Timestamp(f"{year}-12-10"), "路灯", lamps))
        roads = {"主干路": _count(MAJOR_INTACT, SEGMENTS["主干路"]), "次干路": _count(MAJOR_INTACT, SEGMENTS["次干路"]),
                 **split(_count(feed["road_intact_rate_minor"][y], n_minor), MINOR, SEGMENTS)}
        rounds.append((pd.Timestamp(f"{year}-12-01"), "道路", roads))
    d0, d1 = pd.Timestamp("2021-12-10"), pd.Timestamp("2022-12-10")
    n_all = sum(LAMPS.values())
    for month in CAMPAIGN_MONTHS:
        day = pd.Timestamp(f"{month}-15")
        f = (day - d0) / (d1 - d0)
        m = _count(main["2021"] + f * (main["2022"] - main["2021"]), LAMPS["主干路"])
        s = _count(sec["2021"] + f * (sec["2022"] - sec["2021"]), n_sec)
        branch = _count(feed["lighting_on_rate_overall"][month], n_all) - m - s
        if not 0 <= branch <= LAMPS["支路"]:
            raise ValueError(f"demo assets: {month} needs {branch} lit 支路 lamps of {LAMPS['支路']}")
        rounds.append((day, "路灯", {"主干路": m, **split(s, SECONDARY, LAMPS), "支路": branch}))
    for year, bad in zip(YEARS, BRIDGE_DEFECTS):
        rounds.append((pd.Timestamp(f"{year}-09-05"), "桥梁", {"主干路": None, "bad": bad}))
    return rounds


def generate(seed: int) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(assets, inspections, truth) for this seed."""
    rng = np.random.default_rng([int(seed), STREAM])
    reg = _register()
    checks = []
    for day, kind, counts in _round_counts(seed):
        assets = reg[reg["kind"] == kind]
        if kind == "桥梁":
            ok = np.ones(len(assets), dtype=bool)
            ok[rng.choice(len(assets), counts["bad"], replace=False)] = False
            parts = [(assets, ok)]
        else:
            parts = []
            for road_class, n_ok in counts.items():
                a = assets[assets["road_class"] == road_class]
                ok = np.zeros(len(a), dtype=bool)
                ok[rng.choice(len(a), n_ok, replace=False)] = True
                parts.append((a, ok))
        for a, ok in parts:
            # a night round for lamps (19:00-23:59), a day round otherwise, spread over five days
            hour0 = 19 if kind == "路灯" else 8
            minutes = rng.integers(0, 5 * 24 * 60, len(a)) % (5 * 60) + hour0 * 60
            when = day + pd.to_timedelta(rng.integers(0, 5, len(a)), unit="D") + pd.to_timedelta(minutes, unit="m")
            defects = LAMP_DEFECTS if kind == "路灯" else ROAD_DEFECTS
            defect = np.where(ok, None, np.asarray(defects, dtype=object)[rng.integers(0, len(defects), len(a))])
            checks.append(pd.DataFrame({"asset_id": a["asset_id"].to_numpy(), "inspected_at": when.floor("s"),
                                        "ok": ok, "defect": defect,
                                        "inspector": [f"巡查员{k:02d}" for k in rng.integers(1, 13, len(a))]}))
    inspections = pd.concat(checks, ignore_index=True).sort_values(["inspected_at", "asset_id"],
                                                                   ignore_index=True)
    return reg, inspections, truth(reg, inspections)


def truth(reg: pd.DataFrame, inspections: pd.DataFrame) -> dict:
    """Every routed rate by round, from the records: a lamp or segment counts by its check in the round."""
    d = inspections.merge(reg[["asset_id", "kind", "road_class"]], on="asset_id")
    d["period"] = d["inspected_at"].dt.to_period("M").astype(str)

    def rate(kind: str, classes) -> dict[str, float]:
        part = d[(d["kind"] == kind) & (d["road_class"].isin(classes) if classes else True)]
        g = part.groupby("period")["ok"].agg(["sum", "count"])
        return {p: round(100.0 * int(r["sum"]) / int(r["count"]), 6) for p, r in g.iterrows()}

    return {
        "rule": "亮灯率 / 完好率 = assets found lit / intact by their check in the month ÷ assets checked; "
                "every round checks every lamp (or segment, bridge) of its kind",
        "lamps": LAMPS, "segments": SEGMENTS, "bridges": BRIDGES,
        "rounds": {"lamps_yearly": [f"{y}-12" for y in YEARS], "lamps_campaign": list(CAMPAIGN_MONTHS),
                   "segments_yearly": [f"{y}-12" for y in YEARS], "bridges_yearly": [f"{y}-09" for y in YEARS]},
        "targets": {
            "zb_lighting_main": {"indicator": "street_light_on_rate", "road_classes": ["主干路"],
                                 "values": rate("路灯", ("主干路",))},
            "zb_lighting_secondary": {"indicator": "street_light_on_rate", "road_classes": list(SECONDARY),
                                      "values": rate("路灯", SECONDARY)},
            "zlt_lighting_overall": {"indicator": "street_light_on_rate", "road_classes": None,
                                     "values": rate("路灯", None)},
            "zb_intact_minor": {"indicator": "road_intact_rate", "road_classes": list(MINOR),
                                "values": rate("道路", MINOR)},
        },
        "bridge_intact_rate": rate("桥梁", None),
    }


# ---- the raw exports: the register and the checks, as the facilities system exports them --------

ASSET_FILE = "设施台账.csv"
INSPECTION_FILE = "设施巡查记录.csv"
ASSET_HEADERS = ["序号", "设施编号", "设施类型", "所属街道", "道路等级", "长度(米)", "巡查周期", "投用日期"]
INSPECTION_HEADERS = ["序号", "设施编号", "巡查时间", "检查结果", "问题描述", "巡查人"]


def write_exports(assets: pd.DataFrame, inspections: pd.DataFrame, out, names, write_csv, titles) -> list:
    """The register and the checks as GBK CSVs (title rows, header, rows, 合计)."""
    length = pd.to_numeric(assets["length_m"]).astype(float)
    raw_assets = pd.DataFrame({
        "序号": np.arange(1, len(assets) + 1), "设施编号": assets["asset_id"].astype(str),
        "设施类型": assets["kind"].astype(str), "所属街道": names.of(assets["unit_id"]).astype(object),
        "道路等级": assets["road_class"].astype("string").fillna("").astype(object),
        "长度(米)": length.map(lambda v: "" if pd.isna(v) else f"{v:g}"),
        "巡查周期": assets["check_every_days"].map(lambda v: "" if pd.isna(v) else f"{int(v)}"),
        "投用日期": pd.to_datetime(assets["in_service_from"]).dt.strftime("%Y-%m-%d").fillna(""),
    })[ASSET_HEADERS]
    at = pd.to_datetime(inspections["inspected_at"])
    raw_checks = pd.DataFrame({
        "序号": np.arange(1, len(inspections) + 1), "设施编号": inspections["asset_id"].astype(str),
        "巡查时间": at.dt.strftime("%Y-%m-%d %H:%M:%S"),
        "检查结果": np.where(inspections["ok"].astype(bool), "是", "否"),
        "问题描述": inspections["defect"].astype("string").fillna("").astype(object),
        "巡查人": inspections["inspector"].astype("string").fillna("").astype(object),
    })[INSPECTION_HEADERS]
    span = f"{at.min():%Y年%m月}至{at.max():%Y年%m月}" if len(at) else ""
    return [write_csv(out / ASSET_FILE, titles("市政设施(路灯、道路、桥梁)台账", "截至导出日"), raw_assets,
                      ["合计", f"{len(assets)}项"]),
            write_csv(out / INSPECTION_FILE, titles("路灯亮灯、道路完好及桥梁巡查记录", span), raw_checks,
                      ["合计", f"{len(inspections)}次"])]
