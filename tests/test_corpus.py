"""The bad-input corpus: every file in tests/corpus gets the behaviour written in expected.yaml.

To add a case: add the file to tests/corpus/make_corpus.py, run it, and describe the load
in tests/corpus/expected.yaml.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from cityanalytics import schemas
from cityanalytics.io import LoadError, load

CORPUS = Path(__file__).parent / "corpus"
ENTRIES = yaml.safe_load((CORPUS / "expected.yaml").read_text(encoding="utf-8"))
NOT_CORPUS = {"make_corpus.py", "expected.yaml"}


def corpus_files() -> list[str]:
    return sorted(p.name for p in CORPUS.iterdir()
                  if p.is_file() and p.name not in NOT_CORPUS and not p.name.startswith("."))


def source_of(name: str) -> str | Path:
    path = CORPUS / name
    return f"sqlite:///{path}" if path.suffix == ".sqlite" else path


def load_options(entry: dict) -> dict:
    options = dict(entry.get("options") or {})
    if "units" in options:
        options["units"] = load(CORPUS / options["units"], "districts").frame
    return options


@functools.lru_cache(maxsize=None)
def run_entry(index: int):
    """Load entry ``index`` once per session: (LoadResult, None) or (None, LoadError)."""
    entry = ENTRIES[index]
    try:
        return load(source_of(entry["file"]), entry["table"], **load_options(entry)), None
    except LoadError as exc:
        return None, exc


def _entry_id(entry: dict) -> str:
    extra = ",".join(f"{k}" for k in (entry.get("options") or {}))
    return f"{entry['file']}[{entry['table']}{'+' + extra if extra else ''}]"


def _param(index: int):
    entry = ENTRIES[index]
    marks = [pytest.mark.xfail(reason=entry["xfail"], strict=True)] if entry.get("xfail") else []
    return pytest.param(index, id=_entry_id(entry), marks=marks)


def same_value(actual, expected) -> bool:
    if expected is None:
        return bool(pd.isna(actual))
    if actual is None or actual is pd.NA or actual is pd.NaT or (isinstance(actual, float) and np.isnan(actual)):
        return False
    if isinstance(actual, pd.Timestamp) or isinstance(expected, (dt.date, dt.datetime)):
        return pd.Timestamp(actual) == pd.Timestamp(expected)
    if isinstance(actual, pd.Period):
        return str(actual) == str(expected)
    if isinstance(expected, bool):
        return bool(actual) is expected
    if isinstance(actual, (float, np.floating)):
        return float(actual) == pytest.approx(float(expected))
    if isinstance(actual, (int, np.integer)):
        return int(actual) == int(expected)
    return str(actual) == str(expected)


def _as_rejection(spec) -> dict:
    if isinstance(spec, dict):
        return spec
    return dict(zip(["row", "column", "reason", "value"], spec))


def test_corpus_is_large_enough_and_fully_described():
    files = corpus_files()
    described = {e["file"] for e in ENTRIES}
    assert len(files) >= 30
    assert sorted(set(files) - described) == [], "corpus files without an entry in expected.yaml"
    assert sorted(described - set(files)) == [], "expected.yaml names files that are not in the corpus"


def test_corpus_is_regenerated_byte_for_byte(tmp_path):
    """make_corpus.py is deterministic, and the committed text files are what it writes."""
    spec = importlib.util.spec_from_file_location("make_corpus", CORPUS / "make_corpus.py")
    make_corpus = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_corpus)
    first, second = tmp_path / "a", tmp_path / "b"
    names = make_corpus.build(first)
    assert make_corpus.build(second) == names
    assert names == corpus_files()
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), f"{name} is not deterministic"
    # Binary formats carry library versions (pyarrow, sqlite); text files must match exactly.
    for name in names:
        if Path(name).suffix in (".csv", ".txt", ".xls"):
            assert (first / name).read_bytes() == (CORPUS / name).read_bytes(), f"{name}: rerun make_corpus.py"


@pytest.mark.parametrize("index", [_param(i) for i in range(len(ENTRIES))])
def test_corpus_file(index):
    entry = ENTRIES[index]
    expect = entry["expect"]
    result, err = run_entry(index)

    if "error" in expect:
        assert err is not None, f"expected a LoadError, got:\n{result.report.summary() if result else ''}"
        message = str(err)
        assert entry["file"] in message, f"the error does not name the file: {message}"
        assert expect["error"]["message"] in message
        assert err.column == expect["error"].get("column"), message
        return

    assert err is None, f"unexpected LoadError: {err}"
    frame, report = result
    summary = report.summary()
    assert (report.rows_read, report.rows_kept, report.rows_rejected) == (
        expect["rows_read"], expect["rows_kept"], expect["rows_rejected"]
    ), summary
    assert report.rows_read == report.rows_kept + report.rows_rejected
    assert len(frame) == report.rows_kept
    assert list(frame.columns) == schemas.table(entry["table"]).names

    # Rejections: exactly the expected ones, each with file, row, column, value and reason.
    actual = report.rejections.to_dict("records")
    for rejection in actual:
        assert entry["file"] in str(rejection["file"]), rejection
        assert rejection["reason"], rejection
    wanted = [_as_rejection(r) for r in expect["rejections"]]
    assert len(actual) == len(wanted), summary
    unmatched = list(actual)
    for want in wanted:
        match = next(
            (
                a for a in unmatched
                if int(a["row"]) == want["row"]
                and a["column"] == want["column"]
                and want["reason"] in a["reason"]
                and ("value" not in want or str(a["value"]) == str(want["value"]))
                and ("file" not in want or want["file"] in a["file"])
            ),
            None,
        )
        assert match is not None, f"expected rejection {want} not found in:\n{summary}"
        unmatched.remove(match)

    for note in expect.get("notes", []):
        assert any(note in n for n in report.notes), f"no note containing {note!r}: {report.notes}"

    for cells in expect.get("values", []):
        cells = dict(cells)
        i = cells.pop("index")
        for column, value in cells.items():
            got = frame.at[i, column]
            assert same_value(got, value), f"row {i} {column}: got {got!r}, expected {value!r}"

    for column, dtype in (expect.get("dtypes") or {}).items():
        assert str(frame[column].dtype) == dtype, f"{column}: {frame[column].dtype}"
