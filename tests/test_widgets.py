"""The JupyterLab explorers: their update functions give the same numbers as the report path,
sections re-render only when their controls change, a failed update keeps the old view, and
report runs make no widgets at all. (The real browser is exercised by test_browser_lab.py.)"""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cityanalytics import notebook, widgets
from cityanalytics.compare import build_bulletin
from cityanalytics.demo import write_demo
from cityanalytics.forecast.api import forecast_coverage
from cityanalytics.forecast.api import run as run_forecast
from cityanalytics.impact import run as run_impact
from cityanalytics.impact.campaign import Campaign, Phase

ROOT = Path(__file__).resolve().parents[1]
INDICATORS = ["case_ontime_disposal_rate", "case_closure_rate", "road_dust_sample_compliance_rate"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    write_demo(out, n_cases=60_000)
    return out


@pytest.fixture()
def shell(monkeypatch):
    """An IPython shell whose display calls can be captured, with PNG figures, as in a kernel."""
    import matplotlib

    matplotlib.use("Agg")
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.core.pylabtools import select_figure_formats

    sh = InteractiveShell.instance()
    select_figure_formats(sh, {"png"})
    yield sh
    InteractiveShell.clear_instance()


def _texts(out) -> str:
    return "\n".join(str(o.get("data", {}).get("text/markdown", o.get("text", ""))) for o in out.outputs)


# --- the explorer itself -------------------------------------------------------------------

def _toy(shell, update, interactive=True):
    import ipywidgets

    controls = {"a": ipywidgets.IntSlider(value=1), "b": ipywidgets.IntSlider(value=10)}
    ex = widgets.Explorer({"a": 1, "b": 10}, controls, update, {"only_b": ("b",)}, interactive)

    def show_both(state):
        print(f"a={state['a']} b={state['b']}")

    def only_b(state):
        from IPython.display import Markdown, display

        display(Markdown(f"b is {state['b']}"))

    ex.section(show_both)
    ex.section(only_b)
    return ex


def test_a_change_rerenders_the_sections_that_depend_on_it(shell):
    calls = []

    def update(values):
        calls.append(values)
        return dict(values)

    ex = _toy(shell, update)
    both, b_only = (s.output for s in ex.sections)
    assert both.outputs[0]["text"] == "a=1 b=10\n" and _texts(b_only) == "b is 10"
    ex.controls["a"].value = 2
    assert both.outputs[0]["text"] == "a=2 b=10\n"
    assert _texts(b_only) == "b is 10"  # does not depend on a: not re-rendered
    ex.controls["b"].value = 20
    assert _texts(b_only) == "b is 20" and both.outputs[0]["text"] == "a=2 b=20\n"
    assert calls == [{"a": 2, "b": 10}, {"a": 2, "b": 20}]
    assert [name for name, _ in ex.timings] == ["a", "b"]
    ex.controls["a"].value = 1
    ex.controls["b"].value = 10  # back to the first view: kept, not recomputed
    assert len(calls) == 3 and both.outputs[0]["text"] == "a=1 b=10\n" and _texts(b_only) == "b is 10"
    assert "ca-done" in ex.status.value and 'data-seconds="' in ex.status.value
    assert not any(w.disabled for w in ex.controls.values())


def test_a_failed_update_keeps_the_previous_view_and_says_why(shell):
    def update(values):
        if values["a"] > 5:
            raise ValueError("a must be at most 5")
        return dict(values)

    ex = _toy(shell, update)
    ex.controls["a"].value = 9
    assert "ca-error" in ex.status.value and "a must be at most 5" in ex.status.value
    assert ex.sections[0].output.outputs[0]["text"] == "a=1 b=10\n" and ex.state == {"a": 1, "b": 10}
    assert not any(w.disabled for w in ex.controls.values()) and ex.timings == []


def test_a_report_run_makes_no_widgets_and_renders_the_default_view(shell, capsys):
    ex = widgets.Explorer({"a": 1}, lambda: pytest.fail("controls made in a report run"), dict, {}, False)
    ex.show()
    ex.section(lambda state: print("default view", state["a"]))
    assert ex.controls == {} and ex.sections == []
    assert capsys.readouterr().out == "default view 1\n"


def test_capture_keeps_figures_as_png(shell):
    import matplotlib.pyplot as plt

    def draw(_):
        fig, ax = plt.subplots()
        ax.plot([0, 1])  # left open on purpose: capture shows and closes it

    outputs = widgets.capture(draw, None)
    png = base64.b64decode(outputs[0]["data"]["image/png"])
    assert len(outputs) == 1 and png.startswith(b"\x89PNG")
    width = int.from_bytes(png[16:20], "big")
    assert abs(width - 6.4 * widgets.PREVIEW_DPI) <= 1  # a preview: the default 6.4 in wide at the preview dpi
    assert plt.get_fignums() == []


def test_report_runs_and_plain_python_are_not_interactive(monkeypatch):
    monkeypatch.setenv("CITYANALYTICS_REPORT", "1")
    assert not widgets.is_interactive()
    monkeypatch.setenv("CITYANALYTICS_REPORT", "0")
    assert widgets.is_interactive()
    monkeypatch.delenv("CITYANALYTICS_REPORT")
    assert not widgets.is_interactive()  # no kernel here


def test_project_cwd_moves_from_notebooks_to_the_project_root(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    assert notebook.project_cwd() == tmp_path
    monkeypatch.chdir(tmp_path)
    assert notebook.project_cwd() == tmp_path  # already there: stays


# --- district comparison -------------------------------------------------------------------

@pytest.fixture(scope="module")
def bulletin(demo):
    return build_bulletin(demo, indicators=INDICATORS, weights={"case_ontime_disposal_rate": 60,
                                                                "case_closure_rate": 40}, n_boot=200)


def _comparison_values(b, **changes):
    values = {"period": str(b.period), "indicator": "", "focus": "", "ci_level": 0.95,
              "weight:case_ontime_disposal_rate": 60.0, "weight:case_closure_rate": 40.0}
    return {**values, **changes}


def test_comparison_update_gives_the_report_path_numbers(demo, bulletin):
    """Another period, one indicator, a focus unit and a 99% level through the cached frame
    equal a bulletin built from scratch with the same settings."""
    session = widgets.ComparisonSession(bulletin, str(demo))
    earlier, unit = bulletin.period - 2, bulletin.level.units[2]
    got = widgets.comparison_update(session, _comparison_values(
        bulletin, period=str(earlier), indicator="case_closure_rate", focus=unit, ci_level=0.99))
    want = build_bulletin(demo, period=str(earlier), indicators=["case_closure_rate"], ci_level=0.99, n_boot=200,
                          weights={"case_ontime_disposal_rate": 60, "case_closure_rate": 40}, unit_id=unit)
    assert list(got.leagues) == ["case_closure_rate"] and got.focus == unit and got.period == earlier
    cols = ["unit_id", "value", "ci_low", "ci_high", "rank", "rank_low", "rank_high"]
    pd.testing.assert_frame_equal(got.leagues["case_closure_rate"].table[cols],
                                  want.leagues["case_closure_rate"].table[cols])
    pd.testing.assert_frame_equal(got.funnels["case_closure_rate"].table, want.funnels["case_closure_rate"].table)
    pd.testing.assert_frame_equal(got.composite.table, want.composite.table)
    assert got.frame.attrs["ci_level"] == 0.99


def test_a_weights_change_reuses_the_league_tables_and_recomputes_the_composite(demo, bulletin):
    session = widgets.ComparisonSession(bulletin, str(demo))
    first = widgets.comparison_update(session, _comparison_values(bulletin))
    second = widgets.comparison_update(session, _comparison_values(
        bulletin, **{"weight:case_ontime_disposal_rate": 0.0, "weight:case_closure_rate": 100.0}))
    assert second.leagues is first.leagues  # reused, not recomputed
    want = build_bulletin(demo, indicators=INDICATORS, weights={"case_closure_rate": 100}, n_boot=200)
    score = second.composite.table.set_index("unit_id")["score"]
    pd.testing.assert_series_equal(score, want.composite.table.set_index("unit_id")["score"])
    # all weight on one indicator: the composite score orders units as that indicator does
    closure = want.leagues["case_closure_rate"].table.set_index("unit_id")["value"]
    assert np.corrcoef(score.reindex(closure.index), closure)[0, 1] > 0.999


def test_comparison_controls_offer_the_last_months_and_the_weights(demo, bulletin):
    session = widgets.ComparisonSession(bulletin, str(demo))
    controls = widgets.comparison_controls(session)
    assert controls["period"].value == str(bulletin.period) and len(controls["period"].options) == 12
    assert controls["indicator"].value == INDICATORS[0]  # one at a time; all of them is the last option
    assert controls["indicator"].options[-1] == ("全部指标(较慢)", "")
    assert {k for k in controls if k.startswith("weight:")} == {"weight:case_ontime_disposal_rate",
                                                                 "weight:case_closure_rate"}
    assert controls["weight:case_closure_rate"].value == 40


def test_prefetched_months_are_the_frames_the_report_path_computes(demo, bulletin):
    from cityanalytics.compare.data import compute

    session = widgets.ComparisonSession(bulletin, str(demo))
    earlier = bulletin.period - 1
    session.prefetch(earlier, 0.95)
    assert set(session.frames) == {(earlier - 1, 0.95)}  # earlier + 1 is the notebook's own frame
    prefetched = session.frames[(earlier - 1, 0.95)].result(timeout=120)
    assert session.frame(earlier - 1, 0.95) is prefetched
    want = compute(demo, list(bulletin.frame["indicator"].unique()), bulletin.level, earlier - 1, history=12)
    pd.testing.assert_frame_equal(prefetched.reset_index(drop=True), want.reset_index(drop=True))
    assert session.frame(bulletin.period, 0.95) is bulletin.frame


def test_comparison_explorer_starts_on_one_indicator_in_jupyterlab(shell, demo, bulletin):
    live = widgets.comparison_explorer(bulletin, str(demo), interactive=True)
    assert list(live.state.leagues) == [INDICATORS[0]]
    pd.testing.assert_frame_equal(live.state.overview(), bulletin.overview())  # the overview keeps them all
    report = widgets.comparison_explorer(bulletin, str(demo), interactive=False)
    assert report.state is bulletin and report.controls == {}


def test_explore_recomputes_a_run_result_from_its_options(shell, demo):
    """``widgets.explore(res)`` over ``compare.run``'s result: the workspace comes from
    ``res.options``; a change gives a bulletin whose options say what changed, with the
    dropped indicators and source tables of the run kept."""
    import cityanalytics as ca
    from cityanalytics.compare import report

    res = ca.compare.run(str(demo), indicators=INDICATORS, weights={"case_ontime_disposal_rate": 60,
                                                                    "case_closure_rate": 40}, n_boot=200)
    ui = widgets.explore(res, interactive=True)
    assert ui.state.options["workspace"] is res.options["workspace"]
    ui.section(report.show_leagues)
    ui.section(report.show_scope)
    earlier, unit = str(res.period - 1), res.level.units[1]
    ui.controls["period"].value = earlier
    ui.controls["focus"].value = unit
    assert ui.timings and ui.state.period == res.period - 1 and ui.state.focus == unit
    assert ui.state.options["period"] == earlier and ui.state.options["unit_id"] == unit
    assert ui.state.source_tables == res.source_tables and ui.state.dropped == res.dropped
    scope = _texts(ui.sections[1].output)
    assert f"报告期:**{earlier}**" in scope and f"重点单位:**{res.level.names[unit]}**" in scope
    assert widgets.compare.COMPARISON_DEPENDS["show_leagues"] == ("period", "indicator", "ci_level", "focus")


# --- sorting forecast ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def forecast(demo):
    return run_forecast(str(demo), target_id="hl_sorting_coverage", n_paths=300, backtest_origins=2, seed=7)


def _forecast_session(res):
    return widgets.ForecastSession(res, ("logistic", "ar_logit", "naive", "ensemble"), 300, 2, 7)


def test_forecast_explore_takes_its_settings_from_the_result(forecast):
    live = widgets.explore(forecast, interactive=True)
    session = live.update.args[0]  # the refit keeps what run() was called with
    assert (session.models, session.n_paths, session.backtest_origins, session.seed) == (
        ("logistic", "ar_logit", "naive", "ensemble"), 300, 2, 7)
    assert widgets.explore(forecast, interactive=False).controls == {}


def test_forecast_update_judges_a_changed_target_like_a_direct_call(forecast):
    session = _forecast_session(forecast)
    controls = widgets.forecast_controls(session)
    values = {name: c.value for name, c in controls.items()}
    assert values["target_value"] == 98.0 and values["deadline"] == "2025-12-31" and values["model"] == "auto"
    units = values["units"][:3]
    got = widgets.forecast_update(session, {**values, "units": units, "target_value": 99.5,
                                            "deadline": "2026-12-31", "model": "logistic"})
    target = forecast.target.__class__(**{**forecast.target.__dict__, "value": 99.5, "deadline": "2026-12-31",
                                          "target_id": None, "label": "自定义目标:2026-12-31 前达到 99.5%"})
    want = forecast_coverage(forecast.series, target, models=("logistic",), n_paths=300, backtest_origins=2, seed=7,
                             units=[*units, "city"])
    pd.testing.assert_frame_equal(got.table, want.table)
    assert set(got.table["unit_id"]) == {*units, "city"} and set(got.table["model"]) <= {"logistic", ""}
    assert got.sentences[0] == "目标:自定义目标:2026-12-31 前达到 99.5%。"


def test_forecast_with_no_unit_chosen_shows_the_city(forecast):
    session = _forecast_session(forecast)
    values = {name: c.value for name, c in widgets.forecast_controls(session).items()}
    got = widgets.forecast_update(session, {**values, "units": ()})
    assert list(got.table["unit_id"]) == ["city"]


# --- campaign impact -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def impact(demo):
    settings = dict(campaign_id="C2022-BRGJ", robustness_checks=["placebo_dates"])
    return run_impact(str(demo), **settings), settings


def test_campaign_window_clips_and_stretches_the_phases():
    day = pd.Timestamp
    camp = Campaign("c", "活动", (Phase("启动", day("2022-07-22"), day("2022-07-31"), 1),
                                  Phase("整治", day("2022-08-01"), day("2022-09-30"), 2),
                                  Phase("考评", day("2022-10-01"), day("2022-10-29"), 3)), ("u1", "u2"))
    moved = camp.with_window("2022-08-10", "2022-09-15")
    assert [(p.name, p.start, p.end) for p in moved.phases] == [("整治", day("2022-08-10"), day("2022-09-15"))]
    wider = camp.with_window("2022-07-01", "2022-11-30")
    assert [p.start for p in wider.phases][0] == day("2022-07-01") and wider.end == day("2022-11-30")
    assert [p.end for p in wider.phases][:2] == [day("2022-07-31"), day("2022-09-30")]
    assert wider.adoption == {"u1": day("2022-07-01"), "u2": day("2022-07-01")}
    with pytest.raises(ValueError, match="before start"):
        camp.with_window("2022-09-01", "2022-08-01")


def test_impact_update_refits_like_run_and_keeps_the_robustness_checks(impact):
    rep, settings = impact
    session = widgets.ImpactSession(rep)  # from rep.options; the tables are loaded at the first refit
    assert session.options == {"workspace": rep.options["workspace"], **settings} and session.tables is None
    values = {name: c.value for name, c in widgets.impact_controls(session).items()}
    assert values["window_start"] == rep.campaign.start.date() and values["robustness"] is False
    end = rep.campaign.end - pd.Timedelta(days=20)
    treated = list(rep.campaign.units[:2])
    got = widgets.impact_update(session, {**values, "window_end": end.date(), "units": tuple(treated),
                                          "family": "negbin", "level": 0.9})
    want = run_impact(rep.options["workspace"], **{**settings, "robustness_checks": []},
                      window=(rep.campaign.start, end), treated_units=treated, family="negbin", level=0.9)
    assert session.tables is not None and got.options["level"] == 0.9 and got.options["family"] == "negbin"
    assert got.campaign.end == end and got.campaign.units == tuple(treated)
    pd.testing.assert_frame_equal(got.its.table, want.its.table)
    pd.testing.assert_frame_equal(got.did.table, want.did.table)
    assert got.robustness is rep.robustness and any("稳健性检验仍是" in n for n in got.notes)


def test_a_staggered_rollout_offers_its_comparison_group_and_refits_like_run(demo):
    settings = dict(campaign_id="C2021-XGG", robustness_checks=[])
    rep = run_impact(str(demo), **settings)
    session = widgets.ImpactSession(rep)
    values = {name: c.value for name, c in widgets.impact_controls(session).items()}
    assert set(values) == {"control_group", "level", "robustness", "units"}  # no window, no ITS models
    got = widgets.impact_update(session, {**values, "control_group": "never"})
    want = run_impact(str(demo), **settings, control_group="never")
    pd.testing.assert_frame_equal(got.staggered.table, want.staggered.table)


def test_explore_gives_the_campaign_explorer_and_renders_the_report_without_widgets(impact, shell):
    from IPython.utils.capture import capture_output

    from cityanalytics.impact import report

    rep, _ = impact
    ui = widgets.explore(rep, interactive=False)
    assert ui.state is rep and ui.controls == {}
    with capture_output() as cap:
        ui.section(report.show_its)
    texts = [o.data.get("text/html", "") for o in cap.outputs]
    assert any("综合治理阶段" in t for t in texts) and any("image/png" in o.data for o in cap.outputs)
    live = widgets.explore(rep, interactive=True)
    assert {"window_start", "family", "level", "units"} <= set(live.controls)


# --- JupyterLab command ----------------------------------------------------------------------

def test_lab_command_opens_the_notebooks_with_the_project_kernel():
    from cityanalytics.lab import KERNEL_DISPLAY_NAME, ensure_kernel, lab_command

    cmd = lab_command(port=8899, token="t", browser=False)
    assert cmd[:3] == [sys.executable, "-m", "jupyterlab"]
    assert f"--ServerApp.root_dir={ROOT}" in cmd and "--ServerApp.default_url=/lab/tree/notebooks" in cmd
    assert "--no-browser" in cmd and "--ServerApp.port=8899" in cmd
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec(ensure_kernel())
    assert spec.display_name == KERNEL_DISPLAY_NAME and spec.argv[0] == sys.executable
    help_text = subprocess.run([sys.executable, "-m", "cityanalytics.cli", "lab", "--help"], capture_output=True,
                               text=True, check=True).stdout
    assert "--no-browser" in help_text
