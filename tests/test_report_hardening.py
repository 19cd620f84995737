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


# --- item 6: unwritable outputs, symlinks, data_dir: / ----------------------------------------


def test_disk_full_read_only_and_moved_folders_fail_their_run_and_the_batch_goes_on(tmp_path, monkeypatch, capsys):
    from cityanalytics.report import batch, manifest

    jobs = {name: _job(tmp_path, name) for name in ("full", "nospace", "readonly", "moved", "ok")}
    for name in ("full", "nospace", "readonly"):
        _last_good(jobs[name].target)
    elsewhere = tmp_path / "elsewhere"
    _last_good(elsewhere)
    jobs["moved"].target.parent.mkdir(parents=True, exist_ok=True)
    jobs["moved"].target.symlink_to(elsewhere, target_is_directory=True)  # after planning

    monkeypatch.setattr(runner.execute, "execute", lambda *a, **k: execute.Execution(True, 0.0, 0.0))

    def to_html(notebook, html_path, meta, hide_code=True):
        if meta["run"] == "full":
            raise OSError(errno.ENOSPC, "No space left on device", str(html_path))
        Path(html_path).write_bytes(b"<html>new</html>")

    real_write, real_open = manifest.write, os.open

    def write(path, meta):
        if ".staging-nospace-" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real_write(path, meta)

    def os_open(path, flags, *args, **kw):
        if str(path).endswith(".lock-readonly") and flags & os.O_CREAT:
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *args, **kw)

    monkeypatch.setattr(runner.export, "to_html", to_html)
    monkeypatch.setattr(runner.manifest, "write", write)
    monkeypatch.setattr(os, "open", os_open)

    results = {m["run"]: m for m in batch.run_jobs(list(jobs.values()), n_jobs=1, progress=False)}
    assert len(results) == 5 and results["ok"]["status"] == "ok"  # the batch went on to the last one
    assert (jobs["ok"].target / "report.html").read_bytes() == b"<html>new</html>"

    full = json.loads((jobs["full"].target / "failed" / "manifest.json").read_text(encoding="utf-8"))
    assert full["status"] == "failed" and full["error"]["phase"] == "html"
    assert "the disk is full" in full["error"]["evalue"] and "No space left on device" in full["error"]["evalue"]
    assert results["nospace"]["error"]["phase"] == "output" and "the disk is full" in results["nospace"]["error"]["evalue"]
    assert results["readonly"]["error"]["phase"] == "output"
    assert "cannot be written" in results["readonly"]["error"]["evalue"]
    assert results["moved"]["error"]["ename"] == "UnsafeOutput" and str(elsewhere) in results["moved"]["error"]["evalue"]

    for name in ("full", "nospace", "readonly"):  # the last good reports, byte for byte
        assert (jobs[name].target / "report.html").read_bytes() == GOOD_HTML, name
    assert sorted(p.name for p in elsewhere.iterdir()) == ["manifest.json", "report.html"]
    assert (elsewhere / "report.html").read_bytes() == GOOD_HTML
    period = jobs["ok"].target.parent
    assert not [p.name for p in period.iterdir() if p.name.startswith(".")]  # no staging or lock left
    err = capsys.readouterr().err
    assert "FAILED nospace [output]" in err and "FAILED moved [output]" in err


def test_data_dir_root_workspace_root_and_symlinked_report_folder_fail_their_run_only(tmp_path, monkeypatch, capsys):
    from cityanalytics.report import batch, cli_run

    _notebook(tmp_path / "notebooks" / "nb.ipynb", ["print('ok')"], 'data_dir = "data"\nperiod = ""\n')
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "cases.csv").write_text("case_id\n1\n", encoding="utf-8")
    runs = {"ok": "", "root": "parameters:\n  data_dir: /\n", "wsroot": "workspace: /\n",
            "updir": "parameters:\n  data_dir: ..\n", "link": ""}
    (tmp_path / "params").mkdir()
    for name, body in runs.items():
        (tmp_path / "params" / f"{name}.yaml").write_text("notebook: notebooks/nb.ipynb\n" + body, encoding="utf-8")
    out = tmp_path / "outputs" / PERIOD
    _last_good(out / "root")
    elsewhere = tmp_path / "elsewhere"
    _last_good(elsewhere)
    (out / "link").symlink_to(elsewhere, target_is_directory=True)
    monkeypatch.setattr(runner, "_make", _fake_make())

    planner = batch.Planner(tmp_path, tmp_path / "outputs", PERIOD, pdf=False)
    jobs = [job for name in runs for job in planner.plan(tmp_path / "params" / f"{name}.yaml")]
    assert cli_run.execute_jobs(planner, jobs, 1, False, order=list(runs)) == 1

    assert (out / "ok" / "report.html").read_bytes() == b"<html>new</html>"
    for name, words in (("root", "parameters.data_dir: / is the filesystem root"),
                        ("wsroot", "data_dir: / is the filesystem root"),
                        ("updir", f"holds the project ({tmp_path.resolve()})")):
        failed = json.loads((out / name / "failed" / "manifest.json").read_text(encoding="utf-8"))
        assert failed["status"] == "failed" and words in failed["error"]["evalue"], name
    assert (out / "root" / "report.html").read_bytes() == GOOD_HTML
    assert (elsewhere / "report.html").read_bytes() == GOOD_HTML and not (elsewhere / "failed").exists()
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "is the filesystem root" in index and "未能开始的运行" in index
    assert f"{out / 'link'} lies outside the outputs directory" in index
    assert "lies outside the outputs directory" in capsys.readouterr().err
