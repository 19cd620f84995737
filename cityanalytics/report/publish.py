"""Publish a report directory so readers never see half of one.

A run writes into ``.staging-<name>-<random>`` beside its target. Only a complete directory
is published: the previous one is renamed aside, the new one renamed into place, the old
one deleted. Both renames stay on one filesystem, so each is atomic; a crash between them
leaves the previous report aside, and the next run of that target puts it back before
anything else (``prepare``). A failed or interrupted run therefore never touches the last
good report: its staging directory is published as ``<target>/failed`` or deleted.

Leftovers are matched by their exact names (``.staging-<name>-<hex>``, ``.old-<name>-<hex>``),
so cleaning up after a run named ``dq`` never touches those of ``dq-x``. A run holds a lock on
``.lock-<name>`` beside its target from ``prepare`` to ``publish`` (``lock``): a second run of
the same report, in this or another process, does not wait; it fails at once with ``Busy``,
which names the other run's process, and changes nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import uuid
from pathlib import Path

STAGING = ".staging-"
ASIDE = ".old-"
LOCK = ".lock-"


class Busy(RuntimeError):
    """Another run is making the same report right now."""


def _leftovers(parent: Path, prefix: str, name: str) -> list[Path]:
    """``<prefix><name>-<hex>`` entries of ``parent``: exactly this target's, not a longer name's."""
    pattern = re.compile(re.escape(prefix + name) + r"-[0-9a-f]+")  # we write 8; any run of hex digits
    try:
        return [p for p in parent.iterdir() if pattern.fullmatch(p.name)]
    except FileNotFoundError:
        return []


@contextlib.contextmanager
def lock(target: Path):
    """Hold ``.lock-<name>`` beside ``target`` while the block runs; raise ``Busy`` at once if
    another run holds it. The lock file is removed on release (a run that finds the file it
    locked already unlinked by its previous holder takes a fresh one)."""
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    path = parent / f"{LOCK}{target.name}"
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)  # never through a planted link
        try:
            _try_lock(fd)
        except OSError:
            try:
                holder = os.read(fd, 200).decode("utf-8", "replace").strip()
            finally:
                os.close(fd)
            raise Busy(f"{target} is being made by another run ({holder or 'holder unknown'}; lock file {path}): "
                       "this run was not started; run it again when that one has finished") from None
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the previous holder removed that file after we opened it: lock the new one
    try:
        started = dt.datetime.now().astimezone().isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}, since {started}".encode())
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)  # closing releases the lock


def _try_lock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    else:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def prepare(target: Path) -> Path:
    """Recover from an interrupted publish, clear leftovers, return a fresh staging dir."""
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    asides = sorted(_leftovers(parent, ASIDE, target.name), key=lambda p: p.stat().st_mtime)
    if asides and not target.exists():
        os.replace(asides.pop(), target)  # crashed between the two renames: restore
    for leftover in [*asides, *_leftovers(parent, STAGING, target.name)]:
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
