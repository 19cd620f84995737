"""How quickly the JupyterLab controls answer, against re-running the notebook's cells.

    python -m bench widgets          # or: python bench/bench_widgets.py

For each analysis notebook, one change of each kind of control through the explorer
(``cityanalytics.widgets``: recompute, then redraw the sections that depend on the control),
against the baseline a researcher has without it: edit the parameters cell and re-run the
analysis cells (recompute everything, redraw every section with the report's figure format).
Both run in one process on the demo data (``data/demo``, made if missing), in an IPython shell
that formats figures as the inline backend does. Printed: seconds of each and their ratio,
measured in the same run; going back to a view seen before is also timed. Never fails on timing.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
COMPARISON = dict(level="街道", indicators=["case_ontime_disposal_rate", "case_closure_rate", "case_rework_rate",
                                            "road_dust_sample_compliance_rate", "sorting_coverage_communities",
                                            "assessment_score_mean"],
                  weights_preset="gbt30428_unit", target_plan="海陵", rank_draws="jeffreys", n_boot=2000)
FORECAST = dict(target_id="hl_sorting_coverage", n_paths=1000, backtest_origins=4, seed=2025,
                models=["logistic", "ar_logit", "naive", "ensemble"])


def shell():
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.core.pylabtools import select_figure_formats

    sh = InteractiveShell.instance()
    select_figure_formats(sh, {"png"}, bbox_inches="tight")  # as the inline backend formats figures
    return sh


def demo_dir() -> Path:
    if (ROOT / "data" / "demo" / "cases.parquet").is_file():
        return ROOT / "data" / "demo"
    from cityanalytics.demo import write_demo

    out = Path(tempfile.mkdtemp(prefix="bench-widgets-"))
    write_demo(out)
    return out


def rerun(compute, sections) -> float:
    """The baseline: recompute and render every section as the notebook's cells do."""
    from IPython.utils.capture import capture_output

    started = time.perf_counter()
    state = compute()
    with capture_output():
        for render in sections:
            render(state)
    return time.perf_counter() - started


def sections_of(ex, sections) -> None:
    from IPython.utils.capture import capture_output

    with capture_output():  # the Output widgets' text stand-ins
        for render in sections:
            ex.section(render)


def change(ex, name: str, value) -> float:
    ex.controls[name].value = value
    changed, seconds = ex.timings[-1]
    assert changed == name, ex.status.value
    return seconds


def report(title: str, rows: list[tuple[str, float, float]]) -> None:
    print(f"\n{title}")
    print(f"  {'change':<34} {'explorer s':>10} {'re-run s':>9} {'ratio':>7}")
    for label, ours, base in rows:
        print(f"  {label:<34} {ours:>10.2f} {base:>9.2f} {ours / base:>7.2f}")


def comparison(data: Path) -> None:
    import cityanalytics as ca
    from cityanalytics.compare import report as compare_report

    sections = [compare_report.show_key_points, compare_report.show_overview, compare_report.show_leagues,
                compare_report.show_funnels, compare_report.show_composite, compare_report.show_trends,
                compare_report.show_lists, compare_report.show_targets, compare_report.show_all_sentences]
    b = ca.compare.run(data, period="", **COMPARISON)
    ex = ca.widgets.explore(b, interactive=True)
    sections_of(ex, sections)
    earlier, unit = b.period - 1, b.level.units[3]
    rows = []
    for label, name, value, params in [
        ("报告期 -> previous month", "period", str(earlier), {"period": str(earlier)}),
        ("报告期 -> two months back", "period", str(earlier - 1), {"period": str(earlier - 1)}),
        ("指标 -> 结案率", "indicator", "case_closure_rate", {"period": str(earlier - 1)}),
        ("重点单位 -> a unit", "focus", unit, {"period": str(earlier - 1), "unit_id": unit}),
        ("置信水平 -> 99%", "ci_level", 0.99, {"period": str(earlier - 1), "unit_id": unit, "ci_level": 0.99}),
        ("权重 -> 按期处置率 30", "weight:case_ontime_disposal_rate", 30.0,
         {"period": str(earlier - 1), "unit_id": unit, "ci_level": 0.99, "weights_preset": "",
          "weights": {"case_ontime_disposal_rate": 30, "case_closure_rate": 30, "case_rework_rate": 10}}),
        ("指标 -> 全部指标", "indicator", "", {}),
    ]:
        ours = change(ex, name, value)
        base = rerun(lambda: ca.compare.run(data, **{**COMPARISON, **params}), sections)
        rows.append((label, ours, base))
    ours = change(ex, "indicator", "case_closure_rate")
    rows.append(("指标 -> 结案率 (back to a view seen)", ours, rows[-2][2]))
    report("district_comparison (re-run: compare.run for all indicators + every section)", rows)


def forecast(data: Path) -> None:
    import cityanalytics as ca
    from cityanalytics.forecast import report as forecast_report

    sections = [forecast_report.show_sentences, forecast_report.show_probabilities, forecast_report.show_pace,
                forecast_report.show_fan, forecast_report.show_backtest, forecast_report.show_method]
    res = ca.forecast.run(data, **FORECAST)
    ex = ca.widgets.explore(res, interactive=True)
    sections_of(ex, sections)
    rows = []
    for label, name, value, params in [
        ("目标值 -> 95%", "target_value", 95.0, {"target_id": "", "target_value": 95.0,
                                                "target_deadline": "2025-12-31"}),
        ("模型 -> logistic", "model", "logistic", {"target_id": "", "target_value": 95.0,
                                                  "target_deadline": "2025-12-31", "models": ["logistic"]}),
    ]:
        ours = change(ex, name, value)
        base = rerun(lambda: ca.forecast.run(data, **{**FORECAST, **params}), sections)
        rows.append((label, ours, base))
    report("sorting_forecast (re-run: forecast.run + every section)", rows)


def impact(data: Path) -> None:
    import cityanalytics as ca
    from cityanalytics.impact import report as impact_report

    sections = [impact_report.show_scope, impact_report.show_key_points, impact_report.show_its,
                impact_report.show_did, impact_report.show_robustness, impact_report.show_spec]
    settings = dict(campaign_id="C2022-BRGJ")
    rep = ca.impact.run(data, **settings)
    ex = ca.widgets.explore(rep, interactive=True)  # its first change reads the workspace's tables, later ones reuse them
    sections_of(ex, sections)
    end = rep.campaign.end - dt.timedelta(days=30)
    rows = []
    for label, name, value, params in [
        ("计数模型 -> 负二项", "family", "negbin", {"family": "negbin"}),
        ("活动结束 -> 30 days earlier", "window_end", end.date(),
         {"family": "negbin", "window": (rep.campaign.start, end)}),
    ]:
        ours = change(ex, name, value)
        # like for like: the explorer keeps the robustness checks unless asked to rerun them
        base = rerun(lambda: ca.impact.run(data, **settings, **params, robustness_checks=[]), sections)
        rows.append((label, ours, base))
    report("campaign_impact (re-run: impact.run without robustness checks + every section)", rows)


def main() -> None:
    from cityanalytics.plotting import use_cjk_font

    shell()
    use_cjk_font()
    data = demo_dir()
    print(f"demo data: {data}")
    comparison(data)
    forecast(data)
    impact(data)


if __name__ == "__main__":
    main()
