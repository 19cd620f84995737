"""Scoring earlier forecasts: hand-computed scores on a tiny frame, the binomial flag rule, and
twelve consecutive monthly runs on the demo city whose scores are recomputed here from the
demo's truth file (the realised coverage path per unit) and the forecasts the runs stored."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cityanalytics.demo import write_demo
from cityanalytics import forecast
from cityanalytics.forecast import report, scoring
from cityanalytics.forecast.plots import scoring_chart
from cityanalytics.report import history

RUN = "sorting_forecast"
PERIODS = [str(p) for p in pd.period_range("2024-07", "2025-06", freq="M")]  # the demo's last twelve months


def _binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k), X ~ Binomial(n, p), summed term by term (independent of scipy)."""
    return sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(k + 1))


def _forecasts(rows) -> pd.DataFrame:
    cols = ["unit_id", "unit_name", "origin", "target_month", "horizon", "model", "point", "lo80", "hi80", "lo95",
            "hi95", "target", "p_reach"]
    return pd.DataFrame(rows, columns=cols)


def test_scores_by_hand():
    f = _forecasts([
        ["a", "甲", "2025-01", "2025-02", 1, "naive", 90.0, 88.0, 92.0, 85.0, 95.0, 98.0, 0.10],
        ["a", "甲", "2025-01", "2025-03", 2, "naive", 91.0, 89.0, 93.0, 86.0, 96.0, 98.0, 0.20],
        ["b", "乙", "2025-01", "2025-02", 1, "logistic", 97.0, 96.0, 98.0, 95.0, 99.0, 98.0, 0.30],
        ["b", "乙", "2025-01", "2025-03", 2, "logistic", 97.5, 96.0, 99.0, 95.0, 100.0, np.nan, np.nan],
        ["b", "乙", "2025-01", "2025-04", 3, "logistic", 98.0, 96.0, 99.5, 95.0, 100.0, 98.0, 0.40],  # not observed
    ])
    observed = pd.DataFrame({"unit_id": ["a", "a", "b", "b", "b"],
                             "period": ["2025-02", "2025-03", "2025-02", "2025-03", "2025-04"],
                             "value": [92.0, 95.5, 98.5, 96.0, np.nan]})  # b's April is missing: not scored
    s = scoring.score(f, observed).set_index(["unit_id", "target_month"])
    assert len(s) == 4
    # |point - observed|: 2, 4.5, 1.5, 1.5
    assert s["abs_error"].tolist() == [2.0, 4.5, 1.5, 1.5]
    assert s["in80"].tolist() == [True, False, False, True]  # 92 on the upper bound counts as inside
    assert s["in95"].tolist() == [True, True, True, True]
    # events: 92 < 98, 95.5 < 98, 98.5 >= 98, no target -> (0.1-0)^2, (0.2-0)^2, (0.3-1)^2, none
    assert s["brier"].iloc[:3].round(12).tolist() == [0.01, 0.04, 0.49]
    assert math.isnan(s["brier"].iloc[3])
    total = scoring.summarize(s.reset_index()).iloc[0]
    assert total["n"] == 4 and total["mae"] == pytest.approx(9.5 / 4) and total["cover_80"] == 0.5
    assert total["brier"] == pytest.approx(0.54 / 3) and total["n_brier"] == 3
    assert total["p_low_80"] == pytest.approx(_binom_cdf(2, 4, 0.8))  # 0.1808
    assert not total["flag_80"]  # 2 of 4 is within binomial noise of 80%
    by_model = scoring.summarize(s.reset_index(), "model").set_index("group")
    assert by_model.loc["naive", "cover_80"] == 0.5 and by_model.loc["logistic", "mae"] == 1.5


def test_low_coverage_flag_follows_the_binomial_rule():
    # 10 forecasts at 80%: P(X <= 5) = 0.0328 < 0.05 is flagged, P(X <= 6) = 0.1209 is not.
    assert _binom_cdf(5, 10, 0.8) == pytest.approx(0.032793, abs=1e-6)
    assert _binom_cdf(6, 10, 0.8) == pytest.approx(0.120874, abs=1e-6)
    rows = []
    for model, hits in (("naive", 5), ("logistic", 6)):
        for i in range(10):
            inside = i < hits
            rows.append({"unit_id": "a", "unit_name": "甲", "origin": f"2024-{i + 1:02d}", "target_month": "2025-01",
                         "model": model, "error": 0.0, "abs_error": 0.0, "in80": inside, "in95": True,
                         "brier": np.nan})
    scored = pd.DataFrame(rows)
    s = scoring.summarize(scored, "model").set_index("group")
    assert s.loc["naive", "flag_80"] and not s.loc["logistic", "flag_80"]
    assert s.loc["naive", "p_low_80"] == pytest.approx(_binom_cdf(5, 10, 0.8))
    text = scoring.sentences(scored, runs=10)
    flagged = [t for t in text if "偏窄" in t]
    assert len(flagged) == 1 and "近期进度延续" in flagged[0] and "10次评估中实际值落入5次(50%" in flagged[0]
    assert "p=0.033" in flagged[0]


def test_no_earlier_forecasts_is_said_in_one_sentence():
    empty = scoring.score(scoring.combine([]), pd.DataFrame(columns=["unit_id", "period", "value"]))
    assert scoring.sentences(empty, runs=0) == [
        "此前各期没有保存的预测(本报告首次保存预测),本期无可评估的预测;本期预测已随报告保存,下期起逐月评估。"]
    assert scoring.sentences(empty, runs=2) == ["此前2期保存的预测所指的月份尚无实际数据,本期暂无可评估的预测。"]


@pytest.fixture(scope="module")
def twelve_months(tmp_path_factory):
    """Twelve monthly runs (2024-07 .. 2025-06) on the demo city, each storing its forecasts in
    outputs/<period>/sorting_forecast/results/ as the report runner would, and scoring the earlier ones."""
    root = tmp_path_factory.mktemp("scoring")
    demo = root / "demo"
    write_demo(demo, n_cases=1_000)
    outputs = root / "outputs"
    mp = pytest.MonkeyPatch()
    runs = {}
    try:
        for period in PERIODS:
            for key, value in history.runner_env(outputs / period / RUN / "results", outputs, RUN, None,
                                                 period).items():
                mp.setenv(key, value)
            # all communities (area_type ""), so the observed share is the truth file's realised coverage
            res = forecast.run(demo, period=period, target_id="", target_value=98, target_deadline="2025-12-31",
                               area_type="", n_paths=300, backtest_origins=2, seed=2025)
            report.save_forecasts(res)  # the notebook's section: shows nothing, keeps the forecasts
            runs[period] = res
    finally:
        mp.undo()
    return demo, outputs, runs


def _truth(demo: Path) -> pd.DataFrame:
    """Realised coverage (percent) per unit and month from truth.json; the city is the units'
    average weighted by their number of communities (the register's rows)."""
    t = json.loads((demo / "truth.json").read_text(encoding="utf-8"))["communities"]
    months = t["months"]
    frames, weights, total = [], 0, 0
    for unit, d in t["by_unit"].items():
        path = np.array(d["coverage_realized"])
        frames.append(pd.DataFrame({"unit_id": unit, "target_month": months, "truth": 100 * path}))
        total = total + path * d["communities"]
        weights += d["communities"]
    frames.append(pd.DataFrame({"unit_id": "city", "target_month": months, "truth": 100 * total / weights}))
    return pd.concat(frames, ignore_index=True)


def test_twelve_demo_months_scored_against_the_truth(twelve_months):
    demo, outputs, runs = twelve_months
    last = runs[PERIODS[-1]]
    s = report.score_earlier(last)
    assert s["runs"] == 11 and s["stored"] is True  # computed during the run (kept in res.extra)
    scored = s["scored"]

    # Independently: every stored row of the earlier eleven runs whose target month is observed
    # (<= 2025-06), read straight from the Parquet files, against the truth file.
    stored = pd.concat([pd.read_parquet(outputs / p / RUN / "results" / "forecasts.parquet") for p in PERIODS[:-1]],
                       ignore_index=True)
    assert set(stored["origin"]) == set(PERIODS[:-1])
    expected = stored[stored["target_month"] <= PERIODS[-1]].merge(_truth(demo), on=["unit_id", "target_month"])
    assert len(expected) == len(stored[stored["target_month"] <= PERIODS[-1]])  # every unit is in the truth file
    # each origin o contributes its months o+1 .. 2025-06 for every unit with a model
    units_per_origin = stored.groupby("origin")["unit_id"].nunique()
    assert len(expected) == sum(units_per_origin[o] * (11 - i) for i, o in enumerate(PERIODS[:-1]))
    assert len(scored) == len(expected)
    key = ["unit_id", "origin", "target_month"]
    both = scored.merge(expected[key + ["truth"]], on=key, validate="one_to_one")
    assert np.allclose(both["observed"], both["truth"], atol=1e-4)  # truth.json rounds to 6 digits
    y = both["truth"]
    assert np.allclose(both["abs_error"], (both["point"] - y).abs(), atol=1e-4)
    for k in ("80", "95"):
        hits = (both[f"lo{k}"] - 1e-4 <= y) & (y <= both[f"hi{k}"] + 1e-4)
        assert (both[f"in{k}"] == hits).all()
    brier = (both["p_reach"] - (y >= 98 - 1e-4).astype(float)) ** 2
    assert np.allclose(both["brier"], brier, equal_nan=True)

    overall = scoring.summarize(scored).iloc[0]
    assert overall["cover_80"] == pytest.approx(((both["lo80"] - 1e-4 <= y) & (y <= both["hi80"] + 1e-4)).mean())
    assert overall["brier"] == pytest.approx(brier.mean())
    by_model = scoring.summarize(scored, "model").set_index("group")
    for model, g in both.groupby("model"):
        assert by_model.loc[model, "n"] == len(g)
        assert by_model.loc[model, "mae"] == pytest.approx((g["point"] - g["truth"]).abs().mean(), abs=1e-4)
        flag = by_model.loc[model, "cover_80"] < 0.8 and _binom_cdf(int(g["in80"].sum()), len(g), 0.8) < 0.05
        assert by_model.loc[model, "flag_80"] == flag
    by_unit = scoring.summarize(scored, "unit_id").set_index("group")
    assert by_unit["n"].sum() == len(scored)

    # The stored deadline-month probability is the report's probability of reaching the target.
    first = runs[PERIODS[0]]
    frame = pd.read_parquet(outputs / PERIODS[0] / RUN / "results" / "forecasts.parquet")
    at_deadline = frame[frame["target_month"] == "2025-12"].set_index("unit_id")["p_reach"]
    table = first.table.set_index("unit_id")["p_reach"]
    assert np.allclose(at_deadline, table.loc[at_deadline.index])

    text = scoring.sentences(scored, s["runs"])
    assert text[0].startswith("上期(数据截至2025-05)对2025-06的预测:全市预测中位数")
    assert f"累计评估此前11个预测起点、{len(scored)}个单位月的预测" in text[1]
    flagged_models = {m for m in by_model.index if by_model.loc[m, "flag_80"] or by_model.loc[m, "flag_95"]}
    assert sum("偏窄" in t for t in text) == len(flagged_models)

    # The scores the last run kept with its report are the ones shown.
    kept = pd.read_parquet(outputs / PERIODS[-1] / RUN / "results" / "forecast_scores.parquet")
    assert len(kept) == len(scored)
    print("\n" + scoring.summary_table(scored, "model").to_string(index=False))
    print("\n".join(text))


def test_first_run_has_nothing_to_score_and_the_chart_draws_every_scored_unit(twelve_months):
    demo, outputs, runs = twelve_months
    first = runs[PERIODS[0]]
    assert report.score_earlier(first)["runs"] == 0  # scored during its run: nothing stored before 2024-07
    assert scoring.sentences(report.score_earlier(first)["scored"], 0)[0].startswith("此前各期没有保存的预测")
    s = report.score_earlier(runs[PERIODS[-1]])
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cityanalytics.plotting import use_cjk_font

    use_cjk_font()

    fig = scoring_chart(s["scored"], s["observed"])
    titles = [a.get_title() for a in fig.axes if a.get_visible()]
    plt.close(fig)
    units = s["scored"]["unit_id"].unique()
    assert len(titles) == len(units) and titles[0].startswith("全市")
    city = s["scored"][s["scored"]["unit_id"] == "city"]
    assert titles[0] == f"全市  80%区间命中{int(city['in80'].sum())}/{len(city)}"
