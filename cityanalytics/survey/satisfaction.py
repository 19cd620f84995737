"""Satisfaction indices from a ``survey_responses`` table: by unit and wave, with design-based intervals.

Each wave is its own sample (its own design); a unit is a domain of it. For a Likert question
the index is either the weighted mean score or the weighted share of respondents at or above a
"satisfied" score (default 4 on a 1-5 scale: 满意 or 非常满意). Answers are scored by ``scores``
(label -> number) or read as numbers; an answer that is neither is an error naming its row, and
a blank answer (不回答) is left out of the domain, never scored 0.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd
from scipy import stats

from cityanalytics.indicators.frame import CITY, combine, estimate
from cityanalytics.survey.design import Design, domain_mean

# Five-point labels as Chinese satisfaction questionnaires word them.
LIKERT_5 = {"非常不满意": 1, "不满意": 2, "一般": 3, "基本满意": 4, "满意": 4, "比较满意": 4, "非常满意": 5}
RESULT_COLUMNS = ["unit_id", "wave", "question", "measure", "value", "se", "df", "ci_low", "ci_high", "n",
                  "weight_sum"]


def scored(responses: pd.DataFrame, scores: Mapping[str, float] | None = None) -> pd.Series:
    """Numeric score of each answer (NaN for a blank one)."""
    answers = responses["answer"]
    mapped = answers.map(dict(scores)) if scores else pd.Series(np.nan, index=answers.index)
    numeric = pd.to_numeric(answers, errors="coerce")
    out = mapped.astype(float).fillna(numeric)
    bad = answers.notna() & out.isna()
    if bad.any():
        row = answers.index[bad.to_numpy()][0]
        raise ValueError(f"survey_responses: row {row}, column answer: {answers[row]!r} is neither a number nor "
                         f"a label in scores ({', '.join(map(str, scores)) if scores else 'none given'})")
    return out


def satisfaction_index(responses: pd.DataFrame, question: str, *, scores: Mapping[str, float] | None = None,
                       satisfied_at: float = 4, level: float = 0.95, include_city: bool = True) -> pd.DataFrame:
    """Mean score and share satisfied for ``question``, by unit and wave (and city-wide per wave).

    One row per unit, wave and measure (``mean_score`` | ``share_satisfied``): value, linearised SE,
    design df, t interval (logit scale for the share), respondents with an answer, sum of their weights.
    """
    _check_columns(responses)
    d = responses[responses["question"].astype(str) == str(question)]
    if d.empty:
        raise ValueError(f"survey_responses: no answer to question {question!r}; "
                         f"questions held: {', '.join(sorted(responses['question'].astype(str).unique())[:20])}")
    rows = []
    for wave, w in d.groupby("wave", sort=True):
        design = Design.of(w)
        score = scored(w, scores).to_numpy(dtype=float)
        happy = np.where(np.isnan(score), np.nan, (score >= satisfied_at).astype(float))
        domains = _domains(w, include_city)
        for unit, mask in domains:
            for measure, values, scale in (("mean_score", score, "identity"), ("share_satisfied", happy, "logit")):
                est = domain_mean(values, mask, design)
                low, high = est.interval(level, scale)
                rows.append([unit, wave, question, measure, est.value, est.se, est.df, low, high, est.n,
                             est.weight_sum])
    out = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    out.attrs["ci_level"] = level
    return out


def option_shares(responses: pd.DataFrame, question: str, *, level: float = 0.95,
                  include_city: bool = True) -> pd.DataFrame:
    """Share answering each option of ``question``, by unit and wave, with logit-scale intervals."""
    _check_columns(responses)
    d = responses[responses["question"].astype(str) == str(question)]
    rows = []
    for wave, w in d.groupby("wave", sort=True):
        design = Design.of(w)
        answered = w["answer"].notna().to_numpy()
        answers = w["answer"].astype("string").fillna("").to_numpy()
        domains = _domains(w, include_city)
        for option in sorted(set(answers[answered])):
            values = np.where(answered, (answers == option).astype(float), np.nan)
            for unit, mask in domains:
                est = domain_mean(values, mask, design)
                low, high = est.interval(level, "logit")
                rows.append([unit, wave, question, f"option={option}", est.value, est.se, est.df, low, high,
                             est.n, est.weight_sum])
    out = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    out.attrs["ci_level"] = level
    return out


def wave_change(index: pd.DataFrame, before: str, after: str, *, level: float = 0.95) -> pd.DataFrame:
    """Change of each unit's index from wave ``before`` to wave ``after`` (independent samples).

    SE = sqrt(se_before^2 + se_after^2); t interval on Satterthwaite's df from the two design dfs.
    A unit missing from either wave gets no change (it is listed with NaN, not dropped).
    """
    keys = ["unit_id", "question", "measure"]
    a = index[index["wave"] == before].set_index(keys)
    b = index[index["wave"] == after].set_index(keys)
    if a.empty or b.empty:
        raise ValueError(f"wave_change: no estimates for wave {before if a.empty else after!r}; "
                         f"waves held: {', '.join(map(str, sorted(index['wave'].unique())))}")
    cols = ["value", "se", "df"]
    both = pd.concat([a[cols].add_suffix("_before"), b[cols].add_suffix("_after")], axis=1, join="outer")
    change = both["value_after"] - both["value_before"]
    va, vb = both["se_before"] ** 2, both["se_after"] ** 2
    se = np.sqrt(va + vb)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (va + vb) ** 2 / (va ** 2 / both["df_before"] + vb ** 2 / both["df_after"])
    q = stats.t.ppf(0.5 + level / 2, df.where(df > 0))
    out = pd.DataFrame({"before": before, "after": after, "value_before": both["value_before"],
                        "value_after": both["value_after"], "change": change, "se": se, "df": df,
                        "ci_low": change - q * se, "ci_high": change + q * se}).reset_index()
    out.attrs["ci_level"] = level
    return out


def _domains(wave: pd.DataFrame, include_city: bool) -> list[tuple[str, np.ndarray]]:
    """(unit id, row mask) for each unit of a wave, and the city (every row) when asked."""
    units = wave["unit_id"].astype(str).to_numpy()
    domains = [(u, units == u) for u in sorted(set(units))]
    if include_city:
        domains.append((CITY, np.ones(len(wave), dtype=bool)))
    return domains


def _check_columns(responses: pd.DataFrame) -> None:
    missing = [c for c in ("unit_id", "wave", "question", "answer", "weight") if c not in responses]
    if missing:
        raise ValueError(f"survey_responses: missing column(s) {', '.join(missing)}")


def as_indicator_frame(index: pd.DataFrame) -> pd.DataFrame:
    """A ``satisfaction_index`` result as an IndicatorFrame (shares in percent; the wave is the period).

    ``survey_satisfaction_mean`` and ``survey_satisfied_share``, group ``question=<id>``; ``denominator``
    holds the respondents behind the value, ``ci_method`` says the interval is design-based.
    """
    ids = {"mean_score": ("survey_satisfaction_mean", 1.0, "svy_taylor_t"),
           "share_satisfied": ("survey_satisfied_share", 100.0, "svy_taylor_logit")}
    parts = []
    for measure, (indicator, scale, method) in ids.items():
        d = index[index["measure"] == measure]
        keys = pd.DataFrame({"unit_id": d["unit_id"].to_numpy(), "period": d["wave"].to_numpy(),
                             "group": ("question=" + d["question"].astype(str)).to_numpy()})
        parts.append(estimate(indicator, keys, d["value"] * scale, d["ci_low"] * scale, d["ci_high"] * scale,
                              method, d["n"].to_numpy()))
    return combine(parts, index.attrs.get("ci_level", 0.95))
