"""The report pipeline under stress (issue 12, items 5, 6 and 2): two runs of one report at
once, leftovers of a run whose name is a prefix of another's, disk full, read-only outputs,
a report folder turned into a symlink, data_dir: /, and the limits on memory, time and
output size. Kernel-free where the behaviour allows (runner parts faked), one small kernel
run per limit."""

from __future__ import annotations

import errno
import json
import os
import shutil
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


def test_a_symlink_planted_as_the_lock_file_is_refused_not_followed(tmp_path, monkeypatch):
    job = _job(tmp_path)
    _last_good(job.target)
    victim = tmp_path / "victim.txt"
    victim.write_text("不可改写", encoding="utf-8")
    (job.target.parent / f".lock-{job.run}").symlink_to(victim)
    monkeypatch.setattr(runner, "_make", _fake_make())
    meta = runner.run_job(job)
    assert meta["status"] == "failed" and meta["error"]["phase"] == "output"
    assert victim.read_text(encoding="utf-8") == "不可改写"  # not truncated through the link
    assert (job.target / "report.html").read_bytes() == GOOD_HTML and not (job.target / "failed").exists()


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


def test_missing_demo_data_is_built_by_the_command_lines_hook_not_the_batch(tmp_path, monkeypatch):
    """The planner calls the hook it was given with each run's data paths; the command line's
    hook builds data/demo once when a run needs it (renamed into place), a failed build fails
    that run with its message, and a planner without a hook builds nothing."""
    import cityanalytics.demo
    from cityanalytics.report import batch, cli_run

    _notebook(tmp_path / "notebooks" / "nb.ipynb", ["print('ok')"], 'data_dir = "data"\nperiod = ""\n')
    (tmp_path / "params").mkdir()
    run_file = tmp_path / "params" / "dq.yaml"
    run_file.write_text("notebook: notebooks/nb.ipynb\nparameters:\n  data_dir: data/demo\n", encoding="utf-8")
    demo = (tmp_path / "data" / "demo").resolve()
    builds = []

    def write_demo(out):
        builds.append(Path(out))
        Path(out).mkdir(parents=True)
        (Path(out) / "truth.json").write_text('{"synthetic": true, "window": {"end": "2025-03-31"}}', encoding="utf-8")

    monkeypatch.setattr(cityanalytics.demo, "write_demo", write_demo)
    job, = batch.Planner(tmp_path, tmp_path / "outputs", None, pdf=False).plan(run_file)
    assert not builds and job.error is not None and "data/demo" in job.error["evalue"]  # no hook: not built

    seen = []
    job, = batch.Planner(tmp_path, tmp_path / "outputs", None, pdf=False,
                         prepare=lambda root, paths: seen.append((root, paths))).plan(run_file)
    assert seen == [(tmp_path.resolve(), [("data_dir", demo, "dir")])]

    planner = batch.Planner(tmp_path, tmp_path / "outputs", None, pdf=False, prepare=cli_run.ensure_demo_data)
    job, = planner.plan(run_file)
    assert job.error is None and job.synthetic and planner.period == "2025-03"
    assert len(builds) == 1 and builds[0].parent == demo.parent and (demo / "truth.json").is_file()
    planner.plan(run_file)
    cli_run.ensure_demo_data(tmp_path, [("data_dir", tmp_path / "data" / "other", "dir")])
    assert len(builds) == 1  # built once; a run on other data never builds it
    assert sorted(p.name for p in demo.parent.iterdir()) == ["demo"]  # no half-written folder left

    def broken(out):
        Path(out).mkdir(parents=True)
        raise OSError("disk full")

    shutil.rmtree(demo)
    monkeypatch.setattr(cityanalytics.demo, "write_demo", broken)
    job, = planner.plan(run_file)
    assert job.error["evalue"] == f"{run_file}: building the demo data failed: OSError: disk full"
    assert not list(demo.parent.iterdir())


# --- item 2: limits on memory, total time and output size --------------------------------------


def _project(tmp_path: Path, cells: list[str], run_body: str = "") -> Path:
    _notebook(tmp_path / "notebooks" / "nb.ipynb", cells)
    run_file = tmp_path / "params" / "lim.yaml"
    run_file.parent.mkdir(parents=True, exist_ok=True)
    run_file.write_text("notebook: notebooks/nb.ipynb\n" + run_body, encoding="utf-8")
    _last_good(tmp_path / "outputs" / PERIOD / "lim")
    return run_file


def _run(run_file: Path, *args: str) -> int:
    from cityanalytics import cli

    return cli.main(["run", str(run_file), "--period", PERIOD, "--no-pdf", "--no-progress", *args])


def test_memory_limit_from_the_run_file_stops_a_greedy_cell(tmp_path, capsys):
    # 2.5 GiB: a kernel starting under a parallel test run once died before kernel_info at 1.5 GiB
    run_file = _project(tmp_path, ["big = bytearray(4 * 1024 ** 3)", "print('not reached')"], "memory: 2560MiB\n")
    assert _run(run_file) == 1
    target = tmp_path / "outputs" / PERIOD / "lim"
    failed = json.loads((target / "failed" / "manifest.json").read_text(encoding="utf-8"))
    assert failed["limits"]["memory"] == 2560 * 1024 ** 2
    assert failed["error"]["ename"] == "MemoryError"  # the greedy cell, after the runner's two
    assert "bytearray(4 * 1024 ** 3)" in failed["error"]["source"]
    assert "memory limit of 2.5 GiB" in failed["error"]["evalue"]
    assert (target / "report.html").read_bytes() == GOOD_HTML
    assert "memory limit of 2.5 GiB" in capsys.readouterr().err


def test_memory_and_time_limits_from_flag_schedule_run_file_and_defaults(tmp_path):
    from cityanalytics.report import batch, params

    run_file = _project(tmp_path, ["print('ok')"], "memory: 2GiB\ntime_limit: 900\n")
    assert params.load_run(run_file).memory == 2 * 1024 ** 3 and params.load_run(run_file).time_limit == 900
    for body, words in (("memory: lots\n", "memory: expected a memory size"), ("memory: 100MiB\n", "below 256 MiB"),
                        ("time_limit: 0\n", "time_limit: expected a number of seconds")):
        run_file.write_text("notebook: notebooks/nb.ipynb\n" + body, encoding="utf-8")
        with pytest.raises(params.ParamError, match=words):
            params.load_run(run_file)
    run_file.write_text("notebook: notebooks/nb.ipynb\nmemory: 2GiB\n", encoding="utf-8")

    schedule = tmp_path / "params" / "schedule.yaml"
    schedule.write_text("defaults: {memory: 3GiB, time_limit: 1200}\nruns:\n  - {run: lim, memory: 1GiB, time_limit: 60}\n",
                        encoding="utf-8")
    loaded = batch.load_schedule(schedule)
    assert (loaded.memory, loaded.time_limit) == (3 * 1024 ** 3, 1200)
    assert (loaded.entries[0].memory, loaded.entries[0].time_limit) == (1024 ** 3, 60)
    schedule.write_text("runs:\n  - {run: lim, memory: -1}\n", encoding="utf-8")
    with pytest.raises(batch.ScheduleError, match=r"runs\[0\]: memory"):
        batch.load_schedule(schedule)

    planner = batch.Planner(tmp_path, tmp_path / "outputs", PERIOD, pdf=False)
    planner.default_memory, planner.default_time_limit = 3 * 1024 ** 3, 1200
    job, = planner.plan(run_file, memory=1024 ** 3, time_limit=60)  # the entry's beat the run file's
    assert (job.memory, job.time_limit) == (1024 ** 3, 60)
    job, = planner.plan(run_file)  # the run file's memory, the schedule default's time
    assert (job.memory, job.time_limit) == (2 * 1024 ** 3, 1200)
    planner.memory, planner.time_limit = 512 * 1024 ** 2, 30  # --memory 512MiB --time-limit 30
    job, = planner.plan(run_file, memory=1024 ** 3, time_limit=60)
    assert (job.memory, job.time_limit) == (512 * 1024 ** 2, 30)
    run_file.write_text("notebook: notebooks/nb.ipynb\n", encoding="utf-8")
    job, = batch.Planner(tmp_path, tmp_path / "outputs", PERIOD, pdf=False).plan(run_file)
    assert (job.memory, job.time_limit) == (4 * 1024 ** 3, 3600)  # the built-in defaults


def test_total_time_limit_stops_the_kernel_whatever_the_cell_timeout(tmp_path):
    run_file = _project(tmp_path, ["import time\ntime.sleep(120)"], "timeout: 600\n")
    assert _run(run_file, "--time-limit", "6") == 1
    target = tmp_path / "outputs" / PERIOD / "lim"
    failed = json.loads((target / "failed" / "manifest.json").read_text(encoding="utf-8"))
    assert failed["error"]["phase"] == "time_limit" and failed["error"]["cell_index"] == 4
    assert "time.sleep(120)" in failed["error"]["source"]
    assert "total time limit of 6 s" in failed["error"]["evalue"]
    assert failed["timings"]["execute"] < 40
    assert (target / "report.html").read_bytes() == GOOD_HTML


def test_total_time_limit_counts_the_export(tmp_path, monkeypatch):
    import time

    job = _job(tmp_path, "slow", time_limit=1)
    _last_good(job.target)
    monkeypatch.setattr(runner.execute, "execute", lambda *a, **k: execute.Execution(True, 0.0, 0.0))

    def slow_html(notebook, html_path, meta, hide_code=True):
        time.sleep(1.3)
        Path(html_path).write_bytes(b"<html>late</html>")

    monkeypatch.setattr(runner.export, "to_html", slow_html)
    meta = runner.run_job(job)
    assert meta["status"] == "failed" and meta["error"]["phase"] == "time_limit"
    assert "total time limit of 1 s (time_limit) by the end of the HTML step" in meta["error"]["evalue"]
    assert (job.target / "report.html").read_bytes() == GOOD_HTML


def test_huge_cell_output_is_refused_before_export(tmp_path, monkeypatch):
    job = _job(tmp_path, "huge", max_output=2 * 1024 ** 2)
    _last_good(job.target)

    def fake_execute(notebook, **kw):  # a cell that printed 3 MB, another 1 kB
        nb = nbformat.read(notebook, as_version=4)
        nb.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text="行" * 1_000_000)]
        nb.cells[2].execution_count = 2
        nb.cells.append(nbformat.v4.new_code_cell("x", outputs=[nbformat.v4.new_output("stream", name="stdout", text="y" * 1000)]))
        nbformat.write(nb, notebook)
        return execute.Execution(True, 0.0, 0.0)

    def no_export(*a, **k):
        raise AssertionError("a notebook over the output limit must not be exported")

    monkeypatch.setattr(runner.execute, "execute", fake_execute)
    monkeypatch.setattr(runner.export, "to_html", no_export)
    meta = runner.run_job(job)
    assert meta["status"] == "failed" and meta["error"]["phase"] == "output_limit"
    evalue = meta["error"]["evalue"]
    assert "printed 3.0 MB of output" in evalue and "limit of 2.1 MB (max_output)" in evalue
    assert "biggest: cell 2 (In [2]) 3.0 MB, cell 5 0.0 MB" in evalue
    assert (job.target / "failed" / "report.ipynb").is_file()  # kept for whoever fixes it
    assert (job.target / "report.html").read_bytes() == GOOD_HTML
