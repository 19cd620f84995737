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

import hashlib
import json
import os
import pickle
import uuid
from pathlib import Path

from .bulletin import City, compute_city

ENV = "CITYANALYTICS_SHARED"
FORMAT = 1  # bumped when City changes shape: an older bundle is then recomputed


def city_part(ws, settings: dict) -> City:
    """``compute_city(ws, settings)``, from the batch's bundle when one matches."""
    folder = os.environ.get(ENV)
    if not folder:
        return compute_city(ws, settings)
    path = Path(folder) / f"city-{bundle_key(ws, settings)}.pickle"
    try:
        with open(path, "rb") as fh:
            return pickle.load(fh)
    except FileNotFoundError:
        pass
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        pass  # unreadable (another package version wrote it): compute, then replace it
    city = compute_city(ws, settings)
    _store(path, city)
    return city


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


def _store(path: Path, city: City) -> None:
    """Write atomically (two kernels may compute the same bundle at once: the last rename wins,
    both hold the same content). A folder that cannot be written costs only the sharing."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:
            pickle.dump(city, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
