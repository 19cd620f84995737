"""The package speaks of the plans and the data, not of how the project was made: no path of the
machine a file was written on, no "issue N" in code or docstrings, no "seed 000"-style labels
for the five plans (they are named), and the plans' figures load under their own name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cityanalytics import targets

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = [ROOT / "cityanalytics", ROOT / "bench", ROOT / "scripts", ROOT / "docs"]
SUFFIXES = {".py", ".yaml", ".yml", ".md", ".txt", ".csv", ".json", ".sh", ".toml", ".cfg"}

MACHINE_PATH = re.compile(r"(?<![\w.])/(work|tmp|root|home)/")
ISSUE = re.compile(r"\bissues? #?\d|\(issue\b", re.IGNORECASE)
SEED_LABEL = re.compile(r"\bseeds? (\d{3}|plans?|documents?|files?|sentences?)\b|seed_facts|SeedFacts|种子",
                        re.IGNORECASE)


def _files():
    for top in SHIPPED:
        for path in sorted(top.rglob("*")):
            if path.is_file() and path.suffix in SUFFIXES and "__pycache__" not in path.parts:
                yield path


def _hits(pattern: re.Pattern) -> list[str]:
    out = []
    for path in _files():
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if pattern.search(line):
                out.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    return out


@pytest.mark.parametrize("name, pattern", [("machine path", MACHINE_PATH), ("issue number", ISSUE),
                                           ("seed label", SEED_LABEL)])
def test_no_project_history_in_the_shipped_text(name, pattern):
    assert _hits(pattern) == [], f"{name} found"


def test_the_patterns_catch_what_they_are_meant_to():
    assert MACHINE_PATH.search("# every target in the five plans (/work/shared/seeds).")
    assert not MACHINE_PATH.search("The recipe reference is docs/workspace.md.")
    assert ISSUE.search('"""Campaign impact (issue 6): did a campaign move') and ISSUE.search("as issue 4 asks")
    assert not ISSUE.search("a data issue in the export")
    assert SEED_LABEL.search("limits 3/8/10/10 (seed 001)") and SEED_LABEL.search("the seed documents report")
    assert not SEED_LABEL.search("--seed 2025") and not SEED_LABEL.search("reproducible by seed.")


def test_the_plans_figures_load_under_the_plans_name():
    facts = targets.load_facts()
    assert type(facts) is targets.PlanFacts and targets.FACTS_YAML.name == "plan_facts.yaml"
    assert facts.facts["hl_case_disposal_rate_2016_2020"]["value"] == 98.83
    # the header names every plan the registry cites
    header = targets.TARGETS_YAML.read_text(encoding="utf-8").split("\ntargets:")[0]
    for plan in targets.load_targets()["plan"].unique():
        city = plan[:3]  # 海陵区, 淄博市, 扎兰屯, 常州市
        assert city in header, plan
