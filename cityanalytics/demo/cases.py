"""Case (数字城管 work order) generator, vectorised and chunked so 10 million rows fit in memory.

Two steps:

1. ``plan``: the expected count of cases per unit-day-subcategory (population x unit factor x
   subcategory mix x season x Spring Festival dip x weekday x trend x campaign factors x
   gamma noise), then one multinomial draw of exactly ``n_cases`` over those cells. Fixing the
   total keeps ``--cases N`` exact; the ratios between cells, hence the campaign effects, are
   those of the intensity.
2. ``chunks``: expand the counts day range by day range (about CHUNK_ROWS rows at a time) into
   rows: time of day, source, lifecycle timestamps, outcome flags, description. Every column
   is built with numpy and handed to pyarrow without Python loops over rows.

Deadlines (due_at) are the subcategory's limit in working hours from filing, on the official
calendar (``cityanalytics.workcalendar``; limits from ``data/time_limits.yaml``), i.e. what
``cityanalytics.indicators.cases.with_deadlines`` would compute for an export without them.
Outcome probabilities are per non-suspended case, the denominator the case indicators use.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from cityanalytics.workcalendar import WorkCalendar

from . import campaigns, timeline
from .units import N_SERIES, ROAD_SUFFIXES, SERIES, id_index, roads, series_ids
from .writing import arrow_schema

# ~72,000 cases a year for ~900,000 people (Hailing 2016-2020: 359,830 cases in 5 years),
# over the 6.5 years of the window.
DEFAULT_CASES = 468_000
CHUNK_ROWS = 1_500_000

# name, category, share, seasonal amplitude, day of year of the seasonal peak, two
# description phrases.
SUBCATEGORIES = (
    ("暴露垃圾", "事件", 0.15, 0.20, 200, ("有暴露垃圾未及时清运", "垃圾散落堆积")),
    ("占道经营", "事件", 0.13, 0.25, 190, ("有流动摊贩占道经营", "商户占用人行道经营")),
    ("乱堆物料", "事件", 0.09, 0.10, 150, ("乱堆放建筑物料", "杂物堆放占用道路")),
    ("违章张贴", "事件", 0.05, 0.05, 120, ("墙面违章张贴海报", "宣传栏外违章张贴")),
    ("非法小广告", "事件", 0.08, 0.05, 120, ("喷涂非法小广告", "散发非法小广告卡片")),
    ("道路不洁", "事件", 0.07, 0.12, 210, ("路面有油污污渍", "道路保洁不到位")),
    ("绿地脏乱", "事件", 0.05, 0.20, 200, ("绿地内有垃圾杂物", "绿化带脏乱")),
    ("非机动车乱停放", "事件", 0.06, 0.15, 180, ("共享单车乱停放", "电动自行车无序停放")),
    ("积存垃圾渣土", "事件", 0.03, 0.10, 100, ("积存垃圾渣土未清理", "渣土沿路抛洒")),
    ("井盖破损", "部件", 0.06, 0.05, 200, ("井盖破损存在安全隐患", "井盖缺失")),
    ("路灯不亮", "部件", 0.06, 0.15, 15, ("路灯不亮", "多盏路灯夜间不亮")),
    ("道路破损", "部件", 0.07, 0.15, 220, ("路面坑洼破损", "人行道板松动破损")),
    ("护栏损坏", "部件", 0.04, 0.05, 180, ("护栏倾倒损坏", "隔离护栏缺失")),
    ("垃圾桶破损", "部件", 0.04, 0.05, 200, ("垃圾桶破损", "垃圾桶缺盖")),
)
SUB_NAMES = [s[0] for s in SUBCATEGORIES]
N_SUB = len(SUBCATEGORIES)

# Per series (order of units.SERIES): cases per head relative to the city; probability a
# non-suspended case is disposed on time (by due_at); probability a disposed case was sent
# back (返工). Disposal probability: a late-but-disposed share of 1.5x the never-disposed share.
# Suspended cases (缓办/挂账, approved) stay open in the window; worse units suspend more.
CASES_PER_HEAD = np.array([1.20, 1.15, 1.10, 0.80, 1.20, 1.10, 1.00, 0.65, 0.60, 0.85])
P_ONTIME = np.array([0.982, 0.988, 0.975, 0.955, 0.984, 0.978, 0.993, 0.962, 0.972, 0.996])
P_DISPOSED = 1 - 0.6 * (1 - P_ONTIME)
P_REOPEN = np.array([0.012, 0.010, 0.016, 0.022, 0.012, 0.014, 0.009, 0.020, 0.018, 0.008])
P_SUSPENDED = 0.002 + 0.2 * (1 - P_ONTIME)
# Rural units see fewer stalls and parked bikes, more piled material and muck.
RURAL_MIX = {"占道经营": 0.7, "非机动车乱停放": 0.5, "乱堆物料": 1.4, "积存垃圾渣土": 1.4, "绿地脏乱": 1.3}
MIX_SD = 0.2  # log-normal spread of each unit's subcategory mix around the city mix

SOURCES = ("监督员", "公众举报", "12345热线", "视频监控", "部门移交", "其他")
# Shares at the start and at the end of the window (linear in between): the hotline and
# video patrols take over from supervisors.
SOURCE_P0 = np.array([0.62, 0.06, 0.15, 0.10, 0.05, 0.02])
SOURCE_P1 = np.array([0.50, 0.04, 0.24, 0.16, 0.04, 0.02])
FILE_LAG_MEDIAN_MIN = np.array([12, 40, 60, 8, 90, 30])  # 上报 -> 立案, by source
POSITIONS = ("路口", "东侧", "西侧", "南侧", "北侧", "附近")  # for the description text

TREND_PER_YEAR = 0.03
WEEKEND_FACTOR = 0.85
SPRING_DIP, SPRING_CENTER, SPRING_SD = 0.45, 2.0, 4.0  # depth, days after New Year, width
DAY_SHAPE, CELL_SHAPE = 30.0, 10.0  # gamma noise: unit-day shocks and cell noise (mean 1)

DISPATCH_LAG_MEDIAN_MIN, CHECK_LAG_MEDIAN_MIN, CLOSE_LAG_MEDIAN_MIN = 10, 45, 20
DISPATCH_LAG_MAX_S = 3600  # so that dispatch always comes before the shortest deadline
ONTIME_BETA = (1.6, 2.2)  # share of the time left between dispatch and due_at, on-time cases
LATE_OVERRUN = 0.6  # median overrun of late cases, x limit in hours (+30 min)


@lru_cache(maxsize=1)
def time_limits() -> tuple[dict[str, float], float]:
    """(limit in working hours per subcategory, default) from cityanalytics/data/time_limits.yaml."""
    text = resources.files("cityanalytics").joinpath("data/time_limits.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    return {k: float(v) for k, v in data.get("limits", {}).items()}, float(data.get("default", 24))


def limit_hours() -> np.ndarray:
    limits, default = time_limits()
    return np.array([limits.get(name, default) for name in SUB_NAMES])


@dataclass
class Plan:
    seed: int
    n_cases: int
    mix: np.ndarray  # [series, sub] subcategory shares per unit
    counts: np.ndarray  # [day, series, sub] cases drawn


def seasonal_log(day: np.ndarray) -> np.ndarray:
    """[day, sub] log seasonal factor (cosine with a per-subcategory amplitude and peak)."""
    doy = timeline.DAYS.day_of_year.to_numpy()[day]
    amp = np.array([s[3] for s in SUBCATEGORIES])
    peak = np.array([s[4] for s in SUBCATEGORIES])
    return amp * np.cos(2 * np.pi * (doy[:, None] - peak) / 365.25)


def calendar_log(day: np.ndarray) -> np.ndarray:
    """[day] log factor common to all cells: trend, weekends, the Spring Festival dip."""
    out = TREND_PER_YEAR * timeline.years_since_start(day)
    out = out + np.where(timeline.DAYS.day_of_week.to_numpy()[day] >= 5, np.log(WEEKEND_FACTOR), 0.0)
    dip = np.zeros(day.shape)
    for sf in timeline.SPRING_FESTIVAL:
        dip += SPRING_DIP * np.exp(-0.5 * ((day - timeline.day_index(sf) - SPRING_CENTER) / SPRING_SD) ** 2)
    return out + np.log1p(-np.minimum(dip, 0.9))


def plan(seed: int, n_cases: int) -> Plan:
    rng = timeline.rng(seed, "cases")
    day = np.arange(timeline.N_DAYS)
    shares = np.array([s[2] for s in SUBCATEGORIES])
    mix = shares * np.exp(MIX_SD * rng.standard_normal((N_SERIES, N_SUB)))
    for s, u in enumerate(SERIES):
        if not u.urban:
            mix[s] *= [RURAL_MIX.get(n, 1.0) for n in SUB_NAMES]
    mix /= mix.sum(axis=1, keepdims=True)
    size = np.array([u.population for u in SERIES]) * CASES_PER_HEAD
    log_base = (np.log(size)[None, :, None] + np.log(mix)[None, :, :]
                + seasonal_log(day)[:, None, :] + calendar_log(day)[:, None, None]
                + campaigns.case_log_factors(SUB_NAMES))
    noise = (rng.gamma(DAY_SHAPE, 1 / DAY_SHAPE, (timeline.N_DAYS, N_SERIES, 1))
             * rng.gamma(CELL_SHAPE, 1 / CELL_SHAPE, log_base.shape))
    p = np.exp(log_base - log_base.max()) * noise
    p = (p / p.sum()).ravel()
    counts = rng.multinomial(n_cases, p).reshape(log_base.shape)
    return Plan(seed, n_cases, mix, counts)


def _day_ranges(per_day: np.ndarray, chunk_rows: int) -> list[tuple[int, int]]:
    """Split days into consecutive ranges of about chunk_rows cases (whole days only)."""
    ranges, start, acc = [], 0, 0
    for d, n in enumerate(per_day.tolist()):  # 2,373 days: a loop over days, not rows
        if acc and acc + n > chunk_rows:
            ranges.append((start, d))
            start, acc = d, 0
        acc += n
    ranges.append((start, len(per_day)))
    return ranges


def _lognormal_s(rng: np.random.Generator, median_s: np.ndarray | float, sigma: float, n: int) -> np.ndarray:
    return np.floor(median_s * np.exp(sigma * rng.standard_normal(n))).astype(np.int64)


def _case_ids(day: np.ndarray, seq: np.ndarray) -> pa.Array:
    """'SF' + YYYYMMDD + 6-digit sequence within the day, built as a fixed-width byte matrix."""
    n = len(day)
    width = 16
    ymd = timeline.DAYS.strftime("%Y%m%d").to_numpy().astype("S8").view(np.uint8).reshape(-1, 8)
    buf = np.empty((n, width), dtype=np.uint8)
    buf[:, 0], buf[:, 1] = ord("S"), ord("F")
    buf[:, 2:10] = ymd[day]
    rest = seq.astype(np.int64)
    for pos in range(width - 1, 9, -1):
        buf[:, pos] = 48 + rest % 10
        rest //= 10
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(buf.ravel()))


def _descriptions() -> pa.Array:
    """Vocabulary indexed by ((series * roads + road) * positions + position) * subs * 2 + k."""
    words = []
    for s in range(N_SERIES):
        for _, road, _ in roads(s):
            for pos in POSITIONS:
                for sub in SUBCATEGORIES:
                    for phrase in sub[5]:
                        words.append(f"{road}{pos}{phrase}")
    return pa.array(words, type=pa.string())


def _add_working_hours(calendar: WorkCalendar, start_s: np.ndarray, hours: np.ndarray) -> np.ndarray:
    """Epoch seconds (floored) at which ``hours`` working hours have passed after ``start_s``."""
    start = pd.Series((start_s * 1_000_000_000).view("datetime64[ns]"))
    due = calendar.add_working_hours(start, hours).to_numpy(dtype="datetime64[ns]")
    return due.view(np.int64) // 1_000_000_000


def _timestamp(seconds: np.ndarray, valid: np.ndarray) -> pa.Array:
    return pa.array((seconds * 1_000_000_000).view("datetime64[ns]"), type=pa.timestamp("ns"), mask=~valid)


def chunks(p: Plan, chunk_rows: int = CHUNK_ROWS) -> Iterator[pa.Table]:
    """Rows of the cases table, sorted by reported_at, as arrow tables of about chunk_rows."""
    rng = np.random.default_rng([p.seed, timeline.STREAMS["cases"], 1])  # own stream: re-iterable
    schema = arrow_schema("cases")
    flat = p.counts.reshape(timeline.N_DAYS, -1)  # [day, series*sub]
    ids = pa.array(series_ids(), type=pa.string())
    subs = pa.array(SUB_NAMES, type=pa.string())
    cats = pa.array([s[1] for s in SUBCATEGORIES], type=pa.string())
    sources = pa.array(SOURCES, type=pa.string())
    vocab = _descriptions()
    hours = limit_hours()
    calendar = WorkCalendar(start=str(timeline.START.date()), end=str((timeline.END + pd.DateOffset(years=1)).date()))
    cum0, cum1 = np.cumsum(SOURCE_P0), np.cumsum(SOURCE_P1)
    for d0, d1 in _day_ranges(flat.sum(axis=1), chunk_rows):
        cell = np.repeat(np.arange(d0 * flat.shape[1], d1 * flat.shape[1]), flat[d0:d1].ravel())
        n = len(cell)
        if n == 0:
            continue
        day = cell // (N_SERIES * N_SUB)
        series = (cell // N_SUB) % N_SERIES
        sub = cell % N_SUB

        # Source (shares drift over time), then a time of day: supervisors and cameras work
        # office hours, the public calls all day.
        w = (day / (timeline.N_DAYS - 1))[:, None]
        src = ((cum0 + w * (cum1 - cum0)) < rng.random(n)[:, None]).sum(axis=1)
        src = np.minimum(src, len(SOURCES) - 1)
        office = (src == 0) | (src == 3)
        tod = np.where(office, rng.normal(12.5, 3.0, n), rng.normal(14.0, 4.5, n)) * 3600
        tod = np.mod(tod, 86400).astype(np.int64)
        reported = timeline.START_S + day.astype(np.int64) * 86400 + tod

        order = np.argsort(reported, kind="stable")
        day, series, sub, src, reported = day[order], series[order], sub[order], src[order], reported[order]
        seq = np.arange(n) - np.searchsorted(day, day, side="left") + 1

        filed = reported + _lognormal_s(rng, FILE_LAG_MEDIAN_MIN[src] * 60.0, 0.8, n)
        dispatched = filed + np.minimum(_lognormal_s(rng, DISPATCH_LAG_MEDIAN_MIN * 60.0, 0.9, n),
                                        DISPATCH_LAG_MAX_S)
        # The deadline runs from filing; a case not yet filed at the end of the window gets
        # it from reporting, as the case indicators would.
        base = np.where(filed <= timeline.END_S, filed, reported)
        due = _add_working_hours(calendar, base, hours[sub])

        suspended = rng.random(n) < P_SUSPENDED[series]
        u = rng.random(n)
        ontime = ~suspended & (u < P_ONTIME[series])
        disposed_ok = ~suspended & (u < P_DISPOSED[series])
        left = np.maximum(due - dispatched, 0)
        took = np.where(
            ontime,
            np.floor(left * rng.beta(*ONTIME_BETA, n)),
            left + 1 + _lognormal_s(rng, LATE_OVERRUN * hours[sub] * 3600 + 1800.0, 0.9, n),
        ).astype(np.int64)
        disposed = dispatched + took
        reopened = disposed_ok & (rng.random(n) < P_REOPEN[series])
        # A reopened case is checked twice, with the rework in between.
        checked = disposed + _lognormal_s(rng, CHECK_LAG_MEDIAN_MIN * 60.0, 0.8, n) * np.where(reopened, 3, 1)
        closed = checked + _lognormal_s(rng, CLOSE_LAG_MEDIAN_MIN * 60.0, 0.9, n)
        desc = (((series * len(ROAD_SUFFIXES) + rng.integers(0, len(ROAD_SUFFIXES), n)) * len(POSITIONS)
                 + rng.integers(0, len(POSITIONS), n)) * N_SUB + sub) * 2 + rng.integers(0, 2, n)

        # Censoring at the end of the window: a stage after it has not happened yet, nor
        # anything later.
        has_filed = filed <= timeline.END_S
        has_dispatched = has_filed & (dispatched <= timeline.END_S)
        has_disposed = has_dispatched & disposed_ok & (disposed <= timeline.END_S)
        has_checked = has_disposed & (checked <= timeline.END_S)
        has_closed = has_checked & (closed <= timeline.END_S)
        every = np.ones(n, dtype=bool)

        yield pa.Table.from_arrays(
            [
                _case_ids(day, seq),
                pc.take(ids, pa.array(id_index(series, day).astype(np.int32))),
                pc.take(sources, pa.array(src.astype(np.int32))),
                pc.take(cats, pa.array(sub.astype(np.int32))),
                pc.take(subs, pa.array(sub.astype(np.int32))),
                _timestamp(reported, every),
                _timestamp(filed, has_filed),
                _timestamp(dispatched, has_dispatched),
                _timestamp(disposed, has_disposed),
                _timestamp(checked, has_checked),
                _timestamp(closed, has_closed),
                _timestamp(due, every),
                pa.array(reopened & has_checked),
                pa.array(suspended),
                pc.take(vocab, pa.array(desc.astype(np.int32))),
            ],
            schema=schema,
        )


def truth(p: Plan) -> dict:
    ids = [u.unit_id for u in SERIES]
    per_series = p.counts.sum(axis=(0, 2))
    return {
        "n_cases": p.n_cases,
        "default_n_cases": DEFAULT_CASES,
        "model": (
            "expected count per unit-day-subcategory = population x cases_per_head x mix x "
            "exp(seasonal + calendar) x campaign factors x gamma noise (unit-day shape "
            f"{DAY_SHAPE:g}, cell shape {CELL_SHAPE:g}); exactly n_cases are drawn by one "
            "multinomial over all cells, so only ratios between cells are meaningful"
        ),
        "cases_per_head_relative": dict(zip(ids, CASES_PER_HEAD.tolist())),
        "subcategories": [
            {"subcategory": s[0], "category": s[1], "city_share": round(s[2] / sum(x[2] for x in SUBCATEGORIES), 6),
             "time_limit_working_hours": float(h), "seasonal_amplitude": s[3], "seasonal_peak_day_of_year": s[4]}
            for s, h in zip(SUBCATEGORIES, limit_hours())
        ],
        "subcategory_mix": {uid: dict(zip(SUB_NAMES, np.round(p.mix[i], 6).tolist())) for i, uid in enumerate(ids)},
        "seasonal": "log factor = amplitude x cos(2 pi (day_of_year - peak) / 365.25)",
        "trend_log_per_year": TREND_PER_YEAR,
        "weekend_factor": WEEKEND_FACTOR,
        "spring_festival": {
            "dates": list(timeline.SPRING_FESTIVAL),
            "formula": "factor = 1 - depth x exp(-0.5 ((day - new_year - center_days) / sd_days)^2)",
            "depth": SPRING_DIP, "center_days": SPRING_CENTER, "sd_days": SPRING_SD,
        },
        "sources": {"names": list(SOURCES), "shares_at_start": SOURCE_P0.tolist(),
                    "shares_at_end": SOURCE_P1.tolist(), "drift": "linear in time"},
        "lifecycle": {
            "file_lag_median_minutes_by_source": dict(zip(SOURCES, FILE_LAG_MEDIAN_MIN.tolist())),
            "dispatch_lag_median_minutes": DISPATCH_LAG_MEDIAN_MIN,
            "dispatch_lag_max_seconds": DISPATCH_LAG_MAX_S,
            "due_at": "filed_at (reported_at if not filed by the end) + time_limit_working_hours on the "
                      "official working calendar (cityanalytics.workcalendar, 9-12 and 13-18 on workdays)",
            "time_limits_source": "cityanalytics/data/time_limits.yaml (its default for subcategories it lacks)",
            "on_time_disposal": "dispatched_at + (due_at - dispatched_at) x Beta(%g, %g)" % ONTIME_BETA,
            "late_disposal": f"due_at + 1 s + lognormal overrun (median {LATE_OVERRUN} x limit hours + 30 min, "
                             "log sd 0.9)",
            "check_lag_median_minutes": CHECK_LAG_MEDIAN_MIN, "check_lag_multiplier_if_reopened": 3,
            "close_lag_median_minutes": CLOSE_LAG_MEDIAN_MIN,
            "censoring": "stages after the end of the window (2025-06-30 23:59:59) are empty",
        },
        "disposal": {
            "definitions": {
                "p_suspended": "probability a case is suspended (缓办/挂账); suspended cases stay open",
                "p_disposed": "probability a non-suspended case is ever disposed (处置率 before censoring)",
                "p_ontime": "probability a non-suspended case is disposed no later than due_at (及时处置率)",
                "p_reopened": "probability a disposed case was sent back for rework (返工)",
                "denominator": "non-suspended cases, as in cityanalytics.indicators.cases (exclude_suspended)",
            },
            "by_unit": {uid: {"p_disposed": round(float(P_DISPOSED[i]), 6), "p_ontime": float(P_ONTIME[i]),
                              "p_reopened": float(P_REOPEN[i]), "p_suspended": round(float(P_SUSPENDED[i]), 6)}
                        for i, uid in enumerate(ids)},
            "city_expected": {
                "p_disposed": round(float(P_DISPOSED @ per_series / per_series.sum()), 6),
                "p_ontime": round(float(P_ONTIME @ per_series / per_series.sum()), 6),
                "p_suspended": round(float(P_SUSPENDED @ per_series / per_series.sum()), 6),
                "weights": "this run's cases per unit",
            },
            "note": "the old id of the changed unit shares the parameters of its successor",
        },
        "cases_by_unit": dict(zip(ids, per_series.tolist())),
        "case_id_format": "SF + YYYYMMDD of reported_at + 6-digit sequence within the day",
    }
