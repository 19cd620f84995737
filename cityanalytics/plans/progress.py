"""Progress of a plan's targets: baseline, the straight-line path to the target, and a 红黄绿 light.

For one target and one series of dated values (``Series``), ``judge`` returns a ``Progress``:

- **start and baseline.** A plan's start comes from its name (``plan_start``): a 十四五 plan
  starts on 2021-01-01, a 百日 campaign 100 days before its deadline, a one-year work plan
  (……2023年工作意见) on 1 January of its deadline's year; otherwise the first value's date. The
  baseline is the last value dated on or before the day before the start (else the first value).
  A cumulative count (``cumulative``) starts from 0 at the start and adds every flow dated after it.
- **path.** The straight line from (baseline date, baseline) to (deadline, target):
  ``path(t) = baseline + (target - baseline) * (t - t0) / (deadline - t0)``, held at the target
  after the deadline.
- **ahead / behind.** The latest value (dated on or before ``as_of``) against the path on the
  same date, in the target's favourable direction (">=": higher is ahead, "<=": lower is ahead).
- **probability.** Where the series has at least ``MIN_POINTS`` values from the baseline on and
  the deadline is still ahead: the chance that the value at the deadline meets the target, from
  the straight-line trend's prediction interval (t with n - 2 df); a share is fitted on the
  empirical-logit scale of the forecast models so that it stays inside 0-100% (a 100% target is
  then read as at least ``FULL_SHARE``%, what rounds to 100%). A caller may pass its own
  probability (the coverage forecast does so for targets it models).
- **light (RULE_ZH).** 绿: met, or on/ahead of the path with no evidence (probability < 50%)
  against reaching it; 黄: ahead of the path but the probability is below 50%, or behind the path
  with a probability of at least 50% (without a probability: a shortfall of at most
  ``AMBER_SHORTFALL`` of the distance from baseline to target); 红: behind otherwise, or the
  deadline passed unmet (judged on the last value on or before the deadline). 无数据: no value;
  the reason is said.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from cityanalytics.forecast.models import empirical_logit
from cityanalytics.targets import meets

MIN_POINTS = 3
AMBER_SHORTFALL = 0.10
FULL_SHARE = 99.5
LOGIT_N = 1000.0  # the pseudo-size behind a share given without its counts (bounds the logit)
LIGHT_ZH = {"green": "绿", "amber": "黄", "red": "红", "none": "无数据"}
RULE_ZH = (
    "红黄绿判定规则:绿 = 已达到目标,或不落后于基线到目标的直线进度且达标概率不低于 50%(无概率时只看进度);"
    f"黄 = 领先于直线进度但达标概率低于 50%,或落后于直线进度但达标概率不低于 50%"
    f"(无概率时:差距不超过基线到目标距离的 {AMBER_SHORTFALL:.0%});"
    "红 = 落后于直线进度且达标概率低于 50%(无概率时差距超过上述比例),或期限已过仍未达标(按期限前最后一个数值判定);"
    f"无数据 = 没有数值,并说明原因。直线进度 = 从基线(规划起点前最后一个数值)到期限时的目标值的直线;"
    f"数量类目标(建成××个)按规划起点以来的累计数对照;达标概率按基线以来至少 {MIN_POINTS} 个数值的直线趋势的预测区间"
    f"计算,比例类指标在 logit 尺度上拟合(不超出 0-100%),目标为 100% 时按不低于 {FULL_SHARE}% 计。"
)

_YEAR = re.compile(r"^(\d{4})$")
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_QUARTER = re.compile(r"^(\d{4})\s*Q([1-4])$", re.I)
_HALF = re.compile(r"^(\d{4})\s*H([12])$", re.I)


def period_end(text) -> pd.Timestamp:
    """The last day of a period as a source states it: 2024, 2024-06, 2024Q2, 2024H1, 2024-06-30."""
    if isinstance(text, pd.Period):
        return text.end_time.normalize()
    if isinstance(text, (pd.Timestamp, np.datetime64)) or hasattr(text, "year"):
        return pd.Timestamp(text).normalize()
    s = str(text).strip()
    if m := _YEAR.match(s):
        return pd.Timestamp(int(m[1]), 12, 31)
    if m := _MONTH.match(s):
        return pd.Period(f"{m[1]}-{int(m[2]):02d}", freq="M").end_time.normalize()
    if m := _QUARTER.match(s):
        return pd.Period(f"{m[1]}Q{m[2]}", freq="Q").end_time.normalize()
    if m := _HALF.match(s):
        return pd.Timestamp(int(m[1]), 6 if m[2] == "1" else 12, 30 if m[2] == "1" else 31)
    try:
        return pd.Timestamp(s).normalize()
    except (ValueError, TypeError):
        raise ValueError(f"period {text!r}: expected 2024, 2024-06, 2024Q2, 2024H1 or a date") from None


def plan_start(plan: str, deadline, first: pd.Timestamp | None = None) -> pd.Timestamp | None:
    """When a plan's count starts (see the module docstring); ``first`` when the name says nothing."""
    deadline = pd.Timestamp(deadline)
    if "十四五" in plan:
        return pd.Timestamp(2021, 1, 1)
    if "十三五" in plan:
        return pd.Timestamp(2016, 1, 1)
    if "百日" in plan:
        return deadline - pd.Timedelta(days=99)
    if re.search(r"\d{4}年(度)?工作(意见|计划|要点)", plan):
        return pd.Timestamp(deadline.year, 1, 1)
    return first


@dataclass
class Series:
    """Dated values of one target's indicator, and how they reached the report.

    road: "table" (computed from a canonical table) or "observations" (an aggregated feed).
    source: the table's name or the feed's source text. detail: extra facts shown beside the
    value (e.g. a dust limit's share of samples and roads within it). probability: the chance of
    reaching the target by the deadline when another model computed it (None: judge fits one).
    """

    dates: list
    values: list
    road: str
    source: str
    detail: str = ""
    probability: float | None = None
    probability_how: str = ""
    extra: dict = field(default_factory=dict)

    def frame(self) -> pd.DataFrame:
        f = pd.DataFrame({"date": pd.to_datetime(list(self.dates)), "value": pd.to_numeric(list(self.values))})
        return f.dropna().sort_values("date").reset_index(drop=True)


@dataclass
class Progress:
    target_id: str
    light: str  # green / amber / red / none
    value: float = math.nan
    value_date: pd.Timestamp | None = None
    baseline: float = math.nan
    baseline_date: pd.Timestamp | None = None
    path: float = math.nan
    gap: float = math.nan  # value - path, signed so that > 0 is ahead
    ahead: bool | None = None
    met: bool = False
    passed: bool = False
    probability: float = math.nan
    probability_how: str = ""
    reason: str = ""  # why there is no value, or how the light was reached

    @property
    def light_zh(self) -> str:
        return LIGHT_ZH[self.light]


def sign_of(comparison: str) -> int:
    return -1 if comparison == "<=" else 1


def path_value(baseline: float, t0, target: float, deadline, t) -> float:
    """The straight line from (t0, baseline) to (deadline, target), at t (held after the deadline)."""
    t0, deadline, t = pd.Timestamp(t0), pd.Timestamp(deadline), pd.Timestamp(t)
    span = (deadline - t0).days
    if span <= 0:
        return float(target)
    frac = min(max((t - t0).days / span, 0.0), 1.0)
    return float(baseline + (target - baseline) * frac)


def cumulate(frame: pd.DataFrame, start: pd.Timestamp) -> pd.DataFrame:
    """A count's flows as the running total since ``start``: 0 the day before, then each flow added."""
    flows = frame[frame["date"] >= start]
    base = pd.DataFrame({"date": [start - pd.Timedelta(days=1)], "value": [0.0]})
    run = flows.assign(value=flows["value"].cumsum())
    return pd.concat([base, run], ignore_index=True)


def trend_probability(frame: pd.DataFrame, target: float, comparison: str, deadline, *, share: bool) -> float:
    """P(value at the deadline meets the target) from a straight-line trend's prediction interval."""
    if len(frame) < MIN_POINTS:
        return math.nan
    x = ((frame["date"] - frame["date"].iloc[0]).dt.days / 365.25).to_numpy(float)
    y = frame["value"].to_numpy(float)
    threshold = float(target)
    if share:
        threshold = min(threshold, FULL_SHARE)
        y = empirical_logit(np.clip(y, 0, 100) / 100 * LOGIT_N, LOGIT_N)
        threshold = float(empirical_logit(threshold / 100 * LOGIT_N, LOGIT_N))
    if np.ptp(x) == 0:
        return math.nan
    n = len(y)
    b, a = np.polyfit(x, y, 1)
    x0 = (pd.Timestamp(deadline) - frame["date"].iloc[0]).days / 365.25
    fit = a + b * x0
    resid = y - (a + b * x)
    s = math.sqrt(float(np.sum(resid ** 2)) / (n - 2)) if n > 2 else 0.0
    se = s * math.sqrt(1 + 1 / n + (x0 - x.mean()) ** 2 / float(np.sum((x - x.mean()) ** 2)))
    z = sign_of(comparison) * (fit - threshold)
    if se == 0:
        return 1.0 if z >= 0 else 0.0
    return float(stats.t.cdf(z / se, n - 2))


def judge(target: dict, series: Series | None, as_of, *, cumulative: bool = False, share: bool = False,
          no_data_reason: str = "") -> Progress:
    """Progress of one target (a row of the targets table as a dict) on ``series`` as of ``as_of``."""
    tid, value_t, comparison = target["target_id"], float(target["value"]), target["comparison"]
    deadline, as_of = pd.Timestamp(target["deadline"]), pd.Timestamp(as_of)
    frame = series.frame() if series is not None else pd.DataFrame(columns=["date", "value"])
    frame = frame[frame["date"] <= as_of]
    if frame.empty:
        return Progress(tid, "none", reason=no_data_reason or "没有该指标的数据")
    start = plan_start(str(target.get("plan", "")), deadline, frame["date"].iloc[0])
    if cumulative:
        frame = cumulate(frame, start)
    t0 = start - pd.Timedelta(days=1)
    before = frame[frame["date"] <= t0]
    base_row = before.iloc[-1] if len(before) else frame.iloc[0]
    baseline, base_date = float(base_row["value"]), pd.Timestamp(base_row["date"])
    passed = deadline < as_of
    judged = frame[frame["date"] <= deadline] if passed else frame
    if judged.empty:  # the deadline passed before the first value
        judged = frame.iloc[:1]
    last = judged.iloc[-1]
    value, when = float(last["value"]), pd.Timestamp(last["date"])
    path = path_value(baseline, base_date, value_t, deadline, when)
    sgn = sign_of(comparison)
    gap = sgn * (value - path)
    met = meets(value, value_t, comparison)
    p = Progress(tid, "green", value=value, value_date=when, baseline=baseline, baseline_date=base_date,
                 path=path, gap=gap, ahead=gap >= -1e-9, met=met, passed=passed)
    if met:
        p.reason = "到期时已达标" if passed else "已达到目标"
        return p
    if passed:
        p.light, p.reason = "red", "期限已过仍未达标"
        return p
    if series.probability is not None:
        p.probability, p.probability_how = float(series.probability), series.probability_how
    else:
        since = frame[frame["date"] >= base_date]
        p.probability = trend_probability(since, value_t, comparison, deadline, share=share)
        if not math.isnan(p.probability):
            p.probability_how = f"基线以来 {len(since)} 个数值的直线趋势" + ("(logit 尺度)" if share else "")
    has_p = not math.isnan(p.probability)
    if p.ahead:
        if has_p and p.probability < 0.5:
            p.light, p.reason = "amber", "进度不落后,但按趋势到期达标的概率低于 50%"
        else:
            p.reason = "进度不落后于直线进度"
        return p
    span = abs(value_t - baseline)
    if has_p:
        p.light = "amber" if p.probability >= 0.5 else "red"
        p.reason = "落后于直线进度," + ("但按趋势可望达标" if p.light == "amber" else "按趋势难以到期达标")
    else:
        small = span > 0 and -gap <= AMBER_SHORTFALL * span
        p.light = "amber" if small else "red"
        p.reason = f"落后于直线进度,差距{'不超过' if small else '超过'}基线到目标距离的 {AMBER_SHORTFALL:.0%}(数值太少,无达标概率)"
    return p
