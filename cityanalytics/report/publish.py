"""Publish a report directory so readers never see half of one.

A run writes into ``.staging-<name>-<random>`` beside its target. Only a complete directory
is published: the previous one is renamed aside, the new one renamed into place, the old
one deleted. Both renames stay on one filesystem, so each is atomic; a crash between them
leaves the previous report aside, and the next run of that target puts it back before
anything else (``prepare``). A failed or interrupted run therefore never touches the last
good report: its staging directory is published as ``<target>/failed`` or deleted.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

STAGING = ".staging-"
ASIDE = ".old-"


def prepare(target: Path) -> Path:
    """Recover from an interrupted publish, clear leftovers, return a fresh staging dir."""
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    asides = sorted(parent.glob(f"{ASIDE}{target.name}-*"), key=lambda p: p.stat().st_mtime)
    if asides and not target.exists():
        os.replace(asides.pop(), target)  # crashed between the two renames: restore
    for leftover in [*asides, *parent.glob(f"{STAGING}{target.name}-*")]:
        shutil.rmtree(leftover, ignore_errors=True)
    staging = parent / f"{STAGING}{target.name}-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    return staging


def publish(staging: Path, target: Path) -> None:
    """Move the complete ``staging`` directory to ``target``, replacing what was there."""
    target.parent.mkdir(parents=True, exist_ok=True)
    aside = None
    if target.exists():
        aside = target.parent / f"{ASIDE}{target.name}-{uuid.uuid4().hex[:8]}"
        os.replace(target, aside)
    os.replace(staging, target)
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)


def discard(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)


def write_text(path: Path, text: str) -> None:
    """Write a file by renaming a complete temporary file over it."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
