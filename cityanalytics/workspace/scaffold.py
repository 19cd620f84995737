"""``cityanalytics init DIR``: a new, empty data workspace with commented templates.

    DIR/sources.yaml   the recipe (commented template: every option, with examples)
    DIR/units.csv      the districts table: header only (README.txt says the columns)
    DIR/targets.yaml   the plan targets, in the shape of the shipped registry (empty list)
    DIR/params/        run files for the four reports and schedule.yaml (`workspace: .`)
    DIR/exports/       raw exports go here
    DIR/outputs/       reports are written here
    DIR/README.txt     what each file is and the road from an export to a PDF

Refuses a folder that is not empty unless ``--force`` (which overwrites only these files).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cityanalytics import schemas

HELP = "Make a data workspace (recipe, units.csv, targets.yaml, run files) for your own exports."

SOURCES_YAML = """\
# 数据工作区配方 / the workspace's recipe: which raw export files feed which canonical table,
# and how. `cityanalytics build .` reads it and writes the canonical tables into tables/.
# Every option is described in docs/workspace.md; `cityanalytics map EXPORT --table cases
# --workspace .` drafts a table block from an export (check the draft before you paste it).
name: 我的城市                 # the data's name, shown on report title pages
source: 数字城管平台导出         # the data source line the reports print
synthetic: false               # true: every report says the data are synthetic
as_of: null                    # as-of moment for case figures (null: the end of the data)
tables:
  districts:
    files: [units.csv]         # the units (streets/towns, districts) the exports name
  # cases:
  #   files: [exports/案件*.csv, exports/案件*.xlsx]   # globs relative to this folder
  #   encoding: gbk                     # optional: the CSV's encoding (default: detected)
  #   sheet: 案件明细                    # optional: one sheet (name or 0-based index)
  #   aliases:                          # headers of your export -> canonical columns
  #     case_id: [工单号]
  #     reported_at: [上报时间]
  #   constants: {source: 监督员}        # a column with one value on every row
  #   derive:                           # columns computed from your columns (headers as in the file)
  #     unit_id: {column: 地址, pattern: '([^市区县]+?(?:街道|镇|乡))'}   # first capture group
  #     category: {column: 小类, lookup: {道路破损: 部件, 暴露垃圾: 事件}}  # or lookup_file: lookups/x.csv
  #     closed_at: {column: 办结时间, when: {column: 状态, in: [已办结, 已结案]}}
  #   date_formats: {reported_at: '%m/%d/%Y %I:%M:%S %p'}  # explicit strptime formats
  #   decimal: '.'                      # ',' for a decimal comma (3,5 -> 3.5)
  #   value_fixes: {旧名称: 新名称}       # text replacements before checking
  #   time_limits: {column: due_at}     # the export's deadline column, or:
  #   # time_limits: {hours_by_subcategory: {暴露垃圾: 2, 道路破损: 48}, default: 24, working_hours: true}
  # survey_responses:                   # 满意度测评 microdata: one row per respondent and question
  #   files: [exports/满意度*.xlsx]
  #   aliases: {respondent: [问卷编号], answer: [得分], weight: [设计权重], stratum: [抽样层]}
  # assets: {files: [exports/设施台账*.xlsx]}         # lamps, road segments, bridges (kind, road_class)
  # inspections: {files: [exports/巡查记录*.xlsx]}    # asset_id, inspected_at, ok (是/否: 亮灯/完好)
"""

UNITS_README = """\
units.csv: the districts table (one row per unit the exports name). Columns:
  unit_id        stable id you choose (e.g. S01); the reports show name_zh
  name_zh        the name as it appears in the exports (e.g. 鹭洲街道); unit names in
                 exports are resolved to unit_id through this column
  level          市, 区, 县, 街道, 镇, 乡 or 功能区
  parent_id      unit_id of the unit above (empty for the top)
  division_code  GB/T 2260 code (6 digits) or statistical code (9/12 digits), may be empty
  population, households, area_km2, valid_from, valid_to   optional
`cityanalytics map EXPORT --table cases --workspace .` proposes rows from the place names it finds.
"""

TARGETS_YAML = """\
# 规划目标 / your plans' numeric targets, in the shape of the shipped registry
# (cityanalytics/data/targets.yaml; `cityanalytics targets --file targets.yaml` lists them).
# One entry per target; every field is required except note:
#   target_id    short, stable snake_case id
#   plan         the plan's Chinese name
#   indicator    indicator id (e.g. case_ontime_disposal_rate, sorting_coverage_communities)
#   scope        where it applies (全区, 城区居民小区 ...)
#   value        the number; percentages as 0-100
#   unit         %, 个, g/m2 ...
#   comparison   ">=", "<=" or "="
#   deadline     ISO date
#   binding      约束性 / 预期性 / 未标明
#   source_file  the document the target comes from
#   quote        the sentence of the document that carries the number
# Example (remove the # to use it):
#  - target_id: my_ontime_disposal
#    plan: 某区“十四五”城市管理发展规划
#    indicator: case_ontime_disposal_rate
#    scope: 全区
#    value: 95
#    unit: "%"
#    comparison: ">="
#    deadline: 2025-12-31
#    binding: 预期性
#    source_file: 规划.pdf
#    quote: 案件按期处置率达到95%以上
targets: []
"""

RUN_FILES = {
    "data_quality.yaml": """\
# 数据质量报告: what was loaded from the workspace's built tables, before any analysis.
notebook: notebooks/data_quality.ipynb
title: 数据质量报告
workspace: .                # this workspace (relative paths are read against its folder)
parameters:
  tables: null              # null: every table the workspace has
""",
    "district_comparison.yaml": """\
# 城市管理月度考评通报(街镇比较): every unit of a level side by side.
notebook: notebooks/district_comparison.ipynb
title: 城市管理月度考评通报(街镇比较)
workspace: .
parameters:
  level: 街道                        # 街道 (streets, towns, zones) or 区 (districts)
  indicators:
    - case_ontime_disposal_rate
    - case_closure_rate
    - case_rework_rate
  weights_preset: gbt30428_unit      # 按期处置率×60% + 结案率×30% + (1−返工率)×10%
  targets_path: targets.yaml         # your plan targets (this workspace's targets.yaml)
  target_plan: ""                    # a plan name in targets.yaml to compare with; "" for every target
  ci_level: 0.95
""",
    "sorting_forecast.yaml": """\
# 生活垃圾分类覆盖率预测: which units will reach a sorting-coverage target by its deadline.
# Needs a communities table (or observations of sorting coverage) in the recipe.
notebook: notebooks/sorting_forecast.ipynb
title: 生活垃圾分类覆盖率预测
workspace: .
parameters:
  table: communities
  target_id: ""                  # a target_id of the shipped registry; "" to use the two values below
  target_value: 98.0             # percent
  target_deadline: "2025-12-31"
  units: []                      # [] = every unit, and the city
""",
    "campaign_impact.yaml": """\
# 专项行动成效评估: the effect of a campaign (ITS, DiD, robustness checks).
# Needs a campaigns table and cases (or observations) in the recipe; set campaign_id.
notebook: notebooks/campaign_impact.ipynb
title: 专项行动成效评估
workspace: .
timeout: 900
parameters:
  campaign_id: ""              # the campaign's id in the campaigns table
  freq: M                      # D, W, M, Q (quarters) or Y (years); observations written 2024Q1 / 2024 run by quarter / year
""",
}

SCHEDULE_YAML = """\
# The scheduled reports on this workspace: `cityanalytics reports --workspace .` runs every entry
# (outputs in outputs/). Build the tables first: `cityanalytics build .`.
defaults:
  timeout: 600
runs:
  - run: data_quality            # every batch starts from the data-quality report
    every: monthly
  - run: district_comparison
    every: monthly
  - run: sorting_forecast
    every: monthly
  # The campaign-impact report needs a campaign: set campaign_id in campaign_impact.yaml
  # (or phases and treated_units), then remove the # of the three lines below.
  # - run: campaign_impact
  #   every: monthly
  #   timeout: 900
"""

README = """\
A cityanalytics data workspace (made by `cityanalytics init`).

sources.yaml   the recipe: which export files feed which canonical table, and how
units.csv      the districts table (see units_README.txt for its columns)
targets.yaml   your plans' numeric targets
params/        run files for the reports and schedule.yaml
exports/       put the raw exports here
tables/        canonical tables, load report and build.json, written by `cityanalytics build .`
outputs/       reports, written by `cityanalytics reports --workspace .`

The road: copy an export into exports/ -> `cityanalytics map exports/FILE --table cases
--workspace .` -> paste and edit the draft in sources.yaml, fill units.csv -> `cityanalytics
build .` -> `cityanalytics reports --workspace .`
"""


def units_header() -> str:
    return ",".join(schemas.table("districts").names) + "\n"


def files() -> dict[str, str]:
    """Every file ``init`` writes, by path relative to the workspace."""
    out = {
        "sources.yaml": SOURCES_YAML,
        "units.csv": units_header(),
        "units_README.txt": UNITS_README,
        "targets.yaml": TARGETS_YAML,
        "README.txt": README,
        "params/schedule.yaml": SCHEDULE_YAML,
    }
    out.update({f"params/{name}": text for name, text in RUN_FILES.items()})
    return out


def init(root: str | Path, force: bool = False) -> list[Path]:
    """Write the workspace; ``FileExistsError`` for a non-empty folder unless ``force``."""
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise FileExistsError(f"{root}: exists and is not a folder")
    if root.is_dir() and any(root.iterdir()) and not force:
        raise FileExistsError(f"{root}: the folder is not empty; choose a new folder, or use --force to "
                              "write the workspace files into it (existing files of the same name are replaced)")
    written = []
    for folder in ("params", "exports", "tables", "outputs"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for rel, text in files().items():
        path = root / rel
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("workspace", type=Path, help="the folder to make (outside the project)")
    parser.add_argument("--force", action="store_true", help="write into a folder that is not empty")


def run(args: argparse.Namespace) -> int:
    try:
        written = init(args.workspace, force=args.force)
    except (FileExistsError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    root = args.workspace
    print(f"workspace made in {root} ({len(written)} files):")
    for path in written:
        print(f"  {path.relative_to(root).as_posix()}")
    print(f"next: copy an export into {root / 'exports'}, then\n"
          f"  cityanalytics map {root / 'exports'}/FILE --table cases --workspace {root}\n"
          f"  (paste the draft into {root / 'sources.yaml'}, fill units.csv)\n"
          f"  cityanalytics build {root}\n"
          f"  cityanalytics reports --workspace {root}")
    return 0
