"""Reviewers' sign-off: who approved or sent back which report, when, and exactly which files.

Each decision is one line of ``outputs/<period>/signoff.jsonl`` (JSON Lines, append-only:
lines are only ever added, never rewritten). A line names the report by its path inside the
period (``district_comparison`` or ``district_report/990101``) and carries the sha256 of the
report's ``report.pdf`` and ``manifest.json`` as the reviewer saw them. The latest line for
a report is its decision; comparing its hashes with the files on disk gives the status:

- 待审: nobody has decided on this report, or it was re-made after being sent back;
- 已审: approved, and the PDF and manifest are the ones approved;
- 退回: sent back, and not re-made since;
- 审后已变更: approved, but the PDF or manifest has changed (a re-run, an edit) or is gone;
  it stays so until someone signs the new version.

Appends take an exclusive lock on the file and write each line with a single ``write`` on a
descriptor opened with ``O_APPEND``, so reviewers signing at the same moment never interleave.

This module also serves ``cityanalytics signoff`` (``configure`` / ``run``).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from cityanalytics.hashing import sha256
from cityanalytics.report import layout

HELP = "Record a reviewer's approval or rejection of a report, or verify signed reports (--verify)."
RECORDS = "signoff.jsonl"
SCHEMA_VERSION = 1
PDF, MANIFEST = "report.pdf", "manifest.json"

PENDING, APPROVED, REJECTED, CHANGED = "待审", "已审", "退回", "审后已变更"
STATUSES = (PENDING, APPROVED, REJECTED, CHANGED)
APPROVE, REJECT = "approve", "reject"
DECISION_ZH = {APPROVE: "审核通过", REJECT: "退回"}


class SignoffError(ValueError):
    """A report that cannot be signed, or a records file that cannot be read."""


@dataclass(frozen=True)
class Problem:
    """A signed report whose files no longer match the approved ones (``--verify``)."""

    period_dir: Path
    report: str
    message: str

    def __str__(self) -> str:
        return f"{self.period_dir / self.report}: {self.message}"


# --- where a report sits -------------------------------------------------------------------


def locate(report_dir: Path) -> tuple[Path, str]:
    """``(period directory, report key)`` for a report directory: the nearest folder above it
    named like a period (2025-06, 2025Q2, 2025), and the path from there (``run`` or
    ``run/unit``)."""
    report_dir = Path(report_dir).resolve()
    for parent in report_dir.parents:
        if layout.PERIOD_PATTERN.match(parent.name):
            key = report_dir.relative_to(parent).as_posix()
            if key.count("/") > 1:
                break
            return parent, key
    raise SignoffError(f"{report_dir} is not a report directory: expected outputs/<period>/<run> or "
                       "outputs/<period>/<run>/<unit> (e.g. outputs/2025-06/district_comparison)")


def _hash_or_none(path: Path) -> str | None:
    try:
        return sha256(path)
    except FileNotFoundError:
        return None


def current_hashes(report_dir: Path) -> dict[str, str | None]:
    """sha256 of the report's PDF and manifest as they are now (None for a missing file)."""
    report_dir = Path(report_dir)
    return {"pdf_sha256": _hash_or_none(report_dir / PDF), "manifest_sha256": _hash_or_none(report_dir / MANIFEST)}


# --- records ---------------------------------------------------------------------------------


def records(period_dir: Path) -> list[dict]:
    """Every decision of the period, oldest first ([] when nobody has signed anything)."""
    path = Path(period_dir) / RECORDS
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise SignoffError(f"{path}, line {number}: not a JSON record ({exc}); the file is append-only, "
                               "so this line was written by something else or edited by hand") from None
        if not isinstance(record, dict) or not isinstance(record.get("report"), str) \
                or record.get("decision") not in DECISION_ZH:
            raise SignoffError(f"{path}, line {number}: expected a sign-off record with 'report' and "
                               f"'decision' ({APPROVE} or {REJECT})")
        out.append(record)
    return out


def latest(period_dir: Path) -> dict[str, dict]:
    """The latest decision per report key."""
    return {r["report"]: r for r in records(period_dir)}


def _clean(text: str, what: str, limit: int) -> str:
    """One line of plain text: control characters become spaces; length-limited."""
    text = "".join(" " if unicodedata.category(c).startswith("C") else c for c in str(text)).strip()
    if len(text) > limit:
        raise SignoffError(f"{what} is {len(text)} characters long; at most {limit} are kept")
    return text


def sign(report_dir: Path, by: str, *, reject: bool = False, note: str = "",
         now: dt.datetime | None = None) -> dict:
    """Record one decision on the report in ``report_dir`` and return the record.

    The report must be a published report (``manifest.json`` with status ok and
    ``report.pdf``): a reviewer signs what was printed. A rejection needs a note saying why.
    """
    report_dir = Path(report_dir)
    period_dir, key = locate(report_dir)
    by = _clean(by, "--by", 100)
    note = _clean(note or "", "--note", 2000)
    if not by:
        raise SignoffError("--by is empty: name the reviewer who decides (e.g. --by 张三)")
    if reject and not note:
        raise SignoffError("a report sent back needs a --note saying what to change")
    meta_path, pdf_path = report_dir / MANIFEST, report_dir / PDF
    meta = _read_manifest(meta_path)
    if meta.get("status") != "ok":
        raise SignoffError(f"{meta_path}: status is {meta.get('status')!r}, not 'ok': only a published report "
                           "can be signed")
    if not pdf_path.is_file():
        raise SignoffError(f"{pdf_path} is missing: sign-off approves the printed report; make it with the PDF "
                           "(without --no-pdf) first")
    record = {
        "schema_version": SCHEMA_VERSION,
        "report": key,
        "period": period_dir.name,
        "run": meta.get("run"),
        "unit": meta.get("unit"),
        "title": meta.get("title"),
        "decision": REJECT if reject else APPROVE,
        "decision_zh": DECISION_ZH[REJECT if reject else APPROVE],
        "by": by,
        "note": note,
        "at": (now or dt.datetime.now().astimezone()).isoformat(timespec="seconds"),
        "report_ended_at": meta.get("ended_at"),
        "pdf_sha256": sha256(pdf_path),
        "manifest_sha256": sha256(meta_path),
    }
    append(period_dir / RECORDS, record)
    return record


def _read_manifest(path: Path) -> dict:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SignoffError(f"{path} is missing: {path.parent} is not a published report") from None
    except (OSError, ValueError) as exc:
        raise SignoffError(f"{path} cannot be read as a report manifest: {exc}") from None
    if not isinstance(meta, dict):
        raise SignoffError(f"{path}: expected a JSON object (a report manifest)")
    return meta


def append(path: Path, record: dict) -> None:
    """Add ``record`` as one line at the end of ``path``: exclusive lock, one ``write`` of the
    whole line on an ``O_APPEND`` descriptor, fsync. Existing lines are never touched."""
    line = (json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o644)
    try:
        with _locked(fd):
            written = os.write(fd, line)
            while written < len(line):  # a short write (disk nearly full); still under the lock
                written += os.write(fd, line[written:])
            os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _locked(fd: int):
    try:
        import fcntl
    except ImportError:  # Windows: lock the first byte, waiting for it
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
        try:
            yield
        finally:
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        return
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


# --- status and verification -----------------------------------------------------------------


def status(report_dir: Path) -> str:
    """待审 / 已审 / 退回 / 审后已变更 for the report in ``report_dir`` (see the module text)."""
    period_dir, key = locate(report_dir)
    record = latest(period_dir).get(key)
    if record is None:
        return PENDING
    same = current_hashes(report_dir) == {"pdf_sha256": record.get("pdf_sha256"),
                                          "manifest_sha256": record.get("manifest_sha256")}
    if record["decision"] == REJECT:
        return REJECTED if same else PENDING  # re-made after being sent back: awaits review again
    return APPROVED if same else CHANGED


def verify_period(period_dir: Path) -> list[Problem]:
    """Every approved report of the period whose PDF or manifest is missing or differs from the
    approved one. Reports sent back are not checked (a re-made one awaits review anyway)."""
    period_dir = Path(period_dir).resolve()
    problems = []
    for key, record in sorted(latest(period_dir).items()):
        if record["decision"] != APPROVE:
            continue
        now = current_hashes(period_dir / key)
        missing = [name for name, field in ((PDF, "pdf_sha256"), (MANIFEST, "manifest_sha256")) if now[field] is None]
        changed = [name for name, field in ((PDF, "pdf_sha256"), (MANIFEST, "manifest_sha256"))
                   if now[field] is not None and now[field] != record.get(field)]
        who = f"approved by {record.get('by')} at {record.get('at')}"
        if missing:
            problems.append(Problem(period_dir, key, f"{' and '.join(missing)} missing ({who})"))
        elif changed == [PDF]:
            problems.append(Problem(period_dir, key, f"{PDF} was modified after sign-off while its manifest is "
                                    f"the approved one: the PDF was edited, not re-made ({who})"))
        elif changed:
            problems.append(Problem(period_dir, key, f"{' and '.join(changed)} changed since approval: "
                                    f"the report was re-made or edited ({who}); sign the new version"))
    return problems


def period_dirs(path: Path) -> list[Path]:
    """The period directories ``--verify`` checks: ``path`` itself when it is one (or holds
    sign-off records), else its sub-directories named like periods (an outputs directory)."""
    path = Path(path)
    if not path.is_dir():
        raise SignoffError(f"{path} is not a directory: give outputs/ or outputs/<period>")
    if layout.PERIOD_PATTERN.match(path.resolve().name) or (path / RECORDS).is_file():
        return [path]
    return sorted(p for p in path.iterdir() if p.is_dir() and layout.PERIOD_PATTERN.match(p.name))


# --- command line ----------------------------------------------------------------------------


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="?", type=Path,
                        help="the report directory to sign (outputs/2025-06/district_comparison); with --verify, "
                             "a period directory or the outputs directory (default: outputs)")
    parser.add_argument("--by", help="the reviewer's name (姓名)")
    parser.add_argument("--reject", action="store_true", help="send the report back (退回) instead of approving it")
    parser.add_argument("--note", default="", help="the reviewer's note (required with --reject)")
    parser.add_argument("--verify", action="store_true",
                        help="check every approved report: exit 1 naming each one whose PDF or manifest was "
                             "modified or is missing")


def run(args: argparse.Namespace) -> int:
    try:
        return _verify(args.path or Path("outputs")) if args.verify else _sign(args)
    except SignoffError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _sign(args: argparse.Namespace) -> int:
    if args.path is None or not args.by:
        raise SignoffError("name the report directory and the reviewer: "
                           "cityanalytics signoff outputs/2025-06/district_comparison --by 姓名 [--reject] --note ...")
    record = sign(args.path, args.by, reject=args.reject, note=args.note)
    print(f"{record['decision_zh']}: {record['period']}/{record['report']} by {record['by']} at {record['at']}")
    print(f"  report.pdf    sha256 {record['pdf_sha256']}")
    print(f"  manifest.json sha256 {record['manifest_sha256']}")
    return 0


def _verify(path: Path) -> int:
    checked, problems = 0, []
    for period_dir in period_dirs(path):
        checked += sum(1 for r in latest(period_dir).values() if r["decision"] == APPROVE)
        problems += verify_period(period_dir)
    for problem in problems:
        print(f"changed: {problem}", file=sys.stderr)
    print(f"{checked} approved report(s) checked, {len(problems)} changed or missing")
    return 1 if problems else 0
