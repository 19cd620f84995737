"""Results stored beside a report (cityanalytics.report.history): round trip, schema, earlier periods."""

from __future__ import annotations

import datetime as dt
import json

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
