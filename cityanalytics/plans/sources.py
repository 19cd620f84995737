"""The series each target is judged on, by one of two roads, and why there is none.

The indicator registry's ``table`` says the road: a canonical table the value is computed from
(communities: sorting coverage, 两定一撤, compliant communities; dust_samples: the 以克论净 dust
per lane type), or ``observations``, the already-aggregated figures a bureau reports. An
observation series is matched to a target first by the target's own id in the ``indicator``
column (a bureau reporting against the plan's numbered targets, needed where one indicator
carries two targets with different scopes), then by its indicator id; only the chosen unit's
rows count (by default the workspace's top unit, the city).

Where the workspace holds the record-level ``assets`` and ``inspections`` tables, the lighting-on
and minor-road intactness targets are computed from them (``ASSET_ROUTES``: the asset indicator
and the road classes the target's wording covers, their lamps or segments pooled) before the
feed is looked at; the bridge-check and carriageway / footway targets have no such split in the
asset register and stay with the feed.

Where the workspace folder holds place layers beside its boundaries (``PLACE_FILES``: parks,
residential areas, green land-use polygons, GeoJSON), 公园绿地服务半径覆盖率, 人均公园绿地面积 and
绿地率 are computed from them (``PLACE_ROUTES``), one snapshot per year: the parks and green land
whose ``built_year`` is on or before the year (GB/T 50563-2010 service radii). Layers without
``built_year`` give no series and the feed is used.

A satisfaction target (满意率 / 满意度平均分, table ``survey_responses``) is the survey's weighted
estimate for the chosen unit (the whole sample for the city), one value per wave; the question is
the one the target's scope names, or the survey's only question.
"""

from __future__ import annotations

import pandas as pd

from cityanalytics.indicators import dust_indicators, sorting_indicators
from cityanalytics.indicators.frame import CITY
from cityanalytics.indicators.registry import get
from cityanalytics.targets import road_dust_limits

from .progress import Series, period_end

ROAD_ZH = {"table": "规范表计算", "observations": "汇总数据(observations)"}
TABLE_ZH = {"communities": "垃圾分类小区台账", "dust_samples": "以克论净检测", "observations": "汇总数据",
            "survey_responses": "满意度调查"}
SURVEY_MEASURES = {"survey_satisfied_share": ("share_satisfied", 100.0), "survey_satisfaction_mean": ("mean_score", 1.0)}
# target indicator -> (asset indicator, road classes pooled; None = every class)
ASSET_ROUTES = {
    "lighting_on_rate_main": ("street_light_on_rate", ("主干路",)),
    "lighting_on_rate_secondary": ("street_light_on_rate", ("次干路", "背街小巷")),
    "lighting_on_rate_overall": ("street_light_on_rate", None),
    "road_intact_rate_minor": ("road_intact_rate", ("支路", "背街小巷")),
}
# target indicator -> places indicator; the layers' file names in the workspace folder
PLACE_ROUTES = {"park_service_coverage": "park_service_radius_coverage",
                "park_green_area_per_capita": "park_area_per_capita", "green_space_rate": "green_space_ratio"}
PLACE_FILES = {"parks": "parks.geojson", "residential": "residential.geojson", "land_use": "land_use.geojson",
               "units": "boundaries.geojson"}
LANES = ("非机动车道", "机动车道", "人行道", "背街小巷")  # 非机动车道 before 机动车道: it contains it


def top_unit(districts: pd.DataFrame | None) -> str | None:
    """The workspace's top unit (the city): a row without a parent, the 市 row first."""
    if districts is None or districts.empty:
        return None
    roots = districts[districts["parent_id"].isna()]
    city = roots[roots["level"].astype(str) == "市"]
    pick = city if len(city) else roots
    return str(pick["unit_id"].iloc[0]) if len(pick) else None


def _area(scope: str) -> str:
    if "农村" in scope:
        return "area_type=农村"
    if any(w in scope for w in ("城区", "建成区", "城市")):
        return "area_type=城市"
    return ""


def _lane(scope: str) -> str | None:
    return next((lane for lane in LANES if lane in scope), None)


class Sources:
    """The workspace's tables, read once, and a series (or the reason for none) per target."""

    def __init__(self, tables: dict[str, pd.DataFrame | None], unit_id: str | None = None, root=None):
        self.tables = tables
        self.root = root  # the workspace folder, where place layers are looked for
        self.unit_id = unit_id or top_unit(tables.get("districts"))
        self._cache: dict = {}

    # --- the observations road -----------------------------------------------------------------
    def _observed(self, target: dict) -> tuple[Series | None, str]:
        obs = self.tables.get("observations")
        if obs is None:
            return None, "工作区没有汇总数据(observations)表"
        rows = obs[obs["unit_id"].astype(str) == str(self.unit_id)] if self.unit_id else obs
        for key in (target["target_id"], target["indicator"]):
            part = rows[rows["indicator"].astype(str) == key]
            if len(part):
                dates = [period_end(p) for p in part["period"]]
                sources = list(dict.fromkeys(part["source"].astype(str)))
                return Series(dates, part["value"].astype(float).tolist(), "observations",
                              ";".join(sources)), ""
        return None, f"汇总数据(observations)中没有{self.unit_id or ''}的该指标数值({target['indicator']})"

    # --- the canonical-table road ----------------------------------------------------------------
    def _sorting(self) -> pd.DataFrame:
        if "sorting" not in self._cache:
            self._cache["sorting"] = sorting_indicators(self.tables["communities"], freq="M")
        return self._cache["sorting"]

    def _frame_series(self, f: pd.DataFrame, indicator: str, group: str, source: str) -> Series:
        sub = f[(f["indicator"] == indicator) & (f["unit_id"] == CITY) & (f["group"] == group)].sort_values("period")
        dates = [period_end(p) for p in sub["period"]]
        return Series(dates, sub["value"].astype(float).tolist(), "table", source)

    def _compliant_share(self, scope: str) -> Series:
        c = self.tables["communities"]
        area = _area(scope)
        if area:
            c = c[c["area_type"].astype(str) == area.split("=")[1]]
        done = pd.to_datetime(c["compliant_on"])
        months = pd.period_range(pd.to_datetime(c["sorting_started_on"]).min(), done.max(), freq="M")
        ends = [m.end_time.normalize() for m in months]
        values = [100.0 * float((done <= e).sum()) / len(c) for e in ends]
        return Series(ends, values, "table", "communities")

    def _dust(self, lane: str) -> Series:
        samples = self.tables["dust_samples"]
        limit = road_dust_limits()[lane]
        f = dust_indicators(samples, freq="M") if "dust" not in self._cache else self._cache["dust"]
        self._cache["dust"] = f
        s = self._frame_series(f, "road_dust_mean", f"lane_type={lane}", "dust_samples")
        lane_rows = samples[samples["lane_type"].astype(str) == lane]
        month = pd.to_datetime(lane_rows["sampled_on"]).dt.to_period("M")
        last = lane_rows[month == month.max()]
        ok = (last["dust_g_m2"] <= limit + 1e-9)
        by_road = last.groupby("road_id")["dust_g_m2"].mean()
        s.detail = (f"{month.max()} {lane}限值 {limit:g} g/m²:样本达标 {int(ok.sum())}/{len(last)}"
                    f"({100 * ok.mean():.1f}%),道路达标 {int((by_road <= limit + 1e-9).sum())}/{len(by_road)}")
        s.extra = {"samples_ok": int(ok.sum()), "samples": len(last),
                   "roads_ok": int((by_road <= limit + 1e-9).sum()), "roads": int(len(by_road)), "limit": limit}
        return s

    def _assets(self, target: dict) -> Series | None:
        assets, inspections = self.tables.get("assets"), self.tables.get("inspections")
        if target["indicator"] not in ASSET_ROUTES or assets is None or inspections is None:
            return None
        from cityanalytics.indicators.assets import asset_indicators

        if "assets" not in self._cache:
            self._cache["assets"] = asset_indicators(assets, inspections, freq="M")
        f = self._cache["assets"]
        indicator, classes = ASSET_ROUTES[target["indicator"]]
        sub = f[(f["indicator"] == indicator) & (f["unit_id"] == CITY)]
        groups = [""] if classes is None else [f"road_class={c}" for c in classes]
        sub = sub[sub["group"].isin(groups)].groupby("period")[["numerator", "denominator"]].sum()
        sub = sub[sub["denominator"] > 0]
        if sub.empty:
            return None
        pooled = "、".join(classes) if classes else "全部道路"
        return Series([period_end(p) for p in sub.index], (100 * sub["numerator"] / sub["denominator"]).tolist(),
                      "table", f"assets/inspections({indicator},{pooled})")

    def _place_frame(self) -> pd.DataFrame | None:
        """Yearly place indicators for the city, or None without the layers (or without built_year)."""
        if "places" in self._cache:
            return self._cache["places"]
        self._cache["places"] = None
        from pathlib import Path

        paths = {role: Path(self.root) / name for role, name in PLACE_FILES.items()} if self.root else {}
        if not paths or not all(paths[r].is_file() for r in ("parks", "residential")):
            return None
        from cityanalytics.indicators.places import place_indicators
        from cityanalytics.indicators.places_read import read_layer, to_metres

        layers = to_metres({role: read_layer(p) for role, p in paths.items() if p.is_file()})
        parks, land = layers["parks"], layers.get("land_use")
        if "built_year" not in parks or parks["built_year"].isna().any():
            return None
        units = layers.get("units")
        if units is not None:  # the city's own outline is enough for the city's figures
            units = units[units["level"].astype(str) == "市"] if "level" in units else units
        parts = []
        for year in sorted(pd.to_numeric(parks["built_year"]).astype(int).unique()):
            green = None
            if land is not None and "built_year" in land:
                green = land[pd.to_numeric(land["built_year"]) <= year]
            f = place_indicators(parks[pd.to_numeric(parks["built_year"]) <= year], layers["residential"],
                                 units=units, land_use=green, period=str(year))
            parts.append(f[f["unit_id"] == CITY])
        self._cache["places"] = pd.concat(parts, ignore_index=True)
        return self._cache["places"]

    def _places(self, target: dict) -> Series | None:
        if target["indicator"] not in PLACE_ROUTES:
            return None
        f = self._place_frame()
        if f is None:
            return None
        indicator = PLACE_ROUTES[target["indicator"]]
        sub = f[(f["indicator"] == indicator) & f["value"].notna()]
        if sub.empty:
            return None
        return Series([period_end(p) for p in sub["period"]], sub["value"].astype(float).tolist(), "table",
                      f"places({indicator},GB/T 50563-2010)")

    def _survey(self, target: dict) -> tuple[Series | None, str]:
        from cityanalytics.survey.satisfaction import LIKERT_5, satisfaction_index

        d = self.tables["survey_responses"]
        questions = sorted(d["question"].astype(str).unique())
        scope = str(target.get("scope") or "")
        question = scope if scope in questions else (questions[0] if len(questions) == 1 else None)
        if question is None:
            return None, f"适用范围“{scope}”不是调查中的题目({'、'.join(questions[:10])})"
        est = satisfaction_index(d, question, scores=LIKERT_5)
        measure, scale = SURVEY_MEASURES[target["indicator"]]
        unit = CITY if self.unit_id in (None, top_unit(self.tables.get("districts"))) else str(self.unit_id)
        sub = est[(est["unit_id"] == unit) & (est["measure"] == measure)].sort_values("wave")
        if sub.empty:
            return None, f"满意度调查中没有{unit}的样本"
        return Series([period_end(w) for w in sub["wave"]], (sub["value"] * scale).tolist(), "table",
                      f"survey_responses({question},加权)"), ""

    def _computed(self, target: dict, table: str) -> tuple[Series | None, str]:
        ind, scope = target["indicator"], str(target["scope"])
        if self.tables.get(table) is None:
            return None, f"工作区没有{TABLE_ZH.get(table, table)}({table})表,无法计算"
        if table == "communities":
            if ind in ("sorting_coverage_communities", "fixed_dropoff_coverage"):
                return self._frame_series(self._sorting(), "sorting_coverage_communities", _area(scope),
                                          "communities"), ""
            if ind == "sorting_compliant_communities_new":
                return self._frame_series(self._sorting(), ind, "", "communities"), ""
            if ind == "sorting_compliant_share":
                return self._compliant_share(scope), ""
        if table == "survey_responses" and ind in SURVEY_MEASURES:
            return self._survey(target)
        if table == "dust_samples" and ind == "road_dust_g_m2":
            lane = _lane(scope)
            if lane is None:
                return None, f"适用范围“{scope}”不是车道类型,无法对应以克论净限值"
            return self._dust(lane), ""
        return None, f"尚无从{table}表计算{ind}的方法"

    def series(self, target: dict) -> tuple[Series | None, str]:
        """The series for one target (a targets-table row as a dict) and, when None, the reason."""
        try:
            info = get(target["indicator"])
        except KeyError:
            return None, f"指标{target['indicator']}不在指标库中"
        if info.table == "observations":
            computed = self._assets(target)
            computed = computed if computed is not None else self._places(target)
            return (computed, "") if computed is not None else self._observed(target)
        series, reason = self._computed(target, info.table)
        if series is None:
            # a computed indicator may still be reported as an aggregate
            observed, _ = self._observed(target)
            if observed is not None:
                return observed, ""
        return series, reason
