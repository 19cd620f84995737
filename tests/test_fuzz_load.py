"""Fuzz the loaders: seeded malformed CSV and xlsx files thrown at ``cityanalytics.io.load``.

The loop runs in one child process with a per-input alarm. Its memory is bounded twice: peak
RSS must stay under 1.5 GiB, and once the libraries are loaded and warmed up (pandas, pyarrow
and openpyxl reserve over 1 GiB of address space they never touch) the address space may grow
by at most 1 GiB more (RLIMIT_AS), so a runaway grid dies as a MemoryError instead of eating
the machine. It asserts for every input:

- no exception other than LoadError escapes (a crash), and no input takes over HANG_SECONDS;
- when a file loads, rows read = kept + rejected, the frame holds the kept rows, and every
  rejection names its row and reason;
- ``cityanalytics validate`` (run in-process) exits 2 exactly when load raises LoadError,
  0 when every row is kept and 1 when some are rejected;
- no silent loss: for inputs whose line structure the generator knows, every physical line
  after the header is a row read, or lies inside a row rejected for swallowing lines.

It prints one tally line, e.g. ``fuzz: inputs 1200, clear errors 300, loaded 900 ...``.
The generator is seeded: a failure names its seed and input, which reproduce it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import re
import resource
import signal
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import pytest

SEED = 20261129
N_CSV = 700
N_XLSX = 500
HANG_SECONDS = 20
MEMORY_LIMIT = 1536 << 20  # peak RSS of the whole loop
ADDRESS_HEADROOM = 1 << 30  # address space beyond the warmed-up process
VALIDATE_EVERY = 3  # the CLI is run on every third input (it loads the file again)

HEADERS = ["案件编号", "所属街道", "案件类型", "上报时间", "结案时间", "问题描述"]
UNITS = ["城东街道", "城西街道", "凤凰街道", "京泰路街道"]
CATEGORIES = ["事件", "部件", "其它", ""]
DATES = ["2022-08-01 09:00", "2022/8/2 10:30", "2022年8月3日", "44775.5", "20220804",
         "1954-10-04", "20000", "下周一", "", "2022-02-30", "1e20", "0"]
# Dates outside pandas' nanosecond range: each rejects its row ("date out of range 1900..2100",
# issue 12 item 4); test_fuzz_far_dates throws them at the loader.
FAR_DATES = ["9999-12-31", "0001-01-01", "2262-04-12"]
TEXTS = ["垃圾未清运", "占道经营，影响通行", "井盖破损", "null", "-", "=HYPERLINK(\"x\")", "①号楼 ２０㎡", "",
         "<script>alert(1)</script>", "a\tb", "非常" * 20]
REPAIR_NOTES = ("CR only", "without a byte-order mark", "merged cell range", "title row", "(two rows)",
                "numbers of more than 15 digits", "header only", "hidden in the workbook")


# ---- CSV inputs ----


def _csv_input(rng: random.Random, i: int, dates: list[str] = DATES) -> tuple[bytes, str, int | None]:
    """(bytes, suffix, expected data lines or None when the mutations hide the line structure)."""
    titles = [f"示范市案件明细{i}"] * rng.choice([0, 0, 0, 1, 2])
    rows = []
    for j in range(rng.randint(0, 12)):
        rows.append([f"FZ{i:04d}-{j:02d}", rng.choice(UNITS), rng.choice(CATEGORIES), rng.choice(dates),
                     rng.choice(dates), rng.choice(TEXTS)])
    delimiter = rng.choice([",", ",", ",", "\t", ";"])
    lines_known = True
    for _ in range(rng.randint(0, 3)):
        mutation = rng.randrange(10)
        filled = [r for r in rows if r]
        if mutation == 0 and filled:  # an unclosed quote at the start of a field
            r = rng.choice(filled)
            k = rng.randrange(len(r))
            r[k] = '"' + r[k]
        elif mutation == 1 and filled:  # a quote inside a field
            r = rng.choice(filled)
            k = rng.randrange(len(r))
            r[k] = r[k][:1] + '"' + r[k][1:]
        elif mutation == 2 and filled:  # an extra or a missing field
            r = rng.choice(filled)
            r.append("多余") if rng.random() < 0.5 else r.pop()
        elif mutation == 3:  # a blank line
            rows.insert(rng.randint(0, len(rows)), [])
        elif mutation == 4 and rows:  # a summary row
            rows.append(["合计", f"{len(rows)}件", "", "", "", ""])
        elif mutation == 5 and filled and rng.random() < 0.3:  # an oversized field
            rng.choice(filled)[-1] = "x" * rng.choice([131_073, 200_000])
        elif mutation == 6:  # a duplicated id
            if filled:
                rows.append(list(rng.choice(filled)))
        elif mutation == 7:
            lines_known = False  # bytes are changed below
        elif mutation == 8 and rows:  # the header renamed
            lines_known = False
        elif mutation == 9 and filled and rng.random() < 0.3:  # a runaway separator
            rng.choice(filled).extend([""] * rng.choice([900, 1_500, 30_000]))
    header = list(HEADERS)
    if not lines_known and rng.random() < 0.3:
        header[rng.randrange(len(header))] = rng.choice(["编号", "时间", "", "案件编号"])
    lines = titles + [delimiter.join(header)] + [delimiter.join(r) for r in rows]
    newline = rng.choice(["\n", "\n", "\r\n", "\r"])
    ends = rng.random() < 0.9 or not lines[-1]  # a last blank line needs its line end to exist
    text = newline.join(lines) + (newline if ends else "")
    encoding = rng.choice(["utf-8", "utf-8", "utf-8-sig", "gbk", "gb18030", "utf-16", "utf-16-le", "utf-16-be"])
    data = text.encode(encoding, errors="replace")
    if not lines_known:
        data = _mutate_bytes(rng, data)
    suffix = rng.choice([".csv"] * 6 + [".txt"] * 3 + [".tsv"])
    if suffix == ".tsv" and delimiter != "\t":
        lines_known = False
    expected = sum(1 for r in rows if r) if lines_known else None  # records written (blank lines are not)
    return data, suffix, expected


def _mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(5)
        if op == 0 and data:  # truncate, possibly inside a character
            del data[rng.randrange(len(data)):]
        elif op == 1:  # random bytes
            at = rng.randint(0, len(data))
            data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 40)))
        elif op == 2 and data:  # NUL bytes
            data[rng.randrange(len(data))] = 0
        elif op == 3 and data:  # delete a slice
            a = rng.randrange(len(data))
            del data[a:a + rng.randint(1, 30)]
        elif op == 4:  # pure garbage
            data = bytearray(bytes(rng.randrange(256) for _ in range(rng.randint(0, 600))))
    return bytes(data)


# ---- xlsx inputs (written as raw XML so that every part can be broken) ----

NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
STYLES = (f'<styleSheet {NS}><numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd h:mm"/></numFmts>'
          '<fonts count="1"><font><sz val="11"/></font></fonts><fills count="1"><fill><patternFill patternType="none"/></fill></fills>'
          '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
          '<cellStyleXfs count="1"><xf/></cellStyleXfs><cellXfs count="2"><xf numFmtId="0"/>'
          '<xf numFmtId="164" applyNumberFormat="1"/></cellXfs></styleSheet>')


def _col(n: int) -> str:
    out = ""
    while n:
        n, r = divmod(n - 1, 26)
        out = chr(65 + r) + out
    return out


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


PKG = "http://schemas.openxmlformats.org/package/2006"
OOXML = "application/vnd.openxmlformats-officedocument.spreadsheetml"


def _package_parts(states: list[str], sst: str) -> dict[str, str]:
    """Content types, relationships, workbook, styles and shared strings of a workbook with these sheets."""
    n = range(1, len(states) + 1)
    types = (['<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>',
              '<Default Extension="xml" ContentType="application/xml"/>',
              f'<Override PartName="/xl/workbook.xml" ContentType="{OOXML}.sheet.main+xml"/>']
             + [f'<Override PartName="/xl/worksheets/sheet{k}.xml" ContentType="{OOXML}.worksheet+xml"/>' for k in n]
             + [f'<Override PartName="/xl/sharedStrings.xml" ContentType="{OOXML}.sharedStrings+xml"/>',
                f'<Override PartName="/xl/styles.xml" ContentType="{OOXML}.styles+xml"/>'])
    sheets = [f'<sheet name="{"案件" if k == 1 else f"表{k - 1}"}" sheetId="{k}" state="{st}" r:id="rId{k}"/>'
              for k, st in zip(n, states)]
    rels = ([f'<Relationship Id="rId{k}" Type="{REL_NS}/worksheet" Target="worksheets/sheet{k}.xml"/>' for k in n]
            + [f'<Relationship Id="rId90" Type="{REL_NS}/sharedStrings" Target="sharedStrings.xml"/>',
               f'<Relationship Id="rId91" Type="{REL_NS}/styles" Target="styles.xml"/>'])
    return {
        "[Content_Types].xml": f'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="{PKG}/content-types">'
                               + "".join(types) + "</Types>",
        "_rels/.rels": f'<Relationships xmlns="{PKG}/relationships"><Relationship Id="rId1" '
                       f'Type="{REL_NS}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<workbook {NS} xmlns:r="{REL_NS}"><sheets>' + "".join(sheets) + "</sheets></workbook>",
        "xl/_rels/workbook.xml.rels": f'<Relationships xmlns="{PKG}/relationships">' + "".join(rels)
                                      + "</Relationships>",
        "xl/styles.xml": STYLES,
        "xl/sharedStrings.xml": sst,
    }


def _xlsx_input(rng: random.Random, i: int) -> tuple[bytes, int | None]:
    """(bytes, expected data rows of the one visible sheet, or None when that is not known)."""
    strings: list[str] = []
    structure_known = True
    sheets = []
    n_sheets = rng.choice([1, 1, 1, 2])
    expected = None
    for s in range(n_sheets):
        rows_xml = []
        title_rows = rng.choice([0, 0, 1])
        row_no = 0
        grid = [[f"示范市{i}"]] * title_rows + [list(HEADERS)]
        n_data = rng.randint(0, 10)
        for j in range(n_data):
            grid.append([f"FZ{i:04d}-{s}-{j:02d}", rng.choice(UNITS), rng.choice(CATEGORIES), rng.choice(DATES),
                         rng.choice(DATES), rng.choice(TEXTS)])
        for r, values in enumerate(grid, start=1):
            cells = []
            for c, v in enumerate(values, start=1):
                ref = f"{_col(c)}{r}"
                kind = rng.randrange(10) if r > title_rows + 1 else 0
                if v == "" and kind < 8:
                    continue
                if kind in (0, 1, 2, 3):
                    strings.append(v)
                    cells.append(f'<c r="{ref}" t="s"><v>{len(strings) - 1}</v></c>')
                elif kind in (4, 5):
                    cells.append(f'<c r="{ref}" t="inlineStr"><is><t>{_esc(v)}</t></is></c>')
                elif kind == 6:  # a number, maybe a date-styled serial or a long id
                    number = rng.choice(["44774.375", "320123456789012345", "3.2012345678901197E+17", "1001",
                                         "-5", "1e308", "2958466"])
                    if rng.random() < 0.03:
                        number = "abc"  # not a number: Excel itself refuses the file, so do we
                    style = ' s="1"' if rng.random() < 0.5 else ""
                    cells.append(f'<c r="{ref}"{style}><v>{number}</v></c>')
                elif kind == 7:  # a formula, with or without a cached value
                    cached = f"<v>{rng.choice(['1', '0'])}</v>" if rng.random() < 0.5 else ""
                    cells.append(f'<c r="{ref}"><f>IF(A{r}="","",1)</f>{cached}</c>')
                elif kind == 8:
                    flag = rng.choice(["1", "0"]) if rng.random() > 0.03 else "x"
                    cells.append(f'<c r="{ref}" t="b"><v>{flag}</v></c>')
                else:
                    cells.append(f'<c r="{ref}" t="e"><v>#N/A</v></c>')
            rows_xml.append(f'<row r="{r}">{"".join(cells)}</row>')
            row_no = r
        merges = []
        for _ in range(rng.choice([0, 0, 1, 3])):
            a, b = rng.randint(1, row_no + 2), rng.randint(1, 8)
            merges.append(f"{_col(b)}{a}:{_col(b + rng.randint(0, 2))}{a + rng.randint(0, 3)}")
        dimension = f"A1:{_col(6)}{row_no}"
        mutation = rng.randrange(14)
        if mutation == 0:  # a stray cell far away
            far_row, far_col = rng.choice([(1048576, 16384), (1048576, 1), (row_no + 5, 2000), (200_000, 3)])
            rows_xml.append(f'<row r="{far_row}"><c r="{_col(far_col)}{far_row}" t="inlineStr"><is><t>x</t></is></c></row>')
            structure_known = False
        elif mutation == 1:  # the declared dimension lies
            dimension = "A1:XFD1048576"
        elif mutation == 2 and len(rows_xml) > 2:  # rows out of order
            rows_xml[1], rows_xml[2] = rows_xml[2], rows_xml[1]
            structure_known = False
        elif mutation == 3:  # a shared-string index that does not exist
            rows_xml.append(f'<row r="{row_no + 1}"><c r="A{row_no + 1}" t="s"><v>99999</v></c></row>')
            structure_known = False
        elif mutation == 4:  # merged ranges that are nonsense
            merges += ["A1:XFD1048576", "ZZZZ0:A1", "B2"]
            structure_known = False
        elif mutation == 5:  # rows without r attributes
            rows_xml = [re.sub(r' r="[A-Z]*\d+"', "", x) for x in rows_xml]
            structure_known = False
        merge_xml = (f'<mergeCells count="{len(merges)}">' + "".join(f'<mergeCell ref="{m}"/>' for m in merges)
                     + "</mergeCells>") if merges else ""
        if merges:
            structure_known = False  # a merged range may fill a blank row or a header
        xml = (f'<?xml version="1.0" encoding="UTF-8"?><worksheet {NS}><dimension ref="{dimension}"/>'
               f'<sheetData>{"".join(rows_xml)}</sheetData>{merge_xml}</worksheet>')
        state = rng.choice(["visible"] * 6 + ["hidden", "veryHidden"]) if s else "visible"
        sheets.append((xml, state))
        if s == 0:
            expected = n_data
    sst = (f'<sst {NS} count="{len(strings)}" uniqueCount="{len(strings)}">'
           + "".join(f"<si><t>{_esc(x)}</t></si>" for x in strings) + "</sst>")
    parts = _package_parts([state for _, state in sheets], sst)
    for k, (xml, _) in enumerate(sheets):
        parts[f"xl/worksheets/sheet{k + 1}.xml"] = xml
    damage = rng.randrange(12)
    if damage == 0:  # truncated sheet XML
        x = parts["xl/worksheets/sheet1.xml"]
        parts["xl/worksheets/sheet1.xml"] = x[: rng.randrange(len(x))]
    elif damage == 1:  # a missing part
        del parts[rng.choice(["xl/sharedStrings.xml", "xl/workbook.xml", "xl/worksheets/sheet1.xml", "xl/styles.xml"])]
    elif damage == 2:  # a zip bomb member
        parts["xl/worksheets/sheet1.xml"] = parts["xl/worksheets/sheet1.xml"].replace(
            "<sheetData>", "<sheetData>" + " " * (9 << 20))
    elif damage == 3:  # an entity-expansion attempt
        parts["xl/sharedStrings.xml"] = ('<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
                                         '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">'
                                         '<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">]>'
                                         + parts["xl/sharedStrings.xml"].replace("<t>", "<t>&e;", 1))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(2022, 9, 1, 8, 0, 0)), content.encode("utf-8"),
                             compress_type=zipfile.ZIP_DEFLATED)
    data = buffer.getvalue()
    if damage == 4:  # flipped bytes anywhere in the archive
        data = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        data = bytes(data)
    if damage or not structure_known:
        expected = None
    return data, expected


# ---- the loop (runs in the child process) ----


class Hang(Exception):
    pass


def _on_alarm(signum, frame):
    raise Hang()


def _records_accounted(report) -> int:
    """Rows read that are records (not blank lines), plus records a rejected row is said to have swallowed."""
    reasons = report.rejections["reason"].astype(str)
    blank = int(report.rejections.loc[reasons == "blank row", "row"].nunique())
    swallowed = sum(int(m.group(1)) for m in reasons.str.extract(r"holds (\d+) line\(s\) that look like records",
                                                                   expand=False).dropna().map(lambda x: re.match(r"(\d+)", x)))
    return report.rows_read - blank + swallowed


def run_fuzz(workdir: Path, seed: int = SEED, n_csv: int = N_CSV, n_xlsx: int = N_XLSX,
             dates: list[str] = DATES) -> dict:
    from cityanalytics.cli import main
    from cityanalytics.io import LoadError, load

    warnings.simplefilter("ignore")  # openpyxl warns about the damage it meets; the outcome is what counts
    signal.signal(signal.SIGALRM, _on_alarm)
    rng = random.Random(seed)
    tally = {"inputs": 0, "clear_errors": 0, "loaded": 0, "rows_read": 0, "kept": 0, "rejected": 0,
             "repairs": 0, "silent_losses": 0, "crashes": 0, "hangs": 0, "exit_code_mismatches": 0,
             "validated": 0, "csv_inputs": 0, "xlsx_inputs": 0, "csv_errors": 0, "xlsx_errors": 0, "failures": []}
    for i in range(n_csv + n_xlsx):
        if i < n_csv:
            data, suffix, expected = _csv_input(rng, i, dates)
        else:
            data, expected = _xlsx_input(rng, i)
            suffix = ".xlsx"
        path = workdir / f"fuzz_{i:04d}{suffix}"
        path.write_bytes(data)
        tally["inputs"] += 1
        kind = "xlsx" if suffix == ".xlsx" else "csv"
        tally[f"{kind}_inputs"] += 1
        outcome, error = None, None
        signal.alarm(HANG_SECONDS)
        try:
            try:
                result = load(path, "cases")
                outcome = "ok" if result.report.ok else "rejected"
            except LoadError as exc:
                outcome, error = "error", exc
            if i % VALIDATE_EVERY == 0:
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
                    code = main(["validate", str(path), "--table", "cases"])
                tally["validated"] += 1
                wanted = {"ok": 0, "rejected": 1, "error": 2}[outcome]
                if code != wanted:
                    tally["exit_code_mismatches"] += 1
                    tally["failures"].append(f"input {i}: validate exit {code}, load says {outcome}: {err.getvalue()[-300:]}")
        except Hang:
            tally["hangs"] += 1
            tally["failures"].append(f"input {i}: no answer within {HANG_SECONDS} s")
            continue
        except Exception as exc:  # anything but LoadError is a crash
            tally["crashes"] += 1
            tally["failures"].append(f"input {i} ({path.name}): {type(exc).__name__}: {str(exc)[:300]}")
            continue
        finally:
            signal.alarm(0)
        if outcome == "error":
            tally["clear_errors"] += 1
            tally[f"{kind}_errors"] += 1
            if path.name not in str(error):
                tally["failures"].append(f"input {i}: the error does not name the file: {error}")
            path.unlink()
            continue
        report = result.report
        tally["loaded"] += 1
        tally["rows_read"] += report.rows_read
        tally["kept"] += report.rows_kept
        tally["rejected"] += report.rows_rejected
        tally["repairs"] += sum(any(k in n for k in REPAIR_NOTES) for n in report.notes)
        if not (report.rows_read == report.rows_kept + report.rows_rejected == len(result.frame) + report.rows_rejected):
            tally["failures"].append(f"input {i}: rows read {report.rows_read} != kept + rejected")
        if report.rejections[["row", "reason"]].isna().any().any():
            tally["failures"].append(f"input {i}: a rejection without its row or reason")
        if expected is not None and _records_accounted(report) != expected:
            tally["silent_losses"] += 1
            tally["failures"].append(f"input {i} ({path.name}): {expected} data lines written, "
                                     f"{report.rows_read} rows read:\n{report.summary()}")
            continue
        path.unlink()
    tally["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return tally


def _vm_peak() -> int:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmPeak:\s+(\d+) kB", status).group(1)) << 10


def child_main(workdir: str) -> None:
    from cityanalytics.io import load

    corpus = Path(__file__).parent / "corpus"
    load(corpus / "cases_utf8.csv", "cases")  # warm up: thread pools and arenas are reserved now
    load(corpus / "cases_header_row3.xlsx", "cases")
    limit = _vm_peak() + ADDRESS_HEADROOM
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    tally = run_fuzz(Path(workdir))
    tally["address_limit_mb"] = limit >> 20
    print("FUZZ-TALLY " + json.dumps(tally, ensure_ascii=False))


def test_fuzz_load(tmp_path):
    code = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import test_fuzz_load; test_fuzz_load.child_main({str(tmp_path)!r})"
    env = {**os.environ, "MALLOC_ARENA_MAX": "2", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                         cwd=Path(__file__).resolve().parents[1], env=env)
    assert out.returncode == 0, f"the fuzz loop died (memory limit or crash):\n{out.stderr[-3000:]}"
    line = next(x for x in out.stdout.splitlines() if x.startswith("FUZZ-TALLY "))
    tally = json.loads(line[len("FUZZ-TALLY "):])
    print(f"\nfuzz: inputs {tally['inputs']} (seed {SEED}; {tally['csv_inputs']} CSV, {tally['xlsx_inputs']} xlsx), "
          f"clear errors {tally['clear_errors']} (CSV {tally['csv_errors']}, xlsx {tally['xlsx_errors']}), "
          f"loaded {tally['loaded']} (rows read {tally['rows_read']}, kept {tally['kept']}, "
          f"rejected {tally['rejected']}), repairs noted {tally['repairs']}, silent losses {tally['silent_losses']}, "
          f"crashes {tally['crashes']}, hangs {tally['hangs']}, validate runs {tally['validated']} "
          f"(exit-code mismatches {tally['exit_code_mismatches']}), peak memory {tally['peak_rss_mb']} MB RSS "
          f"(address space capped at {tally['address_limit_mb']} MB)")
    assert tally["inputs"] >= 1000
    assert tally["failures"] == [], "\n\n".join(tally["failures"][:10])
    assert tally["crashes"] == tally["hangs"] == tally["silent_losses"] == tally["exit_code_mismatches"] == 0
    assert tally["clear_errors"] > 100 and tally["loaded"] > 300  # both sides of the generator are exercised
    assert tally["peak_rss_mb"] < MEMORY_LIMIT >> 20


def test_fuzz_far_dates(tmp_path):
    tally = run_fuzz(tmp_path, seed=SEED + 1, n_csv=60, n_xlsx=0, dates=DATES + FAR_DATES)
    assert tally["crashes"] == 0, tally["failures"][:3]
