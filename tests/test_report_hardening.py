"""The report pipeline under stress (issue 12, items 5, 6 and 2): two runs of one report at
once, leftovers of a run whose name is a prefix of another's, disk full, read-only outputs,
a report folder turned into a symlink, data_dir: /, and the limits on memory, time and
output size. Kernel-free where the behaviour allows (runner parts faked), one small kernel
run per limit."""

from __future__ import annotations

import errno
import json
import os
import threading
from pathlib import Path

import nbformat
import pytest

from cityanalytics.report import execute, publish, runner
from cityanalytics.report.runner import Job

PERIOD = "2025-06"
GOOD_HTML = "<html>上次成功的报告</html>".encode("utf-8")


def _notebook(path: Path, cells: list[str], parameters: str = 'period = ""\n') -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 加固测试报告"),
                nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]})]
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def _job(tmp_path: Path, run: str = "dq", **kw) -> Job:
    notebook = _notebook(tmp_path / "notebooks" / "nb.ipynb", ["print('ok')"])
    target = (tmp_path / "outputs" / PERIOD / run).resolve()
    fields = dict(run=run, unit=None, unit_name=None, period=PERIOD, target=target, root=tmp_path.resolve(),
                  run_file=f"params/{run}.yaml", notebook=notebook, title="加固测试报告", pdf=False,
                  kernel=execute.kernel_name())
    fields.update(kw)
    return Job(**fields)


def _last_good(target: Path) -> None:
    target.mkdir(parents=True)
    (target / "report.html").write_bytes(GOOD_HTML)
    (target / "manifest.json").write_text(json.dumps({"status": "ok", "files": ["report.html"]}), encoding="utf-8")


def _fake_make(html: bytes = b"<html>new</html>", wait: threading.Event | None = None, started=None):
    def make(job, staging, meta, timings):
        (staging / "report.html").write_bytes(html)
        if started is not None:
            started.set()
        if wait is not None:
            assert wait.wait(20)
        return None
    return make


# --- item 5: concurrent runs ------------------------------------------------------------------


def test_second_run_of_the_same_report_fails_at_once_and_leaves_the_first_alone(tmp_path, monkeypatch):
    job = _job(tmp_path)
    _last_good(job.target)
    started, release = threading.Event(), threading.Event()
    monkeypatch.setattr(runner, "_make", _fake_make(b"<html>first</html>", wait=release, started=started))
    results = {}
    first = threading.Thread(target=lambda: results.setdefault("first", runner.run_job(job)))
    first.start()
    assert started.wait(20)
    staging = [p for p in job.target.parent.iterdir() if p.name.startswith(".staging-dq-")]
    assert len(staging) == 1  # the first run is writing here

    second = runner.run_job(job)  # same report, while the first holds the lock
    assert second["status"] == "failed" and second["error"]["phase"] == "lock"
    assert "being made by another run" in second["error"]["evalue"] and f"pid {os.getpid()}" in second["error"]["evalue"]
    assert staging[0].is_dir()  # the second run did not clear the first one's staging folder
    assert (job.target / "report.html").read_bytes() == GOOD_HTML and not (job.target / "failed").exists()

    release.set()
    first.join(20)
    assert results["first"]["status"] == "ok"
    assert (job.target / "report.html").read_bytes() == b"<html>first</html>"
    assert not [p.name for p in job.target.parent.iterdir() if p.name.startswith(".")]  # lock file removed too


def test_leftovers_are_matched_by_exact_name_not_prefix(tmp_path):
    period = tmp_path / "outputs" / PERIOD
    period.mkdir(parents=True)
    # dq-x crashed between its two renames: its last good report is set aside, its target gone.
    aside = period / ".old-dq-x-0123abcd"
    aside.mkdir()
    (aside / "report.html").write_bytes(GOOD_HTML)
    other_staging = period / ".staging-dq-x-89abcdef"
    other_staging.mkdir()
    own_leftover = period / ".staging-dq-fedcba98"
    own_leftover.mkdir()

    staging = publish.prepare(period / "dq")
    assert not (period / "dq").exists()  # dq-x's report was not "restored" as dq
    assert (aside / "report.html").read_bytes() == GOOD_HTML and other_staging.is_dir()
    assert not own_leftover.exists() and staging.name.startswith(".staging-dq-")
    publish.discard(staging)

    # dq-x's own next run puts its report back.
    publish.discard(publish.prepare(period / "dq-x"))
    assert (period / "dq-x" / "report.html").read_bytes() == GOOD_HTML
    assert not aside.exists() and not other_staging.exists()
