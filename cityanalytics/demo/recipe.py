"""The demo workspace's recipe (sources.yaml), units.csv, targets and run files.

The recipe is written as text so that it reads like one a user wrote: comments say why each
option is there. ``RECIPE_TABLES`` holds the same options as data for the tests.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pandas as pd
import yaml

from .assets import ASSET_FILE, INSPECTION_FILE
from .cases import SUB_NAMES
from .surveys import SURVEY_FILE
from .exports import CATEGORY_OF_SUBCATEGORY, DUST_ADDRESS_PATTERN, ENCODING, EXPORTS, OBSERVATIONS_FILE
from .plan_observations import PLAN_OBSERVATIONS_FILE
from .truth import LABEL_ZH
from .units import CITY_NAME

SOURCE_LINE = f"{CITY_NAME}数字城管、以克论净、垃圾分类、考核等业务系统导出({LABEL_ZH},由 cityanalytics demo 生成)"

RECIPE = f"""\
# 数据工作区的配方(recipe):哪些原始导出文件生成哪张规范表,以及如何映射。
# {CITY_NAME}是虚构城市,所有导出文件都是 cityanalytics demo 生成的合成演示数据。
# `cityanalytics build .` reads this file and writes the canonical tables into tables/.
name: {CITY_NAME}
source: {SOURCE_LINE}
synthetic: true            # every report says the data are synthetic
as_of: null                # case figures as of the end of the data
tables:
  districts:
    files: [units.csv]
  unit_changes:
    files: [{EXPORTS}/区划调整记录.csv]
    encoding: {ENCODING}
  cases:
    # one file per month; a new month dropped into the folder is picked up. The platform's
    # Excel download replaced the CSV from 2025-06 on, with the same columns.
    files: [{EXPORTS}/案件明细/案件明细_*.csv, {EXPORTS}/案件明细/案件明细_*.xlsx]
    encoding: {ENCODING}
    # 所属街道 holds unit names: they are resolved to unit_id through units.csv.
    # The export has no 部件/事件 column (大类 is 市容环境, 公用设施 ..., not 部件/事件):
    # it comes from the subcategory.
    derive:
      category:
        column: 小类
        lookup: {{{", ".join(f"{k}: {v}" for k, v in CATEGORY_OF_SUBCATEGORY.items())}}}
    time_limits: {{column: due_at}}   # the export's own deadline column (处置时限)
  dust_samples:
    files: [{EXPORTS}/以克论净/以克论净检测结果_*.xlsx]
    # no unit column: the street or town is inside the address 点位地址
    # (示范市澄湖区鹭洲街道鹭洲大道 -> 鹭洲街道; 示范市示范经济技术开发区开元大道 -> the zone)
    derive:
      unit_id: {{column: 点位地址, pattern: '{DUST_ADDRESS_PATTERN}'}}
  communities:
    files: [{EXPORTS}/垃圾分类小区台账.xlsx]   # one sheet per district; every sheet is read
  assessments:
    files: [{EXPORTS}/街镇月度考核结果.csv]
    encoding: {ENCODING}
    aliases: {{unit_id: [被考核单位]}}
  campaigns:
    files: [{EXPORTS}/专项行动安排.xlsx]
    aliases: {{unit_id: [实施街道]}}   # the city-wide campaign names the city itself
  observations:
    # the province's monthly bulletin, every city (the donors of the city-wide campaign's
    # synthetic control), and the city's own figures against its plans' targets (规划指标进展统计:
    # yearly, monthly or quarterly, by indicator id, or by target id where one indicator carries
    # two targets). Both name the indicator, unit and source in their own columns.
    files: [{EXPORTS}/{OBSERVATIONS_FILE}, {EXPORTS}/{PLAN_OBSERVATIONS_FILE}]
    encoding: {ENCODING}
    aliases: {{unit_id: [行政区划代码], unit_name: [城市, 单位名称], period: [统计月份, 统计期],
              value: ["万人诉求量(件/万人)", 数值], numerator: ["诉求量(件)"], denominator: ["常住人口(万人)"],
              indicator: [指标编号], unit: [计量单位], source: [数据来源]}}
  assets:
    # the facilities register: street lamps, road segments and bridges, by road class
    files: [{EXPORTS}/{ASSET_FILE}]
    encoding: {ENCODING}
    aliases: {{unit_id: [所属街道]}}
  inspections:
    # night checks of the lamps (是 = lit), checks of the segments and bridges (是 = intact)
    files: [{EXPORTS}/{INSPECTION_FILE}]
    encoding: {ENCODING}
  survey_responses:
    # the third-party 市民满意度 survey: one row per respondent and question, with its design
    # weight, stratum (the unit) and PSU (the community)
    files: [{EXPORTS}/{SURVEY_FILE}]
    encoding: {ENCODING}
    aliases: {{unit_id: [所属街道]}}
"""


def recipe() -> dict:
    """The recipe as data (what ``yaml.safe_load`` gives for sources.yaml)."""
    return yaml.safe_load(RECIPE)


README = f"""\
合成演示数据,非真实城市 / SYNTHETIC DEMO DATA - NOT A REAL CITY

{CITY_NAME} is made up; so is every export in exports/. They were written by
`cityanalytics demo --workspace` from the demo's canonical tables, to look like what a
bureau's systems send: GBK CSV and Excel files with Chinese headers, title rows above the
header, a 合计 row at the bottom, unit names instead of ids, one file per month.

sources.yaml   the recipe mapping the exports to the canonical tables (synthetic: true)
units.csv      the districts table the unit names are resolved against
targets.yaml   plan targets (the shipped registry)
params/        run files and schedule.yaml for the reports on this workspace
exports/       the raw exports
tables/        canonical tables, written by `cityanalytics build <this folder>`
outputs/       reports
"""


def write_units(root: Path, districts: pd.DataFrame) -> Path:
    path = root / "units.csv"
    districts.to_csv(path, index=False, encoding="utf-8")
    return path


def write_targets(root: Path) -> Path:
    """The demo's plan targets: the shipped registry (the demo's reports compare with 海陵's plan)."""
    path = root / "targets.yaml"
    text = resources.files("cityanalytics").joinpath("data/targets.yaml").read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    return path


# The project's own run files (a source checkout): the demo workspace gets the same runs,
# pointed at the workspace instead of data/demo.
PROJECT_PARAMS = Path(__file__).resolve().parents[2] / "params"
_DATA_DIR = re.compile(r"^(\s*)(data_dir|workspace):\s*data/demo\b.*$")


def write_run_files(root: Path, project_params: Path = PROJECT_PARAMS) -> list[Path]:
    """params/: the project's run files and schedule.yaml, reading this workspace instead of data/demo.

    ``workspace: .`` (paths in a workspace's run files are read against the workspace, as in
    the run files ``cityanalytics init`` writes), so the folder can be moved.
    """
    if not (project_params / "schedule.yaml").is_file():
        return []
    out = root / "params"
    out.mkdir(exist_ok=True)
    written = []
    for path in sorted(project_params.glob("*.yaml")):
        lines = []
        for line in path.read_text(encoding="utf-8").splitlines():
            m = _DATA_DIR.match(line)
            if m:
                line = f"{m.group(1)}{m.group(2)}: .   # this workspace (paths are read against it)"
            lines.append(line)
        (out / path.name).write_text("\n".join(lines) + "\n", encoding="utf-8")
        written.append(out / path.name)
    return written


def write_workspace(root: Path, districts: pd.DataFrame) -> list[Path]:
    """sources.yaml, units.csv, targets.yaml and the run files; folders for tables and outputs."""
    root.mkdir(parents=True, exist_ok=True)
    assert set(CATEGORY_OF_SUBCATEGORY) == set(SUB_NAMES)
    recipe_path = root / "sources.yaml"
    recipe_path.write_text(RECIPE, encoding="utf-8")
    readme = root / "README.txt"
    readme.write_text(README, encoding="utf-8")
    files = [recipe_path, readme, write_units(root, districts), write_targets(root), *write_run_files(root)]
    for folder in ("tables", "outputs"):
        (root / folder).mkdir(exist_ok=True)
    return files
