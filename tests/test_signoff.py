"""Sign-off: a real report (tiny notebook through the runner, with its PDF) approved, re-run
(changed since approval), signed again, sent back, tampered with and deleted; --verify's exit
codes; append-only records that concurrent reviewers never interleave."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import nbformat
import pytest

from cityanalytics import cli
from cityanalytics.hashing import sha256
from cityanalytics.report import signoff

PERIOD = "2025-06"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("signoff")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 签发测试报告"),
                nbformat.v4.new_code_cell('label = "默认"', metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("import time\nprint('标签', label, time.time())")]  # differs per run
    nb.metadata["kernelspec"] = {"name": "cityanalytics", "display_name": "Python (cityanalytics)",
                                 "language": "python"}
    (root / "notebooks").mkdir()
    nbformat.write(nb, root / "notebooks" / "tiny.ipynb")
    (root / "params").mkdir()
    (root / "params" / "tiny.yaml").write_text("notebook: notebooks/tiny.ipynb\ntitle: 签发测试报告\n"
                                               "parameters:\n  label: 城关\n", encoding="utf-8")
    return root


def _run(project: Path) -> Path:
    out = project / "outputs"
    assert cli.main(["run", str(project / "params" / "tiny.yaml"), "--period", PERIOD, "--outputs", str(out),
                     "--no-progress"]) == 0
    report = out / PERIOD / "tiny"
    assert (report / "report.pdf").is_file()
    return report


def _verify(path: Path, capsys) -> tuple[int, str]:
    code = cli.main(["signoff", "--verify", str(path)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_sign_rerun_verify_reject(project, capsys):
    report = _run(project)
    period_dir = report.parent
    records = period_dir / signoff.RECORDS
    assert signoff.status(report) == signoff.PENDING == "待审"

    assert cli.main(["signoff", str(report), "--by", "张三", "--note", "数据已核对"]) == 0
    assert "审核通过: 2025-06/tiny by 张三" in capsys.readouterr().out
    assert signoff.status(report) == "已审"
    first = json.loads(records.read_text(encoding="utf-8"))
    assert first["report"] == "tiny" and first["decision"] == "approve" and first["by"] == "张三"
    assert first["pdf_sha256"] == sha256(report / "report.pdf")
    assert first["manifest_sha256"] == sha256(report / "manifest.json")
    assert first["title"] == "签发测试报告" and first["note"] == "数据已核对"
    assert _verify(project / "outputs", capsys)[0] == 0

    # Re-run after approval: new PDF and manifest, so changed since approval until signed again.
    _run(project)
    assert signoff.status(report) == signoff.CHANGED == "审后已变更"
    code, text = _verify(period_dir, capsys)
    assert code == 1 and "tiny" in text and "changed since approval" in text
    before = records.read_bytes()
    assert cli.main(["signoff", str(report), "--by", "李四"]) == 0
    assert records.read_bytes().startswith(before)  # appended, the earlier line untouched
    assert signoff.status(report) == "已审"
    assert _verify(period_dir, capsys)[0] == 0

    # Sent back: 退回; re-made after that, it awaits review again (待审).
    assert cli.main(["signoff", str(report), "--by", "王五", "--reject"]) == 2  # a rejection needs a note
    assert "--note" in capsys.readouterr().err
    assert cli.main(["signoff", str(report), "--by", "王五", "--reject", "--note", "图3口径不对"]) == 0
    assert signoff.status(report) == signoff.REJECTED == "退回"
    lines = records.read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["decision"] for x in lines] == ["approve", "approve", "reject"]
    assert json.loads(lines[-1])["decision_zh"] == "退回"
    manifest = (report / "manifest.json").read_bytes()
    (report / "manifest.json").write_bytes(manifest.replace(b'"status"', b'"status" ', 1))
    assert signoff.status(report) == "待审"
    (report / "manifest.json").write_bytes(manifest)

    # Approved, then the PDF is edited: --verify exits 1 naming the report; then deleted.
    assert cli.main(["signoff", str(report), "--by", "张三"]) == 0
    pdf = report / "report.pdf"
    original = pdf.read_bytes()
    pdf.write_bytes(original + b"%tampered\n")
    code, text = _verify(project / "outputs", capsys)
    assert code == 1 and f"{period_dir / 'tiny'}: report.pdf was modified after sign-off" in text
    assert signoff.status(report) == "审后已变更"
    pdf.unlink()
    code, text = _verify(period_dir, capsys)
    assert code == 1 and "tiny: report.pdf missing" in text
    assert signoff.status(report) == "审后已变更"
    with pytest.raises(signoff.SignoffError, match="report.pdf is missing"):
        signoff.sign(report, "张三")  # a report without its PDF cannot be approved
    pdf.write_bytes(original)
    assert signoff.status(report) == "已审" and _verify(period_dir, capsys)[0] == 0


def test_what_cannot_be_signed(tmp_path):
    with pytest.raises(signoff.SignoffError, match="not a report directory"):
        signoff.sign(tmp_path, "张三")
    failed = tmp_path / "outputs" / PERIOD / "dc" / "failed"
    failed.mkdir(parents=True)
    (failed / "manifest.json").write_text('{"status": "failed"}', encoding="utf-8")
    (failed / "report.pdf").write_bytes(b"%PDF")
    with pytest.raises(signoff.SignoffError, match="only a published report"):
        signoff.sign(failed, "张三")
    unit = tmp_path / "outputs" / PERIOD / "district_report" / "990101"
    unit.mkdir(parents=True)
    assert signoff.locate(unit) == ((tmp_path / "outputs" / PERIOD).resolve(), "district_report/990101")
    with pytest.raises(signoff.SignoffError, match="--by is empty"):
        signoff.sign(unit, " \t")
    (tmp_path / "outputs" / PERIOD / signoff.RECORDS).write_text('{"report": "x", "decision": "ok"}\n',
                                                                  encoding="utf-8")
    with pytest.raises(signoff.SignoffError, match="line 1"):
        signoff.records(tmp_path / "outputs" / PERIOD)


def _append_many(path: str, worker: int, count: int) -> None:
    for i in range(count):
        # ~9 KB per line: far more than one pipe buffer (4 KB), so only the lock keeps lines whole
        signoff.append(Path(path), {"report": f"r{worker}", "decision": "approve", "seq": i,
                                    "note": f"{worker}-{i}-" + "审" * 3000})


def test_concurrent_appends_do_not_interleave(tmp_path):
    path = tmp_path / signoff.RECORDS
    ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    workers = [ctx.Process(target=_append_many, args=(str(path), w, 40)) for w in range(6)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(60)
        assert p.exitcode == 0
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 6 * 40
    records = [json.loads(line) for line in lines]  # every line is one whole record
    for w in range(6):
        mine = [r["seq"] for r in records if r["report"] == f"r{w}"]
        assert mine == list(range(40))  # each worker's lines in its own order
    assert all(r["note"] == f"{r['report'][1:]}-{r['seq']}-" + "审" * 3000 for r in records)
    assert len(signoff.records(tmp_path)) == 240
