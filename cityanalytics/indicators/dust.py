"""Road cleanliness "以克论净": dust left on a 1 m2 frame after cleaning, in g/m2.

A sample complies when its dust is at or below the limit of its lane type; seed 001 (Zibo)
sets 3 / 8 / 10 / 10 g/m2 for 机动车道 / 非机动车道 / 人行道 / 背街小巷. A road complies when
the mean of its samples is within the limit for every lane type sampled on it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cityanalytics.engines import fetch_rows
from cityanalytics.indicators import frame as F
from cityanalytics.indicators.computable import drop_not_computable
from cityanalytics.indicators._grouping import keys_of, prepare, with_city
from cityanalytics.stats.intervals import grouped_t_mean

DEFAULT_LIMITS = {"机动车道": 3.0, "非机动车道": 8.0, "人行道": 10.0, "背街小巷": 10.0}  # seed 001


INDICATORS = ("road_dust_sample_compliance_rate", "road_dust_road_compliance_rate", "road_dust_mean")

def dust_indicators(samples: pd.DataFrame, *, limits: dict[str, float] | None = None, start=None, end=None,
                    freq: str = "M", level: float = 0.95, unit_map: dict[str, str] | None = None,
                    include_city: bool = True, engine=None) -> pd.DataFrame:
    """samples: the dust_samples table, or where an engine reads it (``cityanalytics.engines``)."""
    samples = fetch_rows(samples, engine, "dust_samples")
    limits = limits or DEFAULT_LIMITS
    unknown = set(samples["lane_type"].dropna()) - set(limits)
    if unknown:
        raise ValueError(f"no dust limit for lane type(s): {', '.join(sorted(unknown))}")
    d, start, end = prepare(samples, "sampled_on", freq, start, end, unit_map)
    d["limit"] = d["lane_type"].map(limits).astype(float)
    d["ok"] = d["dust_g_m2"].astype(float) <= d["limit"]
    d = with_city(d, include_city)
    keys = ["unit_id", "period"]

    per_sample = d.groupby(keys, sort=True).agg(n=("ok", "size"), ok=("ok", "sum")).reset_index()
    parts = [F.proportion("road_dust_sample_compliance_rate", keys_of(per_sample), per_sample["ok"],
                          per_sample["n"], level)]

    lanes = d.groupby([*keys, "road_id", "lane_type"], sort=True).agg(
        mean=("dust_g_m2", "mean"), limit=("limit", "first")).reset_index()
    roads = lanes.assign(ok=lanes["mean"] <= lanes["limit"]).groupby([*keys, "road_id"])["ok"].all().reset_index()
    per_road = roads.groupby(keys, sort=True).agg(n=("ok", "size"), ok=("ok", "sum")).reset_index()
    parts.append(F.proportion("road_dust_road_compliance_rate", keys_of(per_road), per_road["ok"],
                              per_road["n"], level))

    means = grouped_t_mean(d.assign(dust=d["dust_g_m2"].astype(float)), [*keys, "lane_type"], "dust", level)
    means["group"] = "lane_type=" + means["lane_type"].astype(str)
    parts.append(F.estimate("road_dust_mean", keys_of(means), means["mean"], means["ci_low"], means["ci_high"],
                            "t", means["n"]))
    return drop_not_computable(F.combine(parts, level), samples, list(INDICATORS))
