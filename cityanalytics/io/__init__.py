"""Loaders: read real exports into canonical tables, with a report on every row.

    from cityanalytics.io import load
    cases, report = load("exports/案件.csv", "cases")
    print(report.summary())
"""

from cityanalytics.io.load import load
from cityanalytics.io.readers import detect_encoding
from cityanalytics.io.report import LoadError, LoadReport, LoadResult

__all__ = ["load", "detect_encoding", "LoadError", "LoadReport", "LoadResult"]
