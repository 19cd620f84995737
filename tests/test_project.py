"""The project's own wiring: dependency lists in step, CLI entry points, packaging."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from cityanalytics import cli

ROOT = Path(__file__).resolve().parents[1]
# conda-forge names that differ from PyPI names
CONDA_TO_PYPI = {"python-duckdb": "duckdb"}


def _split(requirement: str) -> tuple[str, str]:
    m = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", requirement.strip())
    assert m, requirement
    return m.group(1).lower().replace("_", "-"), m.group(2).replace(" ", "")


def test_environment_yml_matches_pyproject():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    pip_deps = dict(_split(r) for r in pyproject["project"]["dependencies"])

    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    conda_deps = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for r in dep.get("pip", []):
                if not r.startswith("-e"):
                    name, spec = _split(r.split("#")[0])
                    conda_deps[name] = spec
            continue
        name, spec = _split(dep)
        if name in ("python", "pip"):
            continue
        conda_deps[CONDA_TO_PYPI.get(name, name)] = spec
    assert conda_deps == pip_deps


def test_every_subcommand_has_help(capsys):
    for name in cli.SUBCOMMANDS:
        with pytest.raises(SystemExit) as exit_info:
            cli.main([name, "--help"])
        assert exit_info.value.code == 0
        out = capsys.readouterr().out
        assert "usage: cityanalytics " + name in out


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "cityanalytics.cli", "--help"], capture_output=True, text=True,
                         check=True).stdout
    for name in cli.SUBCOMMANDS:
        assert name in out


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "./dev.sh test" in readme and "./dev.sh test" in ci
    assert "./dev.sh reports" in readme
