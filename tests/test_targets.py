"""The targets registry and the plans' figures: they load, validate and match the plans' texts."""

from __future__ import annotations

import io
import re
import unicodedata
from pathlib import Path

import pandas as pd
import pytest
import yaml

from cityanalytics import cli, targets
from cityanalytics.schemas import LANE_TYPES, pandera_schema, table

PLAN_TEXTS = Path(__file__).resolve().parents[2] / "shared" / "seeds"  # the five plans' texts, *.txt
needs_plan_texts = pytest.mark.skipif(
    not PLAN_TEXTS.is_dir(), reason=f"the plans' texts are not at {PLAN_TEXTS} (they live outside the repo)"
)

TARGET_NAMES = table("targets").names


@pytest.fixture(scope="module")
def registry() -> pd.DataFrame:
    return targets.load_targets()


@pytest.fixture(scope="module")
def facts() -> targets.PlanFacts:
    return targets.load_facts()


def _number_text(value: float) -> str:
    return format(float(value), ".15g")


def _normalise_digits(text: str) -> str:
    """Full-width digits and signs (９８％) to ASCII, so 98% and ９８％ both match."""
    return unicodedata.normalize("NFKC", text)


# --------------------------------------------------------------------------- the registry


def test_registry_loads_and_validates(registry):
    assert list(registry.columns) == TARGET_NAMES + ["note"]
    assert str(registry["value"].dtype) == "Float64"
    assert str(registry["deadline"].dtype) == "datetime64[ns]"
    for name in ("target_id", "plan", "indicator", "quote"):
        assert str(registry[name].dtype) == "string"
    pandera_schema("targets").validate(registry)
    assert len(registry) >= 40
    assert set(registry["source_file"].str[:3]) == {"000", "001", "003", "004"}


def test_target_ids_unique_and_snake_case(registry):
    assert registry["target_id"].is_unique
    assert registry["target_id"].str.fullmatch(r"[a-z][a-z0-9_]*").all()
    assert registry["indicator"].str.fullmatch(r"[a-z][a-z0-9_]*").all()


def test_every_indicator_is_listed_in_the_header():
    text = targets.TARGETS_YAML.read_text(encoding="utf-8")
    header = text.split("\ntargets:", 1)[0]
    listed = set(re.findall(r"^#\s+([a-z][a-z0-9_]+)\s", header, flags=re.M))
    used = set(targets.load_targets()["indicator"])
    assert used <= listed, f"indicators missing from the header list: {sorted(used - listed)}"


def test_binding_only_where_the_document_says(registry):
    stated = registry[registry["binding"] != "未标明"]
    # Only 海陵区's indicator table has a 属性 column.
    assert set(stated["source_file"]) == {"000_d8b5c9bc115e5d6f.txt"}
    assert set(stated["binding"]) == {"约束性", "预期性"}


def test_known_targets(registry):
    by_id = registry.set_index("target_id")
    expected = {
        "hl_sorting_coverage": ("sorting_coverage_communities", 98, ">=", "2025-12-31", "约束性"),
        "hl_signing_rate": ("responsibility_signing_rate", 100, ">=", "2025-12-31", "预期性"),
        "zb_green_space_rate": ("green_space_rate", 40.6, ">=", "2025-12-31", "未标明"),
        "zb_park_coverage": ("park_service_coverage", 85, ">=", "2025-12-31", "未标明"),
        "zlt_mechanical_sweeping": ("mechanical_sweeping_rate", 60, ">=", "2022-10-31", "未标明"),
        "zlt_property_firm_filing": ("property_firm_filing_rate", 100, ">=", "2022-10-31", "未标明"),
        "cz_new_compliant_2023": ("sorting_compliant_communities_new", 425, ">=", "2023-12-31", "未标明"),
        "cz_compliant_share_2023": ("sorting_compliant_share", 75, ">=", "2023-12-31", "未标明"),
        "cz_demolition_2023": ("illegal_demolition_share", 15, ">=", "2023-12-31", "未标明"),
    }
    for tid, (indicator, value, comparison, deadline, binding) in expected.items():
        row = by_id.loc[tid]
        assert (row["indicator"], row["value"], row["comparison"]) == (indicator, value, comparison), tid
        assert row["deadline"] == pd.Timestamp(deadline), tid
        assert row["binding"] == binding, tid


@needs_plan_texts
def test_quotes_are_verbatim_in_the_plans_texts(registry, facts):
    texts = {p.name: p.read_text(encoding="utf-8") for p in PLAN_TEXTS.glob("*.txt")}
    quoted = [(r.target_id, r.source_file, r.quote) for r in registry.itertuples()]
    quoted += [(f["fact_id"], f["source_file"], f["quote"]) for f in facts.facts.values()]
    quoted += [(p["phase"], p["source_file"], p["quote"]) for p in facts.campaign_100day_phases]
    src = facts.road_dust_limits_source
    quoted.append(("road_dust_limits", src["source_file"], src["quote"]))
    missing = [i for i, file, quote in quoted if file not in texts or quote not in texts[file]]
    assert not missing, f"quotes not found verbatim in their plan's text: {missing}"


def test_quotes_carry_the_number(registry, facts):
    """The value's digits appear in the quote; entries whose number is in words carry a note."""
    rows = [(r.target_id, r.value, r.quote, r.note) for r in registry.itertuples()]
    rows += [(f["fact_id"], f["value"], f["quote"], f.get("note")) for f in facts.facts.values()]
    bad = [
        i for i, value, quote, note in rows
        if _number_text(value) not in _normalise_digits(quote) and (pd.isna(note) or not note)
    ]
    assert not bad, f"quote lacks the value's digits and there is no note explaining why: {bad}"


# --------------------------------------------------------------------------- facts


def test_required_facts(facts):
    values = {fid: f["value"] for fid, f in facts.facts.items()}
    expected = {
        "hl_cases_received_2016_2020": 359830,
        "hl_cases_handled_2016_2020": 355617,
        "hl_case_disposal_rate_2016_2020": 98.83,
        "hl_case_ontime_rate_2016_2020": 98.02,
        "hl_sorting_communities_2020": 162,
        "hl_villages_sorting_2020": 83,
        "hl_back_streets": 457,
        "hl_enforcement_staff_standard": 5,
        "zb_dust_samples_2020": 1369,
        "zb_dust_samples_compliant_2020": 1282,
        "zb_dust_compliance_rate_2020": 93.64,
        "zb_cases_since_2018_07": 277200,
        "zb_case_closure_rate_since_2018_07": 100,
        "cz_new_compliant_communities_2022": 300,
        "cz_site_evaluations_2022": 6725,
        "cz_problems_found_2022": 14228,
        "cz_sample_points_2022": 44,
        "cz_sample_point_problems_2022": 1547,
        "cz_cameras_2022": 671,
        "cz_shop_self_correction_rate_2022": 88,
    }
    for fid, value in expected.items():
        assert values.get(fid) == value, fid


def test_rates_recompute(facts):
    assert round(100 * 355617 / 359830, 2) == 98.83
    assert round(100 * 1282 / 1369, 2) == 93.64
    with_counts = [f for f in facts.facts.values() if f["numerator"] is not None]
    assert {f["fact_id"] for f in with_counts} >= {"hl_case_disposal_rate_2016_2020", "zb_dust_compliance_rate_2020"}
    for f in with_counts:
        assert round(100 * f["numerator"] / f["denominator"], 2) == f["value"], f["fact_id"]
    # The counts behind the rates are facts of their own, and agree with them.
    assert facts.facts["hl_case_disposal_rate_2016_2020"]["denominator"] == facts.facts["hl_cases_received_2016_2020"]["value"]
    assert facts.facts["zb_dust_compliance_rate_2020"]["numerator"] == facts.facts["zb_dust_samples_compliant_2020"]["value"]


def test_road_dust_limits(registry):
    limits = targets.road_dust_limits()
    assert limits == {"机动车道": 3, "非机动车道": 8, "人行道": 10, "背街小巷": 10}
    assert list(limits) == list(LANE_TYPES)
    # The registry's 以克论净 targets say the same.
    dust = registry[registry["indicator"] == "road_dust_g_m2"]
    assert dict(zip(dust["scope"], dust["value"])) == limits
    assert set(dust["comparison"]) == {"<="}


def test_campaign_phases():
    phases = targets.campaign_phases()
    assert [p["phase"] for p in phases] == ["宣传启动", "综合治理", "检查考评"]
    assert [(str(p["start"]), str(p["end"])) for p in phases] == [
        ("2022-07-22", "2022-08-01"),
        ("2022-08-01", "2022-09-30"),
        ("2022-10-01", "2022-10-31"),
    ]
    assert all(p["source_file"].startswith("003_") for p in phases)


def test_facts_table(facts):
    frame = facts.table()
    assert len(frame) == len(facts.facts)
    assert frame["fact_id"].is_unique


# --------------------------------------------------------------------------- command line


def _display_width(line: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in line)


def test_cli_table(capsys, registry):
    assert cli.main(["targets"]) == 0
    out = capsys.readouterr().out
    assert "hl_sorting_coverage" in out and "zb_dust_motor_lane" in out
    assert f"共 {len(registry)} 项目标" in out
    assert max(_display_width(line) for line in out.splitlines()) <= 100


def test_cli_csv_parses_back(capsys, registry):
    assert cli.main(["targets", "--format", "csv"]) == 0
    back = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(back.columns) == TARGET_NAMES + ["note"]
    assert list(back["target_id"]) == list(registry["target_id"])
    assert back["value"].tolist() == registry["value"].astype(float).tolist()
    assert list(back["quote"]) == list(registry["quote"])  # multi-line table rows survive


def test_cli_yaml_round_trips(capsys, registry, tmp_path):
    assert cli.main(["targets", "--format", "yaml", "--plan", "海陵"]) == 0
    path = tmp_path / "mine.yaml"
    path.write_text(capsys.readouterr().out, encoding="utf-8")
    again = targets.load_targets(path)
    expected = registry[registry["plan"].str.contains("海陵")].reset_index(drop=True)
    pd.testing.assert_frame_equal(again, expected)


def test_cli_filters(capsys):
    assert cli.main(["targets", "--indicator", "road_dust_g_m2", "--format", "csv"]) == 0
    back = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert set(back["indicator"]) == {"road_dust_g_m2"} and len(back) == 4
    assert cli.main(["targets", "--plan", "常州", "--format", "csv"]) == 0
    back = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert back["plan"].str.contains("常州").all() and len(back) > 0
    assert cli.main(["targets", "--plan", "没有这个规划"]) == 1


# --------------------------------------------------------------------------- malformed input

GOOD_ENTRY = {
    "target_id": "my_target",
    "plan": "某区规划",
    "indicator": "green_space_rate",
    "scope": "全区",
    "value": 40,
    "unit": "%",
    "comparison": ">=",
    "deadline": "2025-12-31",
    "binding": "未标明",
    "source_file": "mine.txt",
    "quote": "绿地率达到40%",
}


def _write(tmp_path: Path, **changes) -> Path:
    entry = {k: v for k, v in {**GOOD_ENTRY, **changes}.items() if v is not ...}
    path = tmp_path / "my_targets.yaml"
    path.write_text(yaml.safe_dump({"targets": [entry]}, allow_unicode=True), encoding="utf-8")
    return path


def test_a_good_user_file_loads(tmp_path):
    frame = targets.load_targets(_write(tmp_path))
    assert frame.loc[0, "target_id"] == "my_target" and frame.loc[0, "value"] == 40


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"value": "四十"}, "value"),
        ({"value": ...}, "value"),
        ({"comparison": ">"}, "comparison"),
        ({"deadline": "2025年"}, "deadline"),
        ({"binding": "必须"}, "binding"),
        ({"quote": ""}, "quote"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_malformed_entry_names_file_id_and_field(tmp_path, changes, field):
    path = _write(tmp_path, **changes)
    with pytest.raises(ValueError) as info:
        targets.load_targets(path)
    message = str(info.value)
    assert str(path) in message
    assert "my_target" in message
    assert repr(field) in message


def test_duplicate_target_id(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text(yaml.safe_dump({"targets": [GOOD_ENTRY, GOOD_ENTRY]}, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValueError, match="my_target.*duplicate"):
        targets.load_targets(path)
