"""The city-wide part of a bulletin, computed once per fan-out batch and shared by its units.

A fan-out run (one report per unit) gives every unit's kernel the same folder in the
environment variable ``CITYANALYTICS_SHARED``. ``build_bulletin`` then looks there for a
bundle keyed by its settings and a fingerprint of the data; the first unit to need it
computes and stores it, the others load it. Without the variable (JupyterLab, a single
report) nothing is stored and everything is computed as before.

The key holds every setting the city-wide part depends on and each data file's name, size
and modification time, so a bundle is never used for other data or other parameters; the
runner also empties the folder when it plans the batch.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import hmac
import importlib
import json
import os
import pickle
import uuid
from pathlib import Path

import pandas as pd

from cityanalytics.results import AnalysisResult

from .bulletin import Bulletin, City, compute_city

# The modules (the package exports functions of the same names): their sentence writers.
composite_mod, funnel_mod, league_mod, targets_mod, trend_mod = (
    importlib.import_module(f"cityanalytics.compare.{name}")
    for name in ("composite", "funnel", "league", "targets_status", "trend"))

ENV = "CITYANALYTICS_SHARED"
KEY_ENV = "CITYANALYTICS_SHARED_KEY"  # the batch's secret: bundles are signed with it (HMAC-SHA256)
FORMAT = 2  # bumped when City or Bulletin changes shape: an older bundle is then recomputed


def shared_parts(ws, settings: dict, per_indicator: dict, assemble) -> tuple[City, Bulletin | None]:
    """The city-wide part and the bulletin without a focus unit (``assemble(city, None, notes)``),
    from the batch's bundle when one matches, else computed (and stored for the other units).
    Outside a fan-out batch: the city-wide part only, and None (nothing stored)."""
    folder, secret = os.environ.get(ENV), os.environ.get(KEY_ENV, "").encode()
    if not folder or not secret:
        return compute_city(ws, settings), None
    key_settings = {**settings, **per_indicator}
    path = Path(folder) / f"bulletin-{bundle_key(ws, key_settings)}.pickle"
    parts = _load(path, secret)
    if parts is not None:
        return parts
    city = compute_city(ws, settings)
    parts = city, assemble(city, None, [*city.notes, *city.late_notes])
    _store(path, parts, secret)
    return parts


def _load(path: Path, secret: bytes):
    """The bundle, or None when missing, unreadable or not signed with this batch's key (never
    unpickled then: a pickle from anyone else could run code)."""
    try:
        blob = path.read_bytes()
    except OSError:
        return None
    digest, payload = blob[:32], blob[32:]
    if len(digest) < 32 or not hmac.compare_digest(digest, hmac.new(secret, payload, hashlib.sha256).digest()):
        return None
    try:
        return pickle.loads(payload)
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        return None  # another package version wrote it: compute, then replace it


def refocus(unfocused: Bulletin, focus: str | None, notes: list[str], given: int) -> Bulletin:
    """The bulletin ``assemble_bulletin`` makes with ``focus`` from the one it made without:
    the numbers do not depend on the focus unit, only each table's ``focus`` column and the
    sentences (the focus unit's first) do. ``notes``: the notes before assembling (the focus
    unit's included); ``given``: how many notes the unfocused bulletin was assembled with (the
    ones assembling added come after them, and after ``notes`` here)."""
    b = copy.copy(unfocused)
    added = unfocused.notes[given:]
    b.leagues = {k: _league(r, focus) for k, r in unfocused.leagues.items()}
    b.funnels = {k: _refocused(r, focus, lambda t, r: funnel_mod._sentences(t, r.extra["slice"], r.extra["levels"], focus))
                 for k, r in unfocused.funnels.items()}
    b.trends = {k: _refocused(r, focus, lambda t, r: trend_mod._sentences(t, r.extra["slice"], r.extra["periods"], focus))
                for k, r in unfocused.trends.items()}
    b.composite = (_refocused(unfocused.composite, focus, lambda t, r: composite_mod._sentences(t, focus))
                   if unfocused.composite is not None else None)
    b.targets = _targets(unfocused.targets, focus) if unfocused.targets is not None else None
    b.focus = focus
    b.notes = [*notes, *added]
    b.settings = {**unfocused.settings, "focus": focus}
    return b


def bundle_key(ws, settings: dict) -> str:
    """A hash of the settings, the package version and every file the city-wide part reads."""
    from cityanalytics import __version__
    from cityanalytics.targets import TARGETS_YAML

    files = {}
    folders = {Path(ws.root), Path(ws.tables_dir)}
    for folder in sorted(folders):
        for path in sorted(folder.iterdir()) if folder.is_dir() else []:
            if path.is_file():
                files[str(path.resolve())] = _stat(path)
    targets = Path(settings.get("targets_path") or TARGETS_YAML)
    files[str(targets.resolve())] = _stat(targets)
    text = json.dumps({"format": FORMAT, "version": __version__, "settings": settings, "files": files},
                      sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def _stat(path: Path) -> list | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def _store(path: Path, parts, secret: bytes) -> None:
    """Write atomically (two kernels may compute the same bundle at once: the last rename wins,
    both hold the same content). A folder that cannot be written costs only the sharing."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = pickle.dumps(parts, protocol=pickle.HIGHEST_PROTOCOL)
        with open(tmp, "wb") as fh:
            fh.write(hmac.new(secret, payload, hashlib.sha256).digest() + payload)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)


def _with_focus(table: pd.DataFrame, focus: str | None) -> pd.DataFrame:
    t = table.copy()
    t["focus"] = t["unit_id"] == focus if focus else False
    return t


def _refocused(result: AnalysisResult, focus: str | None, sentences) -> AnalysisResult:
    t = _with_focus(result.table, focus)
    return dataclasses.replace(result, table=t, sentences=sentences(t, result))


def _league(result: AnalysisResult, focus: str | None) -> AnalysisResult:
    e = result.extra
    t = _with_focus(result.table, focus)
    lines = league_mod._sentences(t, e["slice"], e["names"], focus, e["city_prev"], e["min_denominator"])
    return dataclasses.replace(result, table=t, sentences=lines, extra={**e, "focus": focus})


def _targets(result: AnalysisResult, focus: str | None) -> AnalysisResult:
    t = result.table.copy()
    if len(t) and focus:
        t["focus"] = t["unit_id"] == focus
    return dataclasses.replace(result, table=t, sentences=targets_mod._sentences(t, focus))
