"""Results stored beside a report (cityanalytics.report.history): round trip, schema, earlier periods."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from cityanalytics.report import history


def _league(values):
    return pd.DataFrame({"indicator": "case_closure_rate", "unit_id": ["a", "b"], "value": values,
                         "rank": [1.0, 2.0], "better": [True, None], "deadline": [dt.date(2025, 12, 31), "2026"]})


def test_save_outside_a_report_run_writes_nothing(monkeypatch, tmp_path):
    for key in (history.ENV_RESULTS_DIR, history.ENV_OUTPUTS, history.ENV_RUN, history.ENV_PERIOD):
        monkeypatch.delenv(key, raising=False)
    assert history.save("league", _league([1.0, 2.0])) is None
    assert history.earlier("league") == []
    assert history.previous() is None
    assert list(tmp_path.iterdir()) == []


def test_round_trip_with_schema(monkeypatch, tmp_path):
    report = tmp_path / "2025-06" / "district_comparison"
    env = history.runner_env(report / "results", tmp_path, "district_comparison", None, "2025-06")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    frame = _league([97.5, 88.0])
    frame["period"] = pd.period_range("2025-06", periods=2, freq="M")
    history.save("league", frame)
    history.save("counts", {"rows_read": 120, "rows_kept": 118})
    index = json.loads((report / "results" / "results.json").read_text(encoding="utf-8"))
    assert index["schema_version"] == history.SCHEMA_VERSION
    assert (index["run"], index["unit"], index["period"]) == ("district_comparison", None, "2025-06")
    league = next(t for t in index["tables"] if t["name"] == "league")
    assert league["file"] == "league.parquet" and league["rows"] == 2
    assert [c["name"] for c in league["columns"]] == list(frame.columns)
    back = history.load(report, "league")
    assert back["value"].tolist() == [97.5, 88.0]
    assert back["better"].tolist()[0] is True and pd.isna(back["better"].tolist()[1])
    assert back["deadline"].tolist() == ["2025-12-31", "2026"]  # mixed values kept as their text
    assert back["period"].astype(str).tolist() == ["2025-06", "2025-07"]
    assert history.load(report, "counts") == {"rows_read": 120, "rows_kept": 118}
    with pytest.raises(KeyError, match="stored: league, counts"):
        history.load(report, "fans")


def test_earlier_reads_the_same_run_and_unit_only(tmp_path):
    def store(period, run, unit, values):
        folder = tmp_path / period / run / (unit or "") / "results"
        history.save("league", _league(values), results_dir=folder)

    store("2025-04", "district_comparison", None, [1.0, 2.0])
    store("2025-05", "district_comparison", None, [3.0, 4.0])
    store("2025-07", "district_comparison", None, [9.0, 9.0])  # later than the report: not earlier
    store("2025Q1", "district_comparison", None, [8.0, 8.0])  # a quarter: not the same kind of period
    store("2025-05", "district_report", "u1", [5.0, 6.0])  # another run
    (tmp_path / "2025-03" / "district_comparison").mkdir(parents=True)  # a report made without results
    got = history.earlier("league", outputs=tmp_path, run="district_comparison", unit="", period="2025-06")
    assert [str(p) for p, _ in got] == ["2025-04", "2025-05"]
    assert got[-1][1]["value"].tolist() == [3.0, 4.0]
    prev = history.previous(outputs=tmp_path, run="district_report", unit="u1", period="2025-06")
    assert str(prev[0]) == "2025-05" and prev[1]["league"]["value"].tolist() == [5.0, 6.0]
    assert history.previous(outputs=tmp_path, run="district_report", unit="u2", period="2025-06") is None


def test_bad_names_and_missing_results(tmp_path):
    with pytest.raises(ValueError, match="file name"):
        history.save("../x", {}, results_dir=tmp_path)
    with pytest.raises(history.NoResults, match="no stored results"):
        history.load_all(tmp_path / "2025-06" / "district_comparison")


# --- two consecutive periods through the runner ----------------------------------------------


def _rank_rule(now: pd.DataFrame, before: pd.DataFrame) -> tuple[list[tuple], dict]:
    """The rule written out again, row by row: (unit name, indicator) of moves beyond both
    rank intervals, and per indicator the number of moves within them."""
    beyond, noise = [], {}
    ranked = lambda t: t[~t["suppressed"].astype(bool) & t["rank"].notna()]  # noqa: E731
    old = {(r.indicator, r.unit_id): r for r in ranked(before).itertuples()}
    for r in ranked(now).itertuples():
        p = old.get((r.indicator, r.unit_id))
        if p is None or p.rank == r.rank:
            continue
        if not (p.rank_low <= r.rank <= p.rank_high) and not (r.rank_low <= p.rank <= r.rank_high):
            beyond.append((r.name, r.indicator_zh, int(p.rank), int(r.rank)))
        else:
            noise[r.indicator_zh] = noise.get(r.indicator_zh, 0) + 1
    return beyond, noise


@pytest.mark.slow
def test_two_periods_through_the_runner_change_section_and_diff(tmp_path, capsys):
    import shutil

    import nbformat

    from cityanalytics import cli
    from cityanalytics.demo import write_demo

    root = Path(__file__).resolve().parents[1]
    shutil.copytree(root / "notebooks", tmp_path / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    write_demo(tmp_path / "data" / "demo", n_cases=30000)
    (tmp_path / "params").mkdir()
    run_file = tmp_path / "params" / "dc.yaml"
    run_file.write_text(
        "notebook: notebooks/district_comparison.ipynb\ntitle: 考评通报(测试)\nparameters:\n  workspace: data/demo\n"
        "  indicators: [case_ontime_disposal_rate, case_closure_rate, case_rework_rate, sorting_coverage_communities]\n"
        "  min_denominator: 10\n  n_boot: 300\n", encoding="utf-8")
    outputs = tmp_path / "outputs"
    for period in ("2025-05", "2025-06"):
        assert cli.main(["run", str(run_file), "--period", period, "--outputs", str(outputs), "--no-pdf",
                         "--no-progress"]) == 0
    new, old = outputs / "2025-06" / "dc", outputs / "2025-05" / "dc"
    index = history.read_index(new)
    assert (index["run"], index["unit"], index["period"]) == ("dc", None, "2025-06")
    assert {"indicators", "league", "composite", "lists", "targets"} <= {t["name"] for t in index["tables"]}
    assert "results/results.json" in json.loads((new / "manifest.json").read_text(encoding="utf-8"))["files"]

    def section(folder, cell_id):
        nb = nbformat.read(folder / "report.ipynb", as_version=4)
        cell = next(c for c in nb.cells if c.get("id") == cell_id)
        return cell, "".join(o.get("data", {}).get("text/html", "") for o in cell.outputs)

    assert "没有本报告上一期的存档结果,无法与上期比较(本期 2025-05)。" in section(old, "changes")[1]

    # the facts, worked out again from the two stored result sets
    lists_now, lists_before = history.load(new, "lists"), history.load(old, "lists")
    expected = []
    for label in ("红榜", "黑榜"):
        now = dict(zip(lists_now.loc[lists_now["list"] == label, "unit_id"], lists_now.loc[lists_now["list"] == label, "name"]))
        before = dict(zip(lists_before.loc[lists_before["list"] == label, "unit_id"],
                          lists_before.loc[lists_before["list"] == label, "name"]))
        expected += [f"{now[u]}本期进入{label}(上期不在{label})。" for u in now if u not in before]
        expected += [f"{before[u]}本期退出{label}(上期在{label})。" for u in before if u not in now]
    beyond, noise = _rank_rule(history.load(new, "league"), history.load(old, "league"))
    assert expected and beyond  # this data moves something on both counts, so the checks below bite
    expected += [f"{name}{ind}名次由第 {a} 位{'升至' if b < a else '降至'}第 {b} 位" for name, ind, a, b in beyond]
    expected += [f"{ind}:另有 {n} 个单位名次变动在名次区间以内,属随机波动" for ind, n in noise.items()]

    _, html = section(new, "changes")
    capsys.readouterr()
    assert cli.main(["diff", str(new), str(old)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("与上期比较:2025-06 对 2025-05")
    for fact in expected:
        assert fact in html, fact
        assert fact in printed, fact
    assert html.count("超出名次区间") == printed.count("超出名次区间") == len(beyond)

    summary_cell, summary_html = section(new, "summary")
    assert summary_cell.metadata["tags"] == ["summary"]
    assert "红榜" in summary_html and "黑榜" in summary_html and "灯" in summary_html
    assert any("与上期相比:" + fact in summary_html for fact in expected)  # the strongest change on page 1
    nb = nbformat.read(new / "report.ipynb", as_version=4)
    shown = [c for c in nb.cells if c.cell_type == "code" and c.outputs and "report-setup" not in c.metadata.get("tags", [])]
    assert shown[0].get("id") == "summary"  # the first cell a reader sees output from
