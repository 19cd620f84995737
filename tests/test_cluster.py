"""``cityanalytics reports --cluster``: the batch on a Dask cluster makes the same reports,
manifests and index as a local ``--jobs 1`` run, failures included.

A real multi-node cluster is simulated by ``distributed.LocalCluster`` with two worker
processes on this machine; the outputs go to a folder both see (as a shared folder would be)
and, in a second batch, to a ``file://`` URL through fsspec (upload from the workers' stage).
The fsspec upload and remote index are also checked on fsspec's in-memory file system.

What differs between two runs of the same report and is normalised before comparing:
- manifest.json: ``started_at``, ``ended_at``, ``produced_at`` (times) and ``timings``
  (durations); the manifest records no host or process id, so nothing else.
- report.html: the produced-at time on the title page (the manifest's ``produced_at``) and the
  ids of the cells the runner injects (parameters, font set-up: new random ids in every run;
  the notebook's own cell ids are compared).
- report.ipynb: papermill's and the cells' execution times and durations (metadata);
  sources and outputs are compared as they are.
- kernel.log: its presence only (kernel ports, pids, times).
- index.html: the time it was made and each row's times and durations.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import dask
import distributed  # the 'cluster' extra, part of the 'test' extra: CI runs this file
import fsspec
import nbformat
import pytest

from cityanalytics import cli

pytestmark = pytest.mark.slow  # two worker processes and a dozen small reports

PERIOD = "2025-06"
PARAMETERS = 'unit_id = None\nperiod = ""\ndata_dir = "data/city"\nfail = False\n'
CELLS = [
    "import pandas as pd\n"
    "cases = pd.read_csv(f'{data_dir}/cases.csv')\n"
    "mine = cases if unit_id is None else cases[cases.unit_id == unit_id]\n"
    "pd.DataFrame({'单元': [unit_id or '全市'], '案件数': [len(mine)]})",
    "import matplotlib.pyplot as plt\n"
    "fig, ax = plt.subplots(figsize=(3, 2))\n"
    "ax.bar(['鹭洲', '柳荫'], [int((cases.unit_id == 'u1').sum()), int((cases.unit_id == 'u2').sum())])\n"
    "ax.set_title('案件数量')\nplt.show()",
    "if fail:\n    raise ValueError('数据有误:字段缺失')\nprint('单元', unit_id, '报告期', period)",
]


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cluster-project")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 案件测试报告"),
                nbformat.v4.new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]}),
                *[nbformat.v4.new_code_cell(c) for c in CELLS]]
    nb.metadata["kernelspec"] = {"name": "cityanalytics", "display_name": "Python (cityanalytics)", "language": "python"}
    (root / "notebooks").mkdir()
    nbformat.write(nb, root / "notebooks" / "cases.ipynb")
    _write(root / "data" / "city" / "cases.csv", "case_id,unit_id\n1,u1\n2,u1\n3,u2\n")
    _write(root / "params" / "city.yaml", "notebook: notebooks/cases.ipynb\ntitle: 全市案件报告\n")
    _write(root / "params" / "units.yaml", "notebook: notebooks/cases.ipynb\ntitle: 单元案件报告\n"
           "for_each: unit_id\nunits: [u1, u2]\n")
    _write(root / "params" / "broken.yaml", "notebook: notebooks/cases.ipynb\nparameters:\n  fail: true\n")
    crash = nbformat.v4.new_notebook()
    crash.cells = [nbformat.v4.new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]}),
                   nbformat.v4.new_code_cell("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)  # the worker")]
    crash.metadata["kernelspec"] = nb.metadata["kernelspec"]
    nbformat.write(crash, root / "notebooks" / "crash.ipynb")
    _write(root / "params" / "crash.yaml", "notebook: notebooks/crash.ipynb\n")  # not in the schedule
    _write(root / "params" / "schedule.yaml", "runs:\n  - run: city\n  - run: units\n  - run: broken\n")
    return root


@pytest.fixture(scope="module")
def scheduler():
    # A report that kills its worker fails at once, not after the scheduler's three retries.
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0") as cluster:
        yield cluster.scheduler_address


def _reports(project: Path, outputs: str, *args: str) -> int:
    return cli.main(["reports", "--schedule", str(project / "params" / "schedule.yaml"), "--period", PERIOD,
                     "--no-progress", "--no-pdf", "--outputs", outputs, *args])


REPORTS = ("city", "units/u1", "units/u2", "broken/failed")
TIMES = ("started_at", "ended_at", "produced_at", "timings")
STAMP = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?([+-]\d{2}:?\d{2})?")


def _manifest(folder: Path) -> dict:
    meta = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    for key in TIMES:
        assert key in meta, key
        meta[key] = "<normalised>"
    return meta


def _html(folder: Path, own_ids: set[str]) -> str:
    produced = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["produced_at"]
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert produced in html
    html = html.replace(produced, "<produced_at>")
    return re.sub(r"cell-id=([0-9a-zA-Z_-]+)", lambda m: m[0] if m[1] in own_ids else "cell-id=<injected>", html)


def _cells(folder: Path) -> list:
    nb = nbformat.read(folder / "report.ipynb", as_version=4)
    return [(c.cell_type, c.source, c.get("outputs")) for c in nb.cells]


def _index(period_dir: Path) -> str:
    html = (period_dir / "index.html").read_text(encoding="utf-8")
    html = STAMP.sub("<time>", html)
    return re.sub(r"\d+(\.\d+)?\s*(s|秒)\b", "<seconds>", html)


def _same_outputs(local: Path, other: Path, project: Path) -> None:
    own_ids = {c.id for c in nbformat.read(project / "notebooks" / "cases.ipynb", as_version=4).cells}
    for rel in REPORTS:
        a, b = local / PERIOD / rel, other / PERIOD / rel
        assert sorted(p.name for p in a.iterdir()) == sorted(p.name for p in b.iterdir()), rel
        assert _manifest(a) == _manifest(b), rel
        assert _html(a, own_ids) == _html(b, own_ids), rel
        assert _cells(a) == _cells(b), rel
    assert _index(local / PERIOD) == _index(other / PERIOD)


@pytest.fixture(scope="module")
def local_run(project, tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "outputs"
    assert _reports(project, str(out), "--jobs", "1") == 1  # the broken run fails the batch
    return out


def test_cluster_batch_matches_a_local_run(project, scheduler, local_run, tmp_path, capsys):
    shared = tmp_path / "shared-outputs"
    assert _reports(project, str(shared), "--cluster", scheduler) == 1
    err = capsys.readouterr().err
    assert "FAILED broken [execute] in cell 6 (In [6]): ValueError: 数据有误:字段缺失" in err

    _same_outputs(local_run, shared, project)
    u1 = json.loads((shared / PERIOD / "units" / "u1" / "manifest.json").read_text(encoding="utf-8"))
    assert u1["status"] == "ok" and u1["parameters"]["unit_id"] == "u1"
    # The unit's table counts its own cases (2 of the 3 rows are u1's).
    table = next(o for c in nbformat.read(shared / PERIOD / "units" / "u1" / "report.ipynb", as_version=4).cells
                 for o in c.get("outputs", []) if "text/html" in o.get("data", {}))
    assert ">u1<" in table["data"]["text/html"] and ">2<" in table["data"]["text/html"]
    failed = json.loads((shared / PERIOD / "broken" / "failed" / "manifest.json").read_text(encoding="utf-8"))
    assert failed["status"] == "failed" and failed["error"]["cell_index"] == 6
    assert not (shared / PERIOD / "broken" / "report.html").exists()
    index = (shared / PERIOD / "index.html").read_text(encoding="utf-8")
    assert "ValueError: 数据有误:字段缺失" in index and 'href="broken/failed/report.ipynb"' in index
    assert 'href="units/u2/report.html"' in index


def test_cluster_batch_to_an_fsspec_url(project, scheduler, local_run, tmp_path):
    from cityanalytics.report import cluster

    remote = tmp_path / "bucket" / "outputs"
    try:
        assert _reports(project, remote.as_uri(), "--cluster", scheduler) == 1
    finally:
        shutil.rmtree(cluster.stage_dir(remote.as_uri()), ignore_errors=True)  # the workers' local stage
    _same_outputs(local_run, remote, project)
    assert not list(remote.rglob(".staging-*")) and not list(remote.rglob(".lock-*"))


def test_a_report_that_kills_its_worker_fails_alone(project, scheduler, tmp_path, capsys):
    out = tmp_path / "outputs"
    assert _reports(project, str(out), "--cluster", scheduler, "--only", "crash", "--only", "city") == 1
    assert "FAILED crash [worker]: KilledWorker" in capsys.readouterr().err
    failed = json.loads((out / PERIOD / "crash" / "failed" / "manifest.json").read_text(encoding="utf-8"))
    assert failed["status"] == "failed" and failed["error"]["phase"] == "worker"
    assert json.loads((out / PERIOD / "city" / "manifest.json").read_text(encoding="utf-8"))["status"] == "ok"
    index = (out / PERIOD / "index.html").read_text(encoding="utf-8")
    assert "KilledWorker" in index


def test_upload_replaces_a_report_and_indexes_from_memory(local_run, tmp_path):
    from cityanalytics.report import cluster

    url = "memory://cityanalytics-test/outputs"
    fs, root = fsspec.core.url_to_fs(url)
    # An older report of units/u1 with a file the new one does not have: replaced, file removed.
    fs.pipe(f"{root}/{PERIOD}/units/u1/stale.txt", b"old")
    fs.pipe(f"{root}/{PERIOD}/units/u1/report.html", b"old")
    for rel in REPORTS:
        cluster.upload_folder(local_run / PERIOD / rel, fs, f"{root}/{PERIOD}/{rel}")
    assert not fs.exists(f"{root}/{PERIOD}/units/u1/stale.txt")
    assert fs.cat(f"{root}/{PERIOD}/units/u1/report.html") == (local_run / PERIOD / "units/u1/report.html").read_bytes()

    assert cluster.write_remote_index(url, PERIOD, ["city", "units", "broken"], []) == f"{url}/{PERIOD}/index.html"
    mirror = tmp_path / PERIOD
    mirror.mkdir()
    (mirror / "index.html").write_bytes(fs.cat(f"{root}/{PERIOD}/index.html"))
    assert _index(mirror) == _index(local_run / PERIOD)
    fs.rm(root, recursive=True)


def test_earlier_results_are_fetched_from_the_url(tmp_path):
    """With outputs at a URL, a report still finds its earlier periods' results (与上期比较)."""
    from cityanalytics.report import cluster, history
    from cityanalytics.report.runner import Job

    url = "memory://cityanalytics-test/history"
    fs, root = fsspec.core.url_to_fs(url)
    fs.pipe(f"{root}/2025-05/units/u1/results/results.json", b'{"tables": {}}')
    fs.pipe(f"{root}/2025-05/units/u1/results/league.parquet", b"PAR1")
    fs.pipe(f"{root}/2025-05/units/u2/results/results.json", b"{}")  # another unit: not fetched
    stage = cluster.stage_dir(url)
    shutil.rmtree(stage, ignore_errors=True)
    job = Job(run="units", unit="u1", unit_name=None, period=PERIOD, target=stage / PERIOD / "units" / "u1",
              root=tmp_path, run_file="params/units.yaml", notebook=tmp_path / "cases.ipynb", title="t")
    try:
        cluster.fetch_earlier_results(job, url)
        found = history.earlier_dirs(stage, "units", "u1", PERIOD)
        assert [(str(p), d) for p, d in found] == [("2025-05", stage / "2025-05" / "units" / "u1")]
        assert (stage / "2025-05/units/u1/results/league.parquet").read_bytes() == b"PAR1"
        assert not (stage / "2025-05" / "units" / "u2").exists()
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        fs.rm(root, recursive=True)


def test_outputs_url_without_cluster_is_refused(project, capsys):
    assert _reports(project, "memory://nowhere/outputs") == 2
    assert "--cluster" in capsys.readouterr().err


def test_unreachable_scheduler_is_a_clear_error(project, tmp_path, capsys, monkeypatch):
    from cityanalytics.report import cluster

    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", 2)
    assert _reports(project, str(tmp_path / "out"), "--cluster", "tcp://127.0.0.1:9") == 2
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err
    assert not (tmp_path / "out" / PERIOD / "city").exists()


def test_missing_extra_names_it(project, tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "distributed", None)  # as if dask/distributed were not installed
    assert _reports(project, str(tmp_path / "out"), "--cluster", "tcp://127.0.0.1:8786") == 2
    assert "pip install 'cityanalytics[cluster]'" in capsys.readouterr().err
