"""truth.json: every parameter the demo city was generated from, for testing estimators.

Top-level keys (also listed under "_doc" in the file itself):

synthetic, label_zh  always true / "合成演示数据,非真实城市": this is not a real city.
generator, seed, n_cases, window, tables
                     how the files were made: seed, number of cases, data window, rows per table.
units                the ten case-bearing units ("series"), the districts and the historical unit
                     of the 撤镇设街道 change.
cases                intensity model (unit sizes, subcategory mix and time limits, seasonality,
                     Spring Festival dip, trend, sources), lifecycle delays, and per unit the true
                     probabilities of disposal, on-time disposal and rework.
campaigns            the two campaigns: units, phases or adoption dates, targeted subcategories
                     and the true multiplicative effects with their decay or ramp.
dust                 lane limits, the log-normal model and per-unit true compliance.
communities          per unit the logistic adoption curve (K, r, t0), the true coverage by month
                     through 2026-12 (curve and realized) and when the curve reaches 98%.
assessments          score model and per-unit parameters.
plan_targets         every registered plan target: the road it reaches the plan-progress report by
                     (table or observations), whether it is built to be on track or to miss, and
                     the report's expected counts (on_track / behind / no_data).
assets               the asset register and its check rounds; the lighting-on and minor-road
                     intactness rates by month from the records (equal to the plan feed's figures).
places               the place layers; 公园绿地服务半径覆盖率, 人均公园绿地面积 and 绿地率 by year.
survey               the 市民满意度 survey's design; share satisfied and mean score by question, wave, unit.
"""

from __future__ import annotations

from . import timeline

LABEL_ZH = "合成演示数据,非真实城市"

DOC = {
    "synthetic": "always true: the data are made up",
    "label_zh": "Chinese label saying the data are synthetic",
    "generator": "module and format version that wrote the data",
    "seed": "random seed; the same seed and n_cases give the same data",
    "n_cases": "rows in the cases table",
    "window": "first and last day of data (inclusive)",
    "tables": "rows written per table",
    "units": "case-bearing units (series), districts, historical units and the boundary change",
    "cases": "case intensity model, lifecycle and per-unit disposal / on-time / rework probabilities",
    "campaigns": "campaign designs and their true multiplicative effects on case intensity",
    "dust": "以克论净 model: limits, per-unit levels and true compliance",
    "communities": "logistic adoption curves per unit and true coverage by month through 2026-12",
    "assessments": "monthly score model and per-unit parameters",
    "plan_targets": "each plan target's road and design (on_track or behind, with why) and the expected counts",
    "assets": "lamps, road segments and bridges per road class, the check rounds and, per routed plan target, "
              "the rate by month as the inspection records give it",
    "places": "the place layers (parks, residential areas, green land; GeoJSON) and, per routed plan target, "
              "the value by year from the geometry",
    "survey": "the 市民满意度 survey's design and, per question, wave and unit (and the city), the weighted "
              "share satisfied and mean score the sample holds",
}


def build(*, seed: int, n_cases: int, tables: dict[str, int], parts: dict) -> dict:
    return {
        "_doc": DOC,
        "synthetic": True,
        "label_zh": LABEL_ZH,
        "generator": {"module": "cityanalytics.demo", "format_version": 1},
        "seed": seed,
        "n_cases": n_cases,
        "window": {"start": str(timeline.START.date()), "end": str(timeline.END.date()),
                   "truth_through": str(timeline.TRUTH_END.date())},
        "tables": tables,
        **parts,
    }
