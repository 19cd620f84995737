"""Lighting-on, intactness and check-completion rates from record-level assets and inspections (hand counts)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cityanalytics.indicators.assets import asset_indicators
from cityanalytics.indicators.registry import get


def _assets():
    return pd.DataFrame({
        "asset_id": ["L1", "L2", "L3", "L4", "L5", "R1", "R2", "R3", "B1"],
        "kind": ["路灯", "路灯", "路灯", "路灯", "路灯", "道路", "道路", "道路", "桥梁"],
        "unit_id": ["U", "U", "U", "V", "V", "U", "U", "V", "V"],
        "road_class": ["主干路", "主干路", "支路", None, "支路", "主干路", "次干路", "主干路", None],
        "check_every_days": [None, None, None, None, None, 30, 30, 30, 90],
        "in_service_from": pd.to_datetime([None] * 5 + ["2023-01-01"] * 3 + ["2023-12-01"]),
        "retired_on": pd.to_datetime([None] * 4 + ["2024-02-01"] + [None] * 4),
    })


def _checks():
    rows = [
        ("L1", "2024-01-05 21:00", True), ("L1", "2024-01-20 21:00", False),  # last check: off
        ("L2", "2024-01-05 21:00", True),
        ("L3", "2024-01-05 21:00", True),
        ("L4", "2024-01-06 21:00", True),  # no road class
        ("L5", "2024-01-06 21:00", False),
        ("R1", "2024-01-10 10:00", True), ("R2", "2024-01-10 10:00", False), ("R3", "2024-01-12 10:00", True),
        ("L1", "2024-02-05 21:00", True), ("R1", "2024-02-10 10:00", True),
    ]
    return pd.DataFrame(rows, columns=["asset_id", "inspected_at", "ok"]).assign(
        inspected_at=lambda d: pd.to_datetime(d["inspected_at"]))


def pick(frame, indicator, unit, period, group=""):
    rows = frame[(frame.indicator == indicator) & (frame.unit_id == unit) & (frame.period == pd.Period(period, "M"))
                 & (frame.group == group)]
    assert len(rows) == 1, (indicator, unit, period, group, rows)
    return rows.iloc[0]


@pytest.fixture(scope="module")
def frame():
    return asset_indicators(_assets(), _checks(), start="2024-01-01", end="2024-02-29", freq="M")


def test_lighting_on_rate_by_unit_and_road_class(frame):
    r = pick(frame, "street_light_on_rate", "U", "2024-01")  # L1 off (last check), L2 on, L3 on
    assert (r.numerator, r.denominator, r.value) == (2, 3, pytest.approx(200 / 3))
    r = pick(frame, "street_light_on_rate", "U", "2024-01", "road_class=主干路")
    assert (r.numerator, r.denominator) == (1, 2)
    r = pick(frame, "street_light_on_rate", "city", "2024-01")
    assert (r.numerator, r.denominator) == (3, 5)


def test_missing_road_class_is_its_own_group(frame):
    r = pick(frame, "street_light_on_rate", "V", "2024-01", "road_class=未标明")
    assert (r.numerator, r.denominator, r.value) == (1, 1, 100)


def test_zero_denominator_is_said_not_zero_percent(frame):
    # February: U's 支路 lamp L3 is in service but not checked.
    r = pick(frame, "street_light_on_rate", "U", "2024-02", "road_class=支路")
    assert r.denominator == 0 and np.isnan(r.value) and np.isnan(r.ci_low)
    assert "street_light_on_rate U 2024-02 road_class=支路: no 路灯 checked" in frame.attrs["notes"]
    # L5 retired on 2024-02-01: not in February's register at all.
    feb_v = frame[(frame.unit_id == "V") & (frame.period == pd.Period("2024-02", "M"))
                  & (frame.indicator == "street_light_on_rate")]
    assert set(feb_v.group) == {"", "road_class=未标明"}


def test_road_intact_rate_by_class(frame):
    r = pick(frame, "road_intact_rate", "U", "2024-01")
    assert (r.numerator, r.denominator) == (1, 2)
    r = pick(frame, "road_intact_rate", "city", "2024-01", "road_class=主干路")
    assert (r.numerator, r.denominator) == (2, 2)
    r = pick(frame, "bridge_intact_rate", "V", "2024-01")
    assert r.denominator == 0  # B1 not checked in January


def test_check_completion(frame):
    # January, all 9 assets in service. Due: lamps (no cycle) 5; roads (cycle 30 from 2023-01-01) 3;
    # bridge B1 from 2023-12-01 + 90 days = 2024-02-29: not due in January. Checked among due: all 8.
    r = pick(frame, "asset_inspection_completion_rate", "city", "2024-01")
    assert (r.numerator, r.denominator) == (8, 8)
    # February: L5 retired. Lamps due 4, checked L1 only; roads due (last check Jan 10/12 + 30 <= Feb 29) 3,
    # checked R1 only; bridge due on 2024-02-29, not checked. 2 of 8.
    r = pick(frame, "asset_inspection_completion_rate", "city", "2024-02")
    assert (r.numerator, r.denominator) == (2, 8)
    r = pick(frame, "asset_inspection_completion_rate", "V", "2024-02", "kind=桥梁")
    assert (r.numerator, r.denominator) == (0, 1)


def test_period_without_any_check():
    f = asset_indicators(_assets(), _checks(), start="2023-12-01", end="2024-01-31", freq="M")
    r = pick(f, "street_light_on_rate", "city", "2023-12")
    assert r.denominator == 0 and np.isnan(r.value)
    r = pick(f, "asset_inspection_completion_rate", "city", "2023-12")
    # lamps (no cycle) 5 due; roads: 2023-01-01 + 30 days long past, 3 due; B1 in service from 2023-12-01, next
    # check 2024-02-29: not due. None checked.
    assert (r.numerator, r.denominator) == (0, 8)


def test_unknown_asset_in_inspections_named():
    checks = pd.concat([_checks(), pd.DataFrame({"asset_id": ["X9"], "inspected_at": [pd.Timestamp("2024-01-02")],
                                                 "ok": [True]})], ignore_index=True)
    with pytest.raises(ValueError, match=r"inspections: row 11, column asset_id: 'X9' is not in the assets register"):
        asset_indicators(_assets(), checks)


def test_check_without_result_is_an_error():
    checks = _checks().astype({"ok": "boolean"})
    checks.loc[3, "ok"] = pd.NA
    with pytest.raises(ValueError, match="inspections: row 3"):
        asset_indicators(_assets(), checks)


def test_registered():
    for ind in ("street_light_on_rate", "road_intact_rate", "bridge_intact_rate", "asset_inspection_completion_rate"):
        info = get(ind)
        assert info.table == "inspections" and info.direction == "higher_better" and info.unit == "%"


def test_register_and_checks_load_from_bureau_exports(tmp_path):
    from cityanalytics.io import load
    (tmp_path / "台账.csv").write_text("设施编号,设施类型,所属街道,道路等级,巡查周期\nL1,路灯杆,U,主干道,\nR1,路段,U,,30\n",
                                     encoding="utf-8")
    (tmp_path / "巡查.csv").write_text("设施编号,巡查时间,是否亮灯,巡查人\nL1,2024-01-05 21:00,是,张三\nL1,2024-01-06 21:00,否,张三\n",
                                     encoding="utf-8")
    assets = load(tmp_path / "台账.csv", "assets").frame
    checks = load(tmp_path / "巡查.csv", "inspections").frame
    assert list(assets["kind"]) == ["路灯", "道路"] and assets["road_class"].iloc[0] == "主干路"
    f = asset_indicators(assets, checks)
    r = pick(f, "street_light_on_rate", "U", "2024-01")
    assert (r.numerator, r.denominator) == (0, 1)  # last check: off
