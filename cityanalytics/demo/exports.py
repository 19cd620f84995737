"""The demo city as a bureau would send it: raw exports plus a workspace whose recipe maps them.

``write_exports(canonical_dir, workspace_dir)`` reads the canonical tables that
``cityanalytics demo`` wrote and writes, into the workspace folder::

    sources.yaml                       the recipe (synthetic: true) mapping the exports below
    units.csv                          the districts table (canonical columns)
    targets.yaml                       the plans' targets (a copy of the shipped registry)
    params/                            run files for the notebooks and schedule.yaml
    exports/案件明细/案件明细_2019年01月.csv ...   cases, one file per month: GBK CSV, and
                                       Excel (.xlsx) from EXCEL_CASES_FROM on
    exports/以克论净/以克论净检测结果_2019年01月.xlsx ...   dust samples, one workbook per month
    exports/垃圾分类小区台账.xlsx        communities, one sheet per district
    exports/街镇月度考核结果.csv         assessments (GBK)
    exports/专项行动安排.xlsx            campaigns
    exports/区划调整记录.csv             unit changes (GBK)
    exports/全省各市城市管理类热线诉求月报.csv   observations: the province's monthly bulletin,
                                       every city (GBK)
    exports/规划指标进展统计.csv          observations: the city's figures against its plans' targets (GBK)

The exports look like real ones: Chinese headers as business systems name them, title rows
above the header, a 合计 row at the bottom, unit *names* instead of ids, and columns the
canonical tables do not have (大类, 案件状态, 序号 ...). Two canonical columns are not in
any export and must come from the recipe: ``cases.category`` (部件/事件, a lookup of 小类)
and ``dust_samples.unit_id`` (a regular expression over the address 点位地址). Every file
says in its title rows that the data are synthetic.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from . import writing
from .cases import SUBCATEGORIES
from .truth import LABEL_ZH
from .units import CITY_NAME

FICTIONAL = f"{CITY_NAME}(虚构)"
EXPORTS = "exports"
EXPORTED_ON = "2025-07-01 08:30"  # the day after the demo window ends
EXCEL_CASES_FROM = "2025-06"  # from this month on the cases come as .xlsx (the platform's Excel download)
ENCODING = "gbk"

# 数字城管 大类 of each subcategory (CJ/T 214 style). Not 部件/事件: 市容环境 holds both, which is
# why the recipe derives category from 小类, not from 大类.
MAJOR_CLASS = {
    "暴露垃圾": "市容环境", "积存垃圾渣土": "市容环境", "道路不洁": "市容环境", "绿地脏乱": "园林绿化",
    "违章张贴": "宣传广告", "非法小广告": "宣传广告",
    "占道经营": "街面秩序", "乱堆物料": "街面秩序", "非机动车乱停放": "街面秩序",
    "井盖破损": "公用设施", "路灯不亮": "公用设施", "道路破损": "道路交通", "护栏损坏": "道路交通",
    "垃圾桶破损": "市容环境",
}
CATEGORY_OF_SUBCATEGORY = {name: category for name, category, *_ in SUBCATEGORIES}

# The dust export has no unit column: the unit is inside the address.
DUST_ADDRESS_PATTERN = r"^示范市(?:澄湖区|栖云区)?(.+?(?:街道|镇|开发区))"

CASE_HEADERS = ["序号", "案件编号", "问题来源", "大类", "小类", "所属区", "所属街道", "问题描述", "上报时间",
                "立案时间", "派遣时间", "处置时间", "核查时间", "结案时间", "处置时限", "是否返工", "是否缓办",
                "案件状态"]
DUST_HEADERS = ["序号", "样本编号", "道路编号", "道路名称", "道路等级", "检测部位", "点位地址", "检测日期",
                "尘土残存量(克/平方米)", "检测单位"]
COMMUNITY_HEADERS = ["序号", "小区编号", "小区名称", "所属街道", "城乡类型", "户数", "分类启动日期", "达标日期"]
ASSESSMENT_HEADERS = ["考核月份", "被考核单位", "得分", "发现问题数", "整改问题数", "整改率"]
CAMPAIGN_HEADERS = ["活动编号", "活动名称", "实施街道", "阶段", "阶段序号", "开始日期", "结束日期", "整治内容"]
CHANGE_HEADERS = ["原单位编号", "现单位编号", "生效日期", "变更类型"]
OBSERVATION_HEADERS = ["统计月份", "行政区划代码", "城市", "诉求量(件)", "常住人口(万人)", "万人诉求量(件/万人)",
                       "指标编号", "计量单位", "数据来源"]
OBSERVATIONS_FILE = "全省各市城市管理类热线诉求月报.csv"


# ---- reading the canonical tables ---------------------------------------------------------


def _canonical_path(folder: Path, name: str) -> Path:
    for suffix in (".parquet", ".csv"):
        path = folder / f"{name}{suffix}"
        if path.is_file():
            return path
    raise FileNotFoundError(f"{folder}: no {name}.parquet or {name}.csv (run cityanalytics demo first)")


def _arrow_batches(path: Path, name: str) -> Iterator[pa.Table]:
    """The canonical table in pieces (Parquet row groups), with the canonical arrow types."""
    schema = writing.arrow_schema(name)
    if path.suffix == ".parquet":
        f = pq.ParquetFile(path)
        for i in range(f.num_row_groups):
            yield f.read_row_group(i).cast(schema)
        return
    types = {field.name: field.type for field in schema}
    yield pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types=types,
                                                                    strings_can_be_null=True)).cast(schema)


def _canonical(folder: Path, name: str) -> pd.DataFrame:
    path = _canonical_path(folder, name)
    return writing.to_pandas(name, pa.concat_tables(list(_arrow_batches(path, name))))


# ---- cell formatting ----------------------------------------------------------------------


def _stamp_text(values: pd.Series) -> pd.Series:
    """Timestamps as 2019-01-01 10:21:48 (empty for none): vectorised through arrow."""
    arr = pa.array(values.astype("datetime64[ns]"), type=pa.timestamp("ns")).cast(pa.timestamp("s"))
    return pd.Series(arr.cast(pa.string()).to_pandas(), index=values.index).fillna("")


def _date_cn(values: pd.Series) -> pd.Series:
    """Dates as 2020年10月10日 (empty for none)."""
    return values.map(lambda d: "" if pd.isna(d) else f"{d.year}年{d.month}月{d.day}日")


def _yes_no(values: pd.Series) -> pd.Series:
    flags = values.astype("boolean")
    out = np.where(flags.fillna(False).to_numpy(dtype=bool), "是", "否").astype(object)
    out[flags.isna().to_numpy()] = ""
    return pd.Series(out, index=values.index)


def _text(values: pd.Series) -> pd.Series:
    return values.astype("string").fillna("").astype(object)


def _cells(frame: pd.DataFrame) -> list[list[object]]:
    """Rows for openpyxl: None for missing, Python datetimes, ints and floats as they are."""
    out = frame.astype(object).where(frame.notna(), None)
    for column in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[column].dtype):
            out[column] = [None if pd.isna(v) else v.to_pydatetime() for v in frame[column]]
    return out.values.tolist()


# ---- file writers -------------------------------------------------------------------------


def _titles(title: str, period: str) -> list[str]:
    return [f"{FICTIONAL}{title}", f"统计区间:{period}  导出时间:{EXPORTED_ON}  {LABEL_ZH}"]


def write_gbk_csv(path: Path, titles: list[str], frame: pd.DataFrame, total: list[str]) -> Path:
    """Title lines, the header, the rows (all text) and a 合计 row, encoded as GBK."""
    buffer = io.StringIO()
    for line in titles:
        buffer.write(line + "\n")
    frame.to_csv(buffer, index=False, lineterminator="\n")
    buffer.write(",".join(total + [""] * (frame.shape[1] - len(total))) + "\n")
    path.write_bytes(buffer.getvalue().encode(ENCODING))
    return path


def write_xlsx(path: Path, sheets: dict[str, tuple[list[str], pd.DataFrame, list[object] | None]]) -> Path:
    """One sheet per entry: title rows (merged across the table, as exports do), header, rows, 合计.

    Timestamps become Excel date-time cells and ``datetime.date`` values date cells (openpyxl
    gives them their number format). Large workbooks are written in openpyxl's streaming
    mode, which cannot merge cells; their title stays in the first cell.
    """
    from openpyxl import Workbook

    big = sum(len(frame) for _, frame, _ in sheets.values()) > 2000
    wb = Workbook(write_only=big)
    if not big:
        wb.remove(wb.active)
    for name, (titles, frame, total) in sheets.items():
        ws = wb.create_sheet(name)
        width = frame.shape[1]
        for line in titles:
            ws.append([line])
        ws.append(list(frame.columns))
        for row in _cells(frame):
            ws.append(row)
        if total is not None:
            ws.append(list(total) + [None] * (width - len(total)))
        if not big:
            for r in range(1, len(titles) + 1):
                ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=width)
    wb.save(path)
    return path


def _dates(values: pd.Series) -> pd.Series:
    """Midnight timestamps as ``datetime.date`` (an Excel date cell, not a date-time)."""
    return pd.Series([None if pd.isna(v) else v.date() for v in values], index=values.index, dtype=object)


# ---- one raw frame per canonical table -----------------------------------------------------


class Names:
    """unit_id -> name, and the name of the district a unit belongs to."""

    def __init__(self, districts: pd.DataFrame):
        ids = districts["unit_id"].astype(str)
        self.name = dict(zip(ids, districts["name_zh"].astype(str)))
        parent = dict(zip(ids, districts["parent_id"].astype("string").fillna("")))
        level = dict(zip(ids, districts["level"].astype(str)))
        # The district (区) above a street or town; a functional zone stands for itself.
        self.district = {u: self.name.get(parent[u], "") if level.get(parent[u]) == "区" else self.name[u]
                         for u in ids}

    def of(self, ids: pd.Series) -> pd.Series:
        return ids.astype(str).map(self.name)


def raw_cases(cases: pd.DataFrame, names: Names) -> pd.DataFrame:
    status = np.select(
        [cases["closed_at"].notna().to_numpy(), cases["suspended"].fillna(False).to_numpy(dtype=bool),
         cases["disposed_at"].notna().to_numpy()],
        ["已结案", "缓办", "待核查"], default="处置中")
    unit = cases["unit_id"].astype(str)
    return pd.DataFrame({
        "序号": np.arange(1, len(cases) + 1),
        "案件编号": _text(cases["case_id"]),
        "问题来源": _text(cases["source"]),
        "大类": cases["subcategory"].map(MAJOR_CLASS).fillna("其他").astype(object),
        "小类": _text(cases["subcategory"]),
        "所属区": unit.map(names.district).astype(object),
        "所属街道": names.of(unit).astype(object),
        "问题描述": _text(cases["description"]),
        "上报时间": cases["reported_at"], "立案时间": cases["filed_at"], "派遣时间": cases["dispatched_at"],
        "处置时间": cases["disposed_at"], "核查时间": cases["checked_at"], "结案时间": cases["closed_at"],
        "处置时限": cases["due_at"],
        "是否返工": _yes_no(cases["reopened"]), "是否缓办": _yes_no(cases["suspended"]),
        "案件状态": status,
    }, index=cases.index)[CASE_HEADERS]


def raw_dust(dust: pd.DataFrame, names: Names) -> pd.DataFrame:
    unit = dust["unit_id"].astype(str)
    district = unit.map(names.district)
    unit_name = names.of(unit)
    # "示范市澄湖区鹭洲街道鹭洲大道"; the zone is not inside a district: "示范市示范经济技术开发区开元大道".
    prefix = np.where(district == unit_name, "", district)
    address = CITY_NAME + pd.Series(prefix, index=dust.index) + unit_name + dust["road_name"].astype(str)
    return pd.DataFrame({
        "序号": np.arange(1, len(dust) + 1),
        "样本编号": _text(dust["sample_id"]), "道路编号": _text(dust["road_id"]),
        "道路名称": _text(dust["road_name"]), "道路等级": _text(dust["road_class"]),
        "检测部位": _text(dust["lane_type"]), "点位地址": address.astype(object),
        "检测日期": _dates(dust["sampled_on"]), "尘土残存量(克/平方米)": dust["dust_g_m2"].astype(float),
        "检测单位": f"{CITY_NAME}环境卫生监测站(虚构)",
    }, index=dust.index)[DUST_HEADERS]


def raw_communities(communities: pd.DataFrame, names: Names) -> pd.DataFrame:
    return pd.DataFrame({
        "序号": np.arange(1, len(communities) + 1),
        "小区编号": _text(communities["community_id"]), "小区名称": _text(communities["name_zh"]),
        "所属街道": names.of(communities["unit_id"]).astype(object),
        "城乡类型": _text(communities["area_type"]), "户数": communities["households"].astype(int),
        "分类启动日期": _date_cn(communities["sorting_started_on"]),
        "达标日期": _date_cn(communities["compliant_on"]),
    }, index=communities.index)[COMMUNITY_HEADERS]


def raw_assessments(assessments: pd.DataFrame, names: Names) -> pd.DataFrame:
    found = assessments["problems_found"].astype("Float64")
    fixed = assessments["problems_rectified"].astype("Float64")
    rate = (fixed / found * 100).round(1)
    return pd.DataFrame({
        "考核月份": assessments["period"].map(lambda p: f"{p.year}年{p.month}月"),
        "被考核单位": names.of(assessments["unit_id"]).astype(object),
        "得分": assessments["score"].map(lambda v: "" if pd.isna(v) else f"{v:.1f}"),
        "发现问题数": _text(assessments["problems_found"]),
        "整改问题数": _text(assessments["problems_rectified"]),
        "整改率": rate.map(lambda v: "" if pd.isna(v) else f"{v:.1f}%"),
    }, index=assessments.index)[ASSESSMENT_HEADERS]


def raw_campaigns(campaigns: pd.DataFrame, names: Names) -> pd.DataFrame:
    return pd.DataFrame({
        "活动编号": _text(campaigns["campaign_id"]), "活动名称": _text(campaigns["name_zh"]),
        "实施街道": names.of(campaigns["unit_id"]).astype(object), "阶段": _text(campaigns["phase"]),
        "阶段序号": campaigns["phase_order"].astype(int),
        "开始日期": _dates(campaigns["start_date"]), "结束日期": _dates(campaigns["end_date"]),
        "整治内容": _text(campaigns["outcomes"]),
    }, index=campaigns.index)[CAMPAIGN_HEADERS]


def raw_unit_changes(changes: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "原单位编号": _text(changes["old_unit_id"]), "现单位编号": _text(changes["new_unit_id"]),
        "生效日期": changes["effective_on"].dt.strftime("%Y-%m-%d"), "变更类型": _text(changes["change"]),
    })[CHANGE_HEADERS]


def raw_observations(observations: pd.DataFrame) -> pd.DataFrame:
    """The province's bulletin: one row per city and month, with its indicator id, unit and source
    (the same columns as the plans' statistics sheet, so one recipe block reads both)."""
    return pd.DataFrame({
        "统计月份": _text(observations["period"]), "行政区划代码": _text(observations["unit_id"]),
        "城市": _text(observations["unit_name"]),
        "诉求量(件)": observations["numerator"].map(lambda v: "" if pd.isna(v) else f"{v:.0f}"),
        "常住人口(万人)": observations["denominator"].map(lambda v: "" if pd.isna(v) else f"{v:.1f}"),
        "万人诉求量(件/万人)": observations["value"].map(lambda v: "" if pd.isna(v) else f"{v:.2f}"),
        "指标编号": _text(observations["indicator"]), "计量单位": _text(observations["unit"]),
        "数据来源": _text(observations["source"]),
    }, index=observations.index)[OBSERVATION_HEADERS]


def _as_text_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Every column as text for a CSV: timestamps as 2019-01-01 10:21:48, missing as ''."""
    out = {}
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_datetime64_any_dtype(values.dtype):
            out[column] = _stamp_text(values)
        else:
            out[column] = values.astype(object).where(values.notna(), "")
    return pd.DataFrame(out, index=frame.index)


# ---- the writer ---------------------------------------------------------------------------


def _month_label(period: pd.Period) -> str:
    return f"{period.year}年{period.month:02d}月"


def _month_range(period: pd.Period) -> str:
    return f"{period.start_time.date()}至{period.end_time.date()}"


def _cases_by_month(path: Path) -> Iterator[tuple[pd.Period, pd.DataFrame]]:
    """Complete months of cases, in order, reading the canonical file piece by piece."""
    carry: pd.DataFrame | None = None
    for batch in _arrow_batches(path, "cases"):
        frame = writing.to_pandas("cases", batch)
        if carry is not None:
            frame = pd.concat([carry, frame], ignore_index=True)
        months = frame["reported_at"].dt.to_period("M")
        last = months.max() if len(frame) else None
        for month, part in frame.groupby(months, sort=True):
            if month != last:
                yield month, part
        carry = frame[months == last] if last is not None else None
    if carry is not None and len(carry):
        yield carry["reported_at"].dt.to_period("M").iloc[0], carry


def write_cases(path: Path, out: Path, names: Names) -> list[Path]:
    folder = out / "案件明细"
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    excel_from = pd.Period(EXCEL_CASES_FROM, freq="M")
    for month, cases in _cases_by_month(path):
        raw = raw_cases(cases.reset_index(drop=True), names)
        titles = _titles(f"数字化城市管理案件明细表({_month_label(month)})", _month_range(month))
        total = ["合计", f"共{len(raw)}件"]
        stem = f"案件明细_{_month_label(month)}"
        if month >= excel_from:
            files.append(write_xlsx(folder / f"{stem}.xlsx", {"案件明细": (titles, raw, total)}))
        else:
            files.append(write_gbk_csv(folder / f"{stem}.csv", titles, _as_text_frame(raw), total))
    return files


def write_dust(dust: pd.DataFrame, out: Path, names: Names) -> list[Path]:
    folder = out / "以克论净"
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    months = dust["sampled_on"].dt.to_period("M")
    for month, part in dust.groupby(months, sort=True):
        raw = raw_dust(part.reset_index(drop=True), names)
        titles = _titles(f"道路“以克论净”检测结果({_month_label(month)})", _month_range(month))
        total = ["合计", f"{len(raw)}个样本"] + [None] * 6 + [round(float(raw.iloc[:, 8].mean()), 2)]
        files.append(write_xlsx(folder / f"以克论净检测结果_{_month_label(month)}.xlsx",
                                {"检测结果": (titles, raw, total)}))
    return files


def write_communities(communities: pd.DataFrame, out: Path, names: Names) -> Path:
    """One sheet per district (区 or zone), as districts file their own registers."""
    district = communities["unit_id"].astype(str).map(names.district)
    sheets = {}
    for name in dict.fromkeys(district):  # first-seen order
        part = communities[district == name].reset_index(drop=True)
        raw = raw_communities(part, names)
        titles = _titles(f"生活垃圾分类小区台账({name})", "截至2025-06-30")
        sheets[name] = (titles, raw, ["合计", f"{len(raw)}个小区", None, None, None, int(raw["户数"].sum())])
    return write_xlsx(out / "垃圾分类小区台账.xlsx", sheets)


def write_assessments(assessments: pd.DataFrame, out: Path, names: Names) -> Path:
    raw = raw_assessments(assessments, names)
    periods = assessments["period"]
    span = f"{periods.min()}至{periods.max()}" if len(periods) else ""
    found, fixed = assessments["problems_found"].sum(), assessments["problems_rectified"].sum()
    total = ["合计", "", "", str(int(found)), str(int(fixed))]
    return write_gbk_csv(out / "街镇月度考核结果.csv", _titles("街道(镇)城市管理月度考核结果", span), raw, total)


def write_campaigns(campaigns: pd.DataFrame, out: Path, names: Names) -> Path:
    raw = raw_campaigns(campaigns, names)
    return write_xlsx(out / "专项行动安排.xlsx", {"专项行动": (_titles("城市管理专项行动安排", "2019年至2025年"), raw, None)})


def write_unit_changes(changes: pd.DataFrame, out: Path) -> Path:
    return write_gbk_csv(out / "区划调整记录.csv", _titles("行政区划调整记录", "2019年以来"),
                         raw_unit_changes(changes), ["合计", f"{len(changes)}项"])


def write_observations(observations: pd.DataFrame, out: Path) -> Path:
    """The province's bulletin: the rows of its one indicator (other indicators of the table
    come from other sources and are not in this file)."""
    from .citywide import INDICATOR

    observations = observations[observations["indicator"].astype(str) == INDICATOR]
    periods = observations["period"].astype(str)
    span = f"{periods.min()}至{periods.max()}" if len(periods) else ""
    titles = [f"{FICTIONAL}所在省各市12345热线城市管理类诉求月度统计(省城市管理监督考核月报)",
              f"统计区间:{span}  导出时间:{EXPORTED_ON}  {LABEL_ZH}"]
    buffer = io.StringIO()
    for line in titles:
        buffer.write(line + "\n")
    raw_observations(observations).to_csv(buffer, index=False, lineterminator="\n")
    path = out / OBSERVATIONS_FILE
    path.write_bytes(buffer.getvalue().encode(ENCODING))
    return path


def write_exports(canonical_dir: str | Path, workspace_dir: str | Path) -> dict[str, list[Path]]:
    """Write the raw exports and the workspace (recipe, units, targets, run files).

    canonical_dir: a folder of canonical tables written by ``cityanalytics demo`` (Parquet or CSV).
    Returns the files written per canonical table (plus "workspace" for the recipe and friends).
    """
    from . import recipe

    src, root = Path(canonical_dir), Path(workspace_dir)
    out = root / EXPORTS
    if out.exists():
        shutil.rmtree(out)  # a previous demo's months must not linger under the recipe's globs
    out.mkdir(parents=True)
    districts = _canonical(src, "districts")
    names = Names(districts)
    files: dict[str, list[Path]] = {
        "cases": write_cases(_canonical_path(src, "cases"), out, names),
        "dust_samples": write_dust(_canonical(src, "dust_samples"), out, names),
        "communities": [write_communities(_canonical(src, "communities"), out, names)],
        "assessments": [write_assessments(_canonical(src, "assessments"), out, names)],
        "campaigns": [write_campaigns(_canonical(src, "campaigns"), out, names)],
        "unit_changes": [write_unit_changes(_canonical(src, "unit_changes"), out)],
    }
    try:  # demo folders written before the city-wide campaign have no observations table
        observations = _canonical(src, "observations")
    except FileNotFoundError:
        observations = None
    if observations is not None:  # the province's bulletin, and the city's figures against its plans
        from .citywide import INDICATOR
        from .plan_observations import write_plan_observations

        bulletin = observations["indicator"].astype(str) == INDICATOR
        files["observations"] = [write_observations(observations[bulletin], out)]
        if (~bulletin).any():
            titles = _titles("城市管理规划指标进展统计", "2020年至2024年")
            files["observations"].append(write_plan_observations(observations[~bulletin], out, titles, ENCODING))
    try:  # demo folders written before the asset register have no assets table
        from .assets import write_exports as write_asset_exports

        files["assets"], files["inspections"] = ([f] for f in write_asset_exports(
            _canonical(src, "assets"), _canonical(src, "inspections"), out, names, write_gbk_csv, _titles))
    except FileNotFoundError:
        pass
    try:  # nor the satisfaction survey
        from .surveys import write_export as write_survey_export

        files["survey_responses"] = [write_survey_export(_canonical(src, "survey_responses"), out, names,
                                                         write_gbk_csv, _titles)]
    except FileNotFoundError:
        pass
    files["workspace"] = recipe.write_workspace(root, districts)
    from .boundaries import write_boundaries  # the units' synthetic boundaries, for the maps

    files["workspace"] = [*files["workspace"], write_boundaries(root)]
    from .places import PARKS_FILE, RESIDENTIAL_FILE, LAND_USE_FILE  # the place layers, beside the boundaries

    for name in (PARKS_FILE, RESIDENTIAL_FILE, LAND_USE_FILE):
        if (src / name).is_file():
            shutil.copyfile(src / name, root / name)
            files["workspace"].append(root / name)
    return files
