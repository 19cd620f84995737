"""Sorting-coverage forecasts: series, history checks, models, targets and the full forecast.

Estimators are checked against data simulated with known parameters; the calibration of
intervals and probabilities across simulated demo cities is in test_forecast_calibration.py.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize

from cityanalytics.demo import communities as demo_communities
from cityanalytics.forecast import Target, coverage_series, forecast_coverage, series_from_frame
from cityanalytics.forecast import backtest
from cityanalytics.forecast.history import prepare
from cityanalytics.forecast.models import ARLogit, Ensemble, Logistic, Naive, take
from cityanalytics.forecast.target import first_passage, pace_needed, passage_quantiles, recent_pace
from cityanalytics.indicators.frame import CITY
from cityanalytics.indicators.sorting import sorting_indicators

LEVELS = (0.8, 0.95)


@pytest.fixture(scope="module")
def demo():
    frame, truth = demo_communities.generate(2025)
    return frame, truth


@pytest.fixture(scope="module")
def demo_result(demo):
    series = coverage_series(demo[0])
    return forecast_coverage(series, Target(98, "2025-12-31"), n_paths=400, seed=3)


# --------------------------------------------------------------------------- helpers


def register(spec: dict, start="2021-01") -> pd.DataFrame:
    """Communities from ``{unit: (size, monthly new starts)}``; starts fall mid-month."""
    rows = []
    months = pd.period_range(start, periods=max(len(v[1]) for v in spec.values()), freq="M")
    for unit, (size, new) in spec.items():
        dates = [months[m].start_time + pd.Timedelta(days=14) for m, k in enumerate(new) for _ in range(k)]
        assert len(dates) <= size
        dates += [pd.NaT] * (size - len(dates))
        rows.append(pd.DataFrame({
            "community_id": [f"{unit}-{i}" for i in range(size)], "unit_id": unit, "area_type": "城市",
            "households": 300, "sorting_started_on": pd.to_datetime(dates), "compliant_on": pd.NaT,
        }))
    return pd.concat(rows, ignore_index=True)


def logistic_counts(rng, n, K, r, t0, months, reps):
    """Cumulative counts of ``reps`` registers of size n whose communities start at logistic times."""
    u = rng.random((reps, n))
    x = np.clip(u / K, 1e-12, 1 - 1e-12)
    t = t0 + np.log(x / (1 - x)) / r  # month (continuous) each community starts
    t = np.where(u < K, t, np.inf)
    edges = np.arange(months)[None, :, None] + 1.0  # end of month m
    return (t[:, None, :] < edges).sum(axis=2).astype(float)


# --------------------------------------------------------------------------- series


def test_series_matches_the_sorting_indicators(demo):
    frame = demo[0]
    for measure, indicator in (("communities", "sorting_coverage_communities"),
                               ("households", "sorting_coverage_households")):
        s = coverage_series(frame, measure=measure)
        ind = sorting_indicators(frame, start=str(s.months[0]), end="2025-06-30")
        ind = ind[(ind["indicator"] == indicator) & (ind["group"] == "")]
        for unit in (s.unit_ids[0], CITY):
            got = s.share[list(s.unit_ids).index(unit)] * 100
            want = ind[ind["unit_id"] == unit].sort_values("period")["value"].to_numpy()
            np.testing.assert_allclose(got, want, atol=1e-9)
    hh = coverage_series(frame, measure="households")
    w = frame.loc[frame["unit_id"] == hh.unit_ids[0], "households"].astype(float)
    assert hh.n_eff[0] == pytest.approx(w.sum() ** 2 / (w ** 2).sum())
    assert not hh.integer and coverage_series(frame).integer


def test_series_from_an_aggregated_table_equals_the_register(demo):
    s = coverage_series(demo[0])
    ind = sorting_indicators(demo[0], start=str(s.months[0]), end="2025-06-30")
    agg = series_from_frame(ind, indicator="sorting_coverage_communities")
    agg = agg.select(list(s.unit_ids))
    np.testing.assert_allclose(agg.covered, s.covered)
    np.testing.assert_allclose(agg.n_eff, s.n_eff)
    # a unit that skips months: filled in, and said so
    obs = pd.DataFrame({"unit_id": "A", "period": ["2024-01", "2024-02", "2024-05"], "indicator": "x",
                        "numerator": [10, 12, 18], "denominator": [100, 100, 100], "value": [10, 12, 18],
                        "source": "报表"})
    a = series_from_frame(obs)
    np.testing.assert_allclose(a.covered[0], [10, 12, 14, 16, 18])
    assert "插补" in a.notes["A"][0]


def test_series_cut_and_area_filter(demo):
    s = coverage_series(demo[0], area_type="农村", as_of="2023-12-31")
    assert s.months[-1] == pd.Period("2023-12", freq="M")
    assert set(s.unit_ids) - {CITY} == set(demo[0].loc[demo[0]["area_type"] == "农村", "unit_id"])


def test_compliant_series_of_one_area_type_counted_by_hand():
    """The series is the sorting indicators' coverage counts (one definition): by each month's
    end, the communities of that area type judged compliant (compliant_on), per unit and the city."""
    d = pd.to_datetime
    reg = pd.DataFrame({
        "community_id": ["a1", "a2", "a3", "b1", "b2", "b3"], "unit_id": ["A", "A", "A", "B", "B", "B"],
        "area_type": ["农村", "农村", "城市", "农村", "农村", "农村"], "households": [100, 300, 50, 200, 200, 100],
        "sorting_started_on": d(["2024-01-05"] * 6),
        "compliant_on": d(["2024-02-10", None, "2024-01-20", "2024-02-28", "2024-04-01", None]),
    })
    s = coverage_series(reg, event="compliant", area_type="农村")
    assert list(s.unit_ids) == ["A", "B", CITY] and s.indicator == "sorting_compliant_share"
    assert [str(m) for m in s.months] == ["2024-02", "2024-03", "2024-04"]  # from the first rural event
    np.testing.assert_array_equal(s.covered, [[1, 1, 1], [1, 1, 2], [2, 2, 3]])
    np.testing.assert_array_equal(s.total[:, 0], [2, 3, 5])
    hh = coverage_series(reg, event="compliant", area_type="农村", measure="households")
    np.testing.assert_array_equal(hh.covered[:, -1], [100, 400, 500])
    assert hh.n_eff[0] == pytest.approx(400 ** 2 / (100 ** 2 + 300 ** 2))
    later = coverage_series(reg, event="compliant", area_type="农村", as_of="2024-03-15")
    assert str(later.months[-1]) == "2024-03" and later.covered[-1, -1] == 2  # April not known yet


# --------------------------------------------------------------------------- history


def test_history_statuses_and_breaks():
    flat = [30] + [0] * 40
    spec = {
        "complete": (20, [5] * 4 + [0] * 37),
        "short": (30, [0] * 39 + [3, 2]),
        "flat": (40, flat),
        "none": (25, [0] * 41),
        "jump": (80, [1] * 24 + [25] + [1] * 16),
        "ok": (60, [1] * 41),
    }
    s = coverage_series(register(spec), include_city=False)
    rows = prepare(s.effective, s.n_eff, integer=True)
    status = dict(zip(s.unit_ids, rows.status))
    assert status == {"complete": "complete", "short": "short", "flat": "flat", "none": "not_started",
                      "jump": "ok", "ok": "ok"}
    jump = list(s.unit_ids).index("jump")
    assert rows.breaks[jump] == [(24, "jump", 25.0)]
    assert rows.start[jump] == 24  # the corrected level is where the usable history starts
    ok = list(s.unit_ids).index("ok")
    assert rows.breaks[ok] == [] and rows.start[ok] == 0


def test_a_fall_in_an_aggregated_table_is_a_break():
    covered = [50, 52, 54, 56, 40, 41, 42, 43, 44, 45]
    obs = pd.DataFrame({"unit_id": "A", "period": [str(p) for p in pd.period_range("2024-01", periods=10, freq="M")],
                        "numerator": covered, "denominator": 100})
    s = series_from_frame(obs)
    rows = prepare(s.effective, s.n_eff, integer=s.integer)
    assert rows.breaks[0][0][:2] == (4, "fall")
    assert rows.start[0] == 4 and rows.status[0] == "ok"


def test_no_break_is_found_in_the_demo_registers():
    for seed in (1, 2, 3):
        s = coverage_series(demo_communities.generate(seed)[0])
        rows = prepare(s.effective, s.n_eff, integer=True)
        assert all(b == [] for b in rows.breaks), seed


# --------------------------------------------------------------------------- models


def test_logistic_recovers_known_parameters_and_its_uncertainty():
    rng = np.random.default_rng(11)
    K, r, t0, n, months, reps = 0.92, 0.12, 30.0, 400, 66, 150  # past the bend: K is identified
    c = logistic_counts(rng, n, K, r, t0, months, reps)
    rows = prepare(c, np.full(reps, float(n)), integer=True)
    assert (rows.status == "ok").all()
    fit = Logistic().fit(rows)
    assert fit.converged.all()
    # the model's t0 is the month index, relative to each row's last month, at whose end the
    # curve is half-way; month m ends at continuous time m + 1 in logistic_counts
    t0_rel = (t0 - 1) - rows.end
    truth = np.column_stack([np.full(reps, np.log(K / (1 - K))), np.full(reps, np.log(r)), t0_rel])
    assert np.median(fit.K) == pytest.approx(K, abs=0.01)
    assert np.median(fit.r) == pytest.approx(r, rel=0.05)
    assert np.median(fit.t0 - t0_rel) == pytest.approx(0, abs=0.5)
    z = (fit.theta - truth) / np.sqrt(np.diagonal(fit.cov, axis1=1, axis2=2))
    inside = (np.abs(z) < 1.96).mean(axis=0)
    assert np.all(inside > 0.88) and np.all(inside <= 1.0), inside


def test_logistic_fit_is_the_maximum_of_its_posterior(demo):
    s = coverage_series(demo[0])
    rows = prepare(s.effective, s.n_eff, integer=True)
    ok = np.nonzero(rows.status == "ok")[0][:3]
    model = Logistic()
    fit = model.fit(rows.take(ok))
    for j, i in enumerate(ok):
        sub = rows.take([i])
        cells = model._cells(sub)
        fun = lambda th: -model._evaluate(th[None], cells, sub.n, want_derivs=False)[0][0]  # noqa: E731
        best = minimize(fun, fit.theta[j] + [0.3, 0.2, 2.0], method="Nelder-Mead",
                        options={"xatol": 1e-9, "fatol": 1e-11, "maxiter": 20000})
        assert -best.fun <= fit.loglik[j] + 1e-6
        np.testing.assert_allclose(best.x, fit.theta[j], atol=1e-3)


def test_ar_logit_numpy_engine_is_statsmodels_autoreg():
    from statsmodels.tsa.ar_model import AutoReg

    rng = np.random.default_rng(5)
    c = np.cumsum(rng.poisson(2, (12, 40)), axis=1).astype(float) + 5
    rows = prepare(c, np.full(12, 150.0), integer=True)
    a = ARLogit(engine="numpy").fit(rows)
    b = ARLogit(engine="statsmodels").fit(rows)
    np.testing.assert_allclose(a.beta, b.beta, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(a.sigma2, b.sigma2, rtol=1e-8)
    np.testing.assert_allclose(a.cov_params, b.cov_params, rtol=1e-6, atol=1e-12)
    y = np.log((c[0, -24:] + 0.5) / (150 - c[0, -24:] + 0.5))
    res = AutoReg(np.diff(y), lags=1, trend="c").fit()
    np.testing.assert_allclose(a.beta[0], res.params, rtol=1e-8)


@pytest.mark.parametrize("model", [Logistic(), ARLogit(engine="numpy"), Naive(), Ensemble()], ids=lambda m: m.name)
def test_paths_are_bounded_monotone_and_whole(model):
    rng = np.random.default_rng(2)
    c = np.vstack([
        logistic_counts(rng, 60, 1.0, 0.25, 20, 36, 4),  # saturating, nearly full
        logistic_counts(rng, 500, 0.9, 0.08, 30, 36, 4),  # mid-curve
        np.cumsum(np.r_[[0] * 10, [3] * 26]).reshape(1, -1).repeat(2, axis=0).astype(float),  # fast pace
    ])
    n = np.r_[[60.0] * 4, [500.0] * 4, [90.0] * 2]
    rows = prepare(c, n, integer=True)
    rows = rows.take(np.nonzero(model.eligible(rows))[0])
    assert len(rows) >= 6
    paths = model.paths(rows, 40, 300, np.random.default_rng(0))
    cur = rows.current[:, None, None]
    assert np.all(paths >= cur - 1e-9) and np.all(paths <= rows.n[:, None, None] + 1e-9)
    assert np.all(np.diff(paths, axis=2) >= -1e-9)
    np.testing.assert_array_equal(paths, np.round(paths))


def test_naive_continues_the_recent_pace():
    c = np.cumsum(np.r_[[0] * 6, [4, 3, 5, 4, 4, 3, 5, 4, 4, 3, 5, 4]]).reshape(1, -1).astype(float) + 10
    rows = prepare(c, np.array([1000.0]), integer=True)
    paths = Naive().paths(rows, 12, 4000, np.random.default_rng(1))
    recent = (c[0, -1] - c[0, -7]) / 6
    assert np.median(paths[0, :, -1]) == pytest.approx(c[0, -1] + 12 * recent, rel=0.02)


def test_backtest_ensemble_is_the_mixture_of_its_members(demo):
    s = coverage_series(demo[0]).select(["990103003000", "990103101000"])
    pts = backtest.backtest(s, ["logistic", "ar_logit", "ensemble"], origins=2, n_paths=400, seed=1)
    wide = pts.pivot_table(index=["unit_id", "origin", "h"], columns="model", values="median")
    step = 100 / pd.Series(s.n_eff, index=s.unit_ids).reindex(wide.index.get_level_values(0)).to_numpy()
    lo = wide[["logistic", "ar_logit"]].min(axis=1) - step
    hi = wide[["logistic", "ar_logit"]].max(axis=1) + step
    # a mixture's median lies between its members' (up to one community: each member gives half its paths)
    assert wide["ensemble"].between(lo, hi).all()
    assert (wide["ensemble"] != wide["logistic"]).any() and (wide["ensemble"] != wide["ar_logit"]).any()


def test_fits_take_rows():
    rows = prepare(np.cumsum(np.ones((3, 20)), axis=1), np.full(3, 50.0), integer=True)
    f = Naive().fit(rows)
    assert take(f, [2]).mean.shape == (1,)


# --------------------------------------------------------------------------- targets and pace


def test_registry_targets():
    hl = Target.from_registry("hl_sorting_coverage")
    assert (hl.value, hl.deadline_month, hl.area_type, hl.measure, hl.event, hl.kind) == (
        98.0, pd.Period("2025-12", freq="M"), "城市", "communities", "started", "share")
    cz = Target.from_registry("cz_compliant_share_2023")
    assert (cz.value, cz.event, cz.deadline_month) == (75.0, "compliant", pd.Period("2023-12", freq="M"))
    new = Target.from_registry("cz_new_compliant_2023")
    assert (new.kind, new.scope, new.value) == ("new_count", "city", 425.0)
    assert new.since_month == pd.Period("2022-12", freq="M")  # "2023年新增": counted from the end of 2022
    with pytest.raises(ValueError, match="does not cover"):
        Target.from_registry("hl_signing_rate")
    with pytest.raises(ValueError):
        Target(120, "2025-12-31")


def test_first_passage_and_pace_arithmetic():
    paths = np.array([[[0.90, 0.95, 0.98, 0.99], [0.90, 0.91, 0.92, 0.93], [0.97, 0.98, 0.98, 1.0]]])
    fp = first_passage(paths, np.array([0.98]))
    np.testing.assert_array_equal(fp, [[3, 5, 2]])  # 5 = not by the 4-month horizon
    np.testing.assert_array_equal(passage_quantiles(fp, [0.5]), [[3]])
    # 98% of 66 communities is 64.68: 65 needed; 57 covered, 6 months left
    assert pace_needed(0.98 * 66, 57, 6, integer=True) == pytest.approx(8 / 6)
    assert math.isnan(pace_needed(65, 57, 0, integer=True))
    covered = np.array([10, 10, 12, 15, 15, 18, 20, 22.0])
    assert recent_pace(covered, 0, 7) == (pytest.approx((22 - 10) / 6), 6)  # months 1..7
    assert recent_pace(covered, 5, 7) == (pytest.approx(2.0), 2)


# --------------------------------------------------------------------------- the full forecast


def test_intervals_are_bounded_ordered_and_monotone(demo_result):
    t = demo_result.table
    cols = ["fc_lo95", "fc_lo80", "fc_median", "fc_hi80", "fc_hi95"]
    v = t[cols].to_numpy()
    assert np.all((v >= 0) & (v <= 100))
    assert np.all(np.diff(v, axis=1) >= -1e-9)
    assert np.all(v[:, 0] >= t["share"].to_numpy() - 1e-9)  # coverage does not fall
    fc = demo_result.fan[demo_result.fan["kind"] == "forecast"]
    for col in ("value", "lo80", "hi80", "lo95", "hi95"):
        assert fc[col].between(0, 100).all()
        assert (fc.groupby("unit_id")[col].diff().dropna() >= -1e-9).all()
    p = t["p_reach"]
    assert p.between(0, 1).all()


def test_complete_units_and_edge_cases_get_plain_answers():
    spec = {
        "complete": (20, [5] * 4 + [0] * 37),
        "short": (30, [0] * 39 + [3, 2]),
        "flat": (40, [30] + [0] * 40),
        "none": (25, [0] * 41),
        "jump": (80, [1] * 24 + [25] + [1] * 16),
        "ok": (60, [1] * 41),
    }
    s = coverage_series(register(spec))
    res = forecast_coverage(s, Target(98, "2025-12-31"), n_paths=200, seed=1)
    t = res.labelled().set_index("unit_id")  # the numbers with the words the report shows
    assert t.loc["complete", "p_reach"] == 1 and t.loc["complete", "reach_median"].startswith("已于")
    assert res.table.set_index("unit_id").loc["complete", "reached_on"] == pd.Period("2021-04", "M")
    assert "note" not in res.table and "跳增25" in res.notes["jump"][0]
    assert t.loc["complete", "fc_median"] == 100
    assert math.isnan(t.loc["short", "p_reach"]) and "少于3个月" in t.loc["short", "note"]
    assert math.isnan(t.loc["none", "p_reach"]) and "尚无" in t.loc["none", "note"]
    assert t.loc["flat", "p_reach"] == 0 and "没有增加" in t.loc["flat", "note"]
    assert t.loc["flat", "fc_hi95"] == pytest.approx(75.0)  # stays where it is
    assert "跳增25" in t.loc["jump", "note"] and 0 <= t.loc["jump", "p_reach"] <= 1
    # pace still says what is needed where no probability can be given
    assert t.loc["none", "needed_per_month"] == pytest.approx(25 / ((pd.Period("2025-12", "M") - s.months[-1]).n))
    text = "\n".join(res.sentences)
    for unit in ("short", "none", "flat"):
        assert unit in text
    assert len(res.probability_table()) == len(t) and len(res.pace_table()) == len(t)


def test_sentences_carry_the_table_numbers(demo_result):
    city = demo_result.table.set_index("unit_id").loc[CITY]
    text = "\n".join(demo_result.sentences)
    assert f"{city['share']:.1f}%" in text
    assert f"{city['fc_median']:.1f}%" in text
    assert f"{city['fc_lo95']:.1f}%-{city['fc_hi95']:.1f}%" in text
    n_units = (demo_result.table["unit_id"] != CITY).sum()
    assert f"{n_units}个单位中" in text
    # the pace sentence never contradicts the probability
    from cityanalytics.forecast.sentences import unit_sentences

    for _, row in demo_result.labelled().iterrows():
        said = "".join(unit_sentences(demo_result, row))
        if row["p_reach"] < 0.5:
            assert "按现有进度可以完成" not in said, said


def test_model_choice_follows_the_backtest(demo_result):
    points = backtest.add_scores(demo_result.points, LEVELS)
    assert {"logistic", "ar_logit", "naive", "ensemble"} == set(points["model"])
    assert points["actual"].between(0, 100).all()
    choice = demo_result.extra["choice"]
    for unit, (model, how) in choice.items():
        if how == "backtest":  # the unit's own lowest mean WIS
            own = points[points["unit_id"] == unit].groupby("model")["wis"].mean()
            assert own.idxmin() == model
    bt = demo_result.backtest_table()
    assert (bt["是否选用"] == "是").sum() == sum(1 for m, _ in choice.values() if m)


def test_same_seed_same_numbers(demo):
    s = coverage_series(demo[0]).select(["990103102000", CITY])
    a = forecast_coverage(s, Target(95, "2026-06-30"), n_paths=200, seed=9, backtest_origins=2)
    b = forecast_coverage(s, Target(95, "2026-06-30"), n_paths=200, seed=9, backtest_origins=2)
    pd.testing.assert_frame_equal(a.table, b.table)


def test_deadline_already_passed_reports_what_happened(demo):
    s = coverage_series(demo[0])
    res = forecast_coverage(s, Target(90, "2023-12-31"), n_paths=100, backtest_origins=0)
    share_2023_12 = s.share[:, s.months.get_loc(pd.Period("2023-12", "M"))]
    np.testing.assert_array_equal(res.table["p_reach"].to_numpy(), (share_2023_12 >= 0.9).astype(float))


def test_new_compliant_count_target_for_the_city(demo):
    s = coverage_series(demo[0], event="compliant")
    target = Target(40, "2025-12-31", kind="new_count", scope="city", since="2024-12-31")
    res = forecast_coverage(s, target, n_paths=200, backtest_origins=0)
    t = res.table.set_index("unit_id")
    base = s.covered[list(s.unit_ids).index(CITY), s.months.get_loc(pd.Period("2024-12", "M"))]
    assert t.loc[CITY, "threshold_count"] == pytest.approx(base + 40)
    assert t.drop(CITY)["p_reach"].isna().all()
    assert 0 <= t.loc[CITY, "p_reach"] <= 1


def test_aggregated_table_gives_the_register_forecast(demo):
    s = coverage_series(demo[0]).select(["990103003000", "990103002000"])
    ind = sorting_indicators(demo[0], start=str(s.months[0]), end="2025-06-30", include_city=False)
    agg = series_from_frame(ind, indicator="sorting_coverage_communities").select(list(s.unit_ids))
    kw = dict(n_paths=200, seed=4, backtest_origins=2)
    a = forecast_coverage(s, Target(98, "2025-12-31"), **kw).table
    b = forecast_coverage(agg, Target(98, "2025-12-31"), **kw).table
    np.testing.assert_allclose(a["p_reach"], b["p_reach"])
    np.testing.assert_allclose(a["fc_median"], b["fc_median"])


def test_households_forecast_is_in_households(demo):
    s = coverage_series(demo[0], measure="households").select(["990103102000", CITY])
    res = forecast_coverage(s, Target(98, "2025-12-31"), n_paths=200, backtest_origins=0)
    row = res.table.iloc[0]
    assert row["total"] == pytest.approx(demo[0].loc[demo[0]["unit_id"] == "990103102000", "households"].sum())
    assert row["needed_per_month"] > 10  # households, not communities
    assert "户" in res.pace_table().columns[1]


def test_fan_chart_draws_every_unit(demo_result):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cityanalytics.plotting import MissingFont, use_cjk_font

    try:
        use_cjk_font()
    except MissingFont:
        pass
    first = demo_result.plot()  # the city's panel; its figure has one panel per unit
    fig = first.figure
    assert len([a for a in fig.axes if a.get_visible()]) == len(demo_result.table)
    assert first is fig.axes[0] and first.get_title().startswith("全市")
    assert first.get_ylim()[0] >= 0 and first.get_ylim()[1] <= 101
    assert len(demo_result.plot(units=CITY).figure.axes) == 1
    _, ax = plt.subplots()
    assert demo_result.plot(ax=ax) is ax and ax.get_title().startswith("全市")
    plt.close("all")
