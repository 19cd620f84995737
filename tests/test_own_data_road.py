"""The README's own-data road, end to end, as a user takes it: no pandas written by hand.

``cityanalytics init`` → copy the export in → ``cityanalytics map`` (draft recipe) → the edited
recipe → ``cityanalytics build`` → ``cityanalytics reports --workspace`` → PDFs, on

- the shipped real export (Boston 311, January 2022, ODC-PDDL; ``tests/data/boston311``), with
  its figures computed independently here from the raw CSV; and
- the demo city's raw exports (GBK CSV and Excel with title and 合计 rows, names for ids).
"""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cityanalytics.cli import main

pytestmark = pytest.mark.slow
BOSTON = Path(__file__).parent / "data" / "boston311"
AS_OF = pd.Timestamp("2022-04-26")  # the recipe's as_of


def _page_text(path: Path) -> str:
    text = re.sub(r"<[^>]+>", " ", path.read_text(encoding="utf-8"))
    return re.sub(r"\s+", " ", html.unescape(text))


def boston_truth() -> dict:
    """Closure rate and Kaplan-Meier median hours to close, from the raw CSV by hand."""
    raw = pd.read_csv(BOSTON / "boston311-100.csv", dtype=str, keep_default_na=False)
    opened = pd.to_datetime(raw["open_dt"])
    due = pd.to_datetime(raw["target_dt"].replace("", None))
    closed_at = pd.to_datetime(raw["closed_dt"].replace("", None))
    closed = (raw["case_status"] == "Closed") & closed_at.notna() & (closed_at < AS_OF)
    # open and not yet due at the as-of moment: censored, out of the denominator
    censored = ~closed & due.notna() & (due >= AS_OF)
    hours = np.where(closed, (closed_at - opened).dt.total_seconds(), (AS_OF - opened).dt.total_seconds()) / 3600
    order = np.argsort(hours, kind="stable")
    # Kaplan-Meier by hand; the median is the first time S <= 0.5, or the midpoint to the next
    # event time where S is exactly 0.5 (R survival, SAS LIFETEST)
    survival, median, event_times = 1.0, None, []
    for i, (t, event) in enumerate(zip(hours[order], closed.to_numpy()[order])):
        if event:
            survival *= 1 - 1 / (len(hours) - i)
            event_times.append((t, survival))
    for j, (t, s) in enumerate(event_times):
        if s <= 0.5 + 1e-12:
            median = (t + event_times[j + 1][0]) / 2 if abs(s - 0.5) <= 1e-12 else t
            break
    return {"cases": len(raw), "closed": int(closed.sum()), "due": int(len(raw) - censored.sum()),
            "closure_rate": 100 * closed.sum() / (len(raw) - censored.sum()), "median_hours": median,
            "no_unit": int((raw["neighborhood"].str.strip() == "").sum())}


@pytest.fixture(scope="module")
def boston_ws(tmp_path_factory) -> Path:
    ws = tmp_path_factory.mktemp("boston") / "ws"
    assert main(["init", str(ws)]) == 0
    (ws / "exports").mkdir(exist_ok=True)
    shutil.copy(BOSTON / "boston311-100.csv", ws / "exports")
    draft = ws / "draft.yaml"
    assert main(["map", str(ws / "exports" / "boston311-100.csv"), "--table", "cases", "--workspace", str(ws),
                 "--out", str(draft)]) == 0
    text = draft.read_text(encoding="utf-8")
    for column in ("case_enquiry_id", "open_dt", "target_dt", "neighborhood", "closed_dt"):
        assert column in text, column
    # the user's edit of the draft is the shipped recipe; units.csv names the neighborhoods
    shutil.copy(BOSTON / "sources.yaml", ws / "sources.yaml")
    shutil.copy(BOSTON / "units.csv", ws / "units.csv")
    # ... and asks the comparison for the median time to close as well
    run_file = ws / "params" / "district_comparison.yaml"
    text = run_file.read_text(encoding="utf-8")
    assert "    - case_rework_rate\n" in text
    run_file.write_text(text.replace("    - case_rework_rate\n",
                                     "    - case_rework_rate\n    - case_hours_to_close_median\n"), encoding="utf-8")
    assert main(["build", str(ws)]) == 0  # every row kept (the row without a unit too)
    return ws


def test_boston_build_keeps_every_row(boston_ws):
    truth = boston_truth()
    cases = pd.read_parquet(boston_ws / "tables" / "cases.parquet")
    assert len(cases) == truth["cases"] == 100
    assert int(cases["closed_at"].notna().sum()) == truth["closed"] == 85
    assert int(cases["unit_id"].isna().sum()) == truth["no_unit"] == 1
    info = json.loads((boston_ws / "tables" / "build.json").read_text(encoding="utf-8"))
    assert "cases" in json.dumps(info)


def test_boston_reports_print_the_independent_figures(boston_ws):
    truth = boston_truth()
    for run in ("data_quality", "district_comparison"):
        assert main(["reports", "--workspace", str(boston_ws), "--only", run, "--jobs", "1"]) == 0, run
    period_dirs = [p for p in (boston_ws / "outputs").iterdir() if p.is_dir()]
    assert [p.name for p in period_dirs] == ["2022-01"]  # the last complete month the data cover
    comparison = period_dirs[0] / "district_comparison"
    assert (comparison / "report.pdf").stat().st_size > 10_000
    text = _page_text(comparison / "report.html")
    assert "2022-01" in text and "2026" not in text.split("生成")[0][:200]
    assert f"全市结案率 {truth['closure_rate']:.1f}%" in text, truth["closure_rate"]  # 85.9 = 85 / 99
    assert f"全市结案时长中位数 {truth['median_hours']:.1f} 小时" in text, truth["median_hours"]  # 17.8
    assert "未归属单位" in text
    assert "以克论净" not in text or "没有" in text  # no dust samples: said, not reported on
    quality = _page_text(period_dirs[0] / "data_quality" / "report.html")
    assert "disposed_at" in quality  # 处置率 not computable: the export has no disposal time


def test_boston_median_hours_to_close(boston_ws):
    """The indicator behind the report, on the built table, against the hand Kaplan-Meier."""
    from cityanalytics.indicators import CITY, case_indicators

    truth = boston_truth()
    frame = case_indicators(str(boston_ws / "tables" / "cases.parquet"), freq="M", as_of=AS_OF)
    city = frame[(frame.unit_id == CITY) & (frame.group == "")].set_index("indicator")
    assert city.loc["case_closure_rate", "numerator"] == truth["closed"]
    assert city.loc["case_closure_rate", "denominator"] == truth["due"]
    assert city.loc["case_hours_to_close_median", "value"] == pytest.approx(truth["median_hours"], abs=1e-6)
    assert "case_disposal_rate" in frame.attrs["not_computable"]


def test_demo_raw_exports_take_the_same_road(tmp_path):
    demo, ws = tmp_path / "demo", tmp_path / "ws"
    assert main(["demo", "--out", str(demo), "--workspace", str(ws), "--cases", "3000"]) == 0
    assert main(["build", str(ws)]) == 0  # title and 合计 rows are not records: nothing rejected
    assert main(["reports", "--workspace", str(ws), "--only", "district_comparison", "--jobs", "1"]) == 0
    (report,) = ws.glob("outputs/*/district_comparison/report.pdf")
    assert report.stat().st_size > 10_000
    assert "合成" in _page_text(report.with_name("report.html"))  # every demo report says it is synthetic
