"""Canonical tables: the shape every real export is mapped into.

Each table is declared once here as a list of column specs plus cross-column rules. The
loaders (``cityanalytics.io``) use the specs to parse raw values, and ``pandera_schema``
turns the same specs into a pandera schema that does the validating, so what is declared
is what is checked.

Enumerated values are the Chinese terms the source standards and bureaus use (部件/事件,
机动车道, 城市/农村 ...): they are what reports show, and aliases map their variants.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import pandas as pd
import pandera.pandas as pa

# Kinds of value a column can hold; each has a parser in cityanalytics.io.parsing.
KINDS = ("str", "int", "float", "percent", "datetime", "date", "month", "bool")

# Administrative division codes: 6 digits (GB/T 2260) for a county-level unit, 9 or 12
# digits (the statistical division code) for a street or town.
DIVISION_CODE_PATTERN = r"^\d{6}(\d{3}(\d{3})?)?$"

# Unit names may be in any script (城东街道, Back Bay, masked A1区): letters, digits, spaces
# and the punctuation place names use. Each rule a name can break has its own reason.
NAME_PATTERN = r"^[\w\u3400-\u9fff\uf900-\ufaff()（）·.'&/,\- ]+$"
NAME_MAX_LENGTH = 100
NAME_RULES = (
    (r"^.*[^\W_].*$", "does not look like a valid name_zh: a unit name needs at least one letter or digit "
                       "(punctuation only)"),
    (rf"^.{{1,{NAME_MAX_LENGTH}}}$", f"does not look like a valid name_zh: longer than {NAME_MAX_LENGTH} characters"),
    (NAME_PATTERN, "does not look like a valid name_zh: a unit name holds letters (any script), digits, "
                   "spaces and ( ) · - . ' & / , only"),
)
# A Latin word of four or more letters inside a Chinese place name is nearly always an artifact
# of a scraped or hacked source (the scraped copy of 扎兰屯市's 百日攻坚 plan has "UedBet体育" for 扎兰屯市); short codes (A1区, CBD) pass.
NAME_FORBIDDEN = (
    (r"[A-Za-z]{4,}.*[\u3400-\u9fff]|[\u3400-\u9fff].*[A-Za-z]{4,}",
     "does not look like a valid name_zh: a Latin word inside a Chinese name (text from a scraped or "
     "hacked source? fix it with value_fixes)"),
)


@dataclass(frozen=True)
class Col:
    """One column of a canonical table."""

    name: str
    kind: str
    doc: str
    required: bool = True  # the column must be present in the input
    nullable: bool = False  # a present column may have empty cells
    allowed: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    unique: bool = False
    pattern: str | None = None
    # (regex that must match, reason) and (regex that must not match, reason), checked per cell.
    rules: tuple[tuple[str, str], ...] = ()
    forbidden: tuple[tuple[str, str], ...] = ()
    # Free text (a complaint's description): kept as written, never NFKC-folded, and only a
    # blank cell is empty ("null" or "-" is what someone wrote). Other text columns (ids, codes,
    # names, labels) are folded and read the usual empty markers (-, null, /, n/a ...) as empty.
    free_text: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"column {self.name}: unknown kind {self.kind!r}")


@dataclass(frozen=True)
class Rule:
    """A cross-column rule; ``holds`` returns True for rows that satisfy it.

    Rows where any of ``columns`` is empty pass: a rule compares values that exist.
    """

    name: str
    columns: tuple[str, ...]
    reason: str
    holds: Callable[[pd.DataFrame], pd.Series]


@dataclass(frozen=True)
class Table:
    name: str
    doc: str
    columns: tuple[Col, ...]
    key: tuple[str, ...] = ()
    rules: tuple[Rule, ...] = field(default_factory=tuple)

    def col(self, name: str) -> Col:
        return next(c for c in self.columns if c.name == name)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]


def _not_before(later: str, earlier: str) -> Rule:
    return Rule(
        name=f"{later}>={earlier}",
        columns=(later, earlier),
        reason=f"{later} is earlier than {earlier}",
        holds=lambda df: df[later] >= df[earlier],
    )


# Tables whose rows may carry no unit (unit_id is not part of their key): such rows are kept, count
# in the city total and show as 未归属单位; the load report counts them.
UNASSIGNED_UNIT = "未归属单位"

UNIT_LEVELS = ("市", "区", "县", "街道", "镇", "乡", "功能区")
CASE_STAGES = ("reported_at", "filed_at", "dispatched_at", "disposed_at", "checked_at", "closed_at")

DISTRICTS = Table(
    name="districts",
    doc="Administrative and functional units (区/县/街道/镇/功能区) with their size.",
    key=("unit_id",),
    columns=(
        Col("unit_id", "str", "Stable id of the unit.", unique=True),
        Col("name_zh", "str", "Name (Chinese, or any script).", rules=NAME_RULES, forbidden=NAME_FORBIDDEN),
        Col("level", "str", "Administrative level.", allowed=UNIT_LEVELS),
        Col("parent_id", "str", "unit_id of the parent unit (empty for the top).", required=False, nullable=True),
        Col("division_code", "str", "GB/T 2260 code (6 digits) or statistical code (9/12 digits).",
            required=False, nullable=True, pattern=DIVISION_CODE_PATTERN),
        Col("population", "int", "Resident population.", required=False, nullable=True, min=0),
        Col("households", "int", "Households.", required=False, nullable=True, min=0),
        Col("area_km2", "float", "Area in km2.", required=False, nullable=True, min=0),
    ),
)

UNIT_CHANGES = Table(
    name="unit_changes",
    doc="Boundary changes: a unit renamed (更名), merged into another (合并) or re-designated (撤镇设街道).",
    key=("old_unit_id", "new_unit_id"),
    columns=(
        Col("old_unit_id", "str", "unit_id before the change."),
        Col("new_unit_id", "str", "unit_id that carries the series on."),
        Col("effective_on", "date", "First day under the new unit."),
        Col("change", "str", "Kind of change.", allowed=("更名", "合并", "撤镇设街道", "区划调整")),
    ),
)

CASES = Table(
    name="cases",
    doc="数字城管 / 12345 work orders along the GB/T 30428 lifecycle 上报→立案→派遣→处置→核查→结案.",
    key=("case_id",),
    columns=(
        Col("case_id", "str", "Case number.", unique=True),
        Col("unit_id", "str", "Unit (street/town or district) the case belongs to.", nullable=True),
        Col("source", "str", "Who reported it.", required=False, nullable=True,
            allowed=("监督员", "公众举报", "12345热线", "视频监控", "部门移交", "其他")),
        Col("category", "str", "部件 (component) or 事件 (event).", allowed=("部件", "事件")),
        Col("subcategory", "str", "Subcategory (小类).", required=False, nullable=True),
        Col("reported_at", "datetime", "上报 time."),
        Col("filed_at", "datetime", "立案 time.", required=False, nullable=True),
        Col("dispatched_at", "datetime", "派遣 time.", required=False, nullable=True),
        Col("disposed_at", "datetime", "处置 (done) time.", required=False, nullable=True),
        Col("checked_at", "datetime", "核查 time.", required=False, nullable=True),
        Col("closed_at", "datetime", "结案 time.", required=False, nullable=True),
        Col("due_at", "datetime", "Disposal deadline set for this case, if the export has one.",
            required=False, nullable=True),
        Col("reopened", "bool", "Sent back for rework (返工) at least once.", required=False, nullable=True),
        Col("suspended", "bool", "缓办/挂账: set aside with approval.", required=False, nullable=True),
        Col("description", "str", "Free text of the complaint.", required=False, nullable=True, free_text=True),
    ),
    rules=tuple(
        _not_before(later, earlier)
        for later, earlier in [
            ("filed_at", "reported_at"),
            ("dispatched_at", "filed_at"),
            ("disposed_at", "dispatched_at"),
            ("disposed_at", "reported_at"),
            ("checked_at", "disposed_at"),
            ("closed_at", "reported_at"),
            ("closed_at", "disposed_at"),
            ("due_at", "reported_at"),
        ]
    ),
)

LANE_TYPES = ("机动车道", "非机动车道", "人行道", "背街小巷")

DUST_SAMPLES = Table(
    name="dust_samples",
    doc="以克论净: dust collected from a 1 m2 frame after cleaning, weighed in grams.",
    key=("sample_id",),
    columns=(
        Col("sample_id", "str", "Sample id.", unique=True),
        Col("road_id", "str", "Road id."),
        Col("road_name", "str", "Road name.", required=False, nullable=True),
        Col("unit_id", "str", "Unit responsible for the road.", nullable=True),
        Col("road_class", "str", "Road class.", required=False, nullable=True,
            allowed=("主干路", "次干路", "支路", "背街小巷", "快速路")),
        Col("lane_type", "str", "Lane sampled.", allowed=LANE_TYPES),
        Col("sampled_on", "date", "Sampling date."),
        Col("dust_g_m2", "float", "Dust in g/m2.", min=0, max=1000),
    ),
)

COMMUNITIES = Table(
    name="communities",
    doc="Garbage-sorting register: one row per residential community (小区) or village.",
    key=("community_id",),
    columns=(
        Col("community_id", "str", "Community id.", unique=True),
        Col("name_zh", "str", "Community name.", required=False, nullable=True),
        Col("unit_id", "str", "Street/town it belongs to.", nullable=True),
        Col("area_type", "str", "城市 (urban residential) or 农村 (village).", allowed=("城市", "农村")),
        Col("households", "int", "Households.", min=0),
        Col("sorting_started_on", "date", "Date sorting started (两定一撤 in place).", required=False, nullable=True),
        Col("compliant_on", "date", "Date it passed the sorting standard (达标).", required=False, nullable=True),
    ),
    rules=(_not_before("compliant_on", "sorting_started_on"),),
)

ASSESSMENTS = Table(
    name="assessments",
    doc="Monthly (or other period) assessment of each unit: score and problems.",
    key=("unit_id", "period"),
    columns=(
        Col("unit_id", "str", "Unit assessed."),
        Col("period", "month", "Assessment month."),
        Col("score", "float", "Score out of 100.", min=0, max=100),
        Col("problems_found", "int", "Problems found.", required=False, nullable=True, min=0),
        Col("problems_rectified", "int", "Problems rectified.", required=False, nullable=True, min=0),
    ),
    rules=(
        Rule("rectified<=found", ("problems_rectified", "problems_found"),
             "problems_rectified exceeds problems_found",
             lambda df: df["problems_rectified"] <= df["problems_found"]),
    ),
)

CAMPAIGNS = Table(
    name="campaigns",
    doc="Campaigns: one row per campaign, unit covered and phase (staggered roll-outs have a row per unit).",
    key=("campaign_id", "unit_id", "phase"),
    columns=(
        Col("campaign_id", "str", "Campaign id."),
        Col("name_zh", "str", "Campaign name."),
        Col("unit_id", "str", "Unit covered."),
        Col("phase", "str", "Phase name (宣传发动, 集中整治, 检查验收 ...)."),
        Col("phase_order", "int", "Order of the phase within the campaign.", min=1),
        Col("start_date", "date", "First day of the phase."),
        Col("end_date", "date", "Last day of the phase (blank: a policy that stays, in force to the end of the data).",
            nullable=True),
        Col("outcomes", "str", "Case subcategories or indicators it targets, ';'-separated.",
            required=False, nullable=True),
    ),
    rules=(_not_before("end_date", "start_date"),),
)

TARGETS = Table(
    name="targets",
    doc="Numeric targets from plans, each with the sentence it comes from.",
    key=("target_id",),
    columns=(
        Col("target_id", "str", "Target id.", unique=True),
        Col("plan", "str", "Plan it belongs to."),
        Col("indicator", "str", "Indicator id."),
        Col("scope", "str", "Where it applies (city, urban area, a unit ...)."),
        Col("value", "percent", "Target value (percent as 0-100; \"98%\" accepted)."),
        Col("unit", "str", "Unit of the value (%, count, g/m2 ...)."),
        Col("comparison", "str", "How a value meets it.", allowed=(">=", "<=", "=")),
        Col("deadline", "date", "When it is due."),
        Col("binding", "str", "约束性 (binding), 预期性 (expected) or 未标明.", allowed=("约束性", "预期性", "未标明")),
        Col("source_file", "str", "File of the plan's text it comes from."),
        Col("quote", "str", "The sentence it comes from, verbatim.", free_text=True),
    ),
)

OBSERVATIONS = Table(
    name="observations",
    doc=("Indicator values already aggregated by someone else (a bulletin, a yearbook, an "
         "international data set, a city that only reports covered/total per month): one row per "
         "unit, period and indicator, with its source."),
    key=("unit_id", "period", "indicator"),
    columns=(
        Col("unit_id", "str", "Unit (district, city ...) the value describes."),
        Col("unit_name", "str", "Name of the unit as the source gives it.", required=False, nullable=True),
        Col("period", "str", "Period as the source states it: 2022, 2022-08, 2016-2020 ..."),
        Col("indicator", "str", "Indicator id."),
        Col("value", "percent", "The value (percentages as 0-100; \"98.83%\" accepted)."),
        Col("numerator", "float", "Count behind a rate, where known.", required=False, nullable=True, min=0),
        Col("denominator", "float", "Base of a rate, where known.", required=False, nullable=True, min=0),
        Col("unit", "str", "Unit of the value.", required=False, nullable=True),
        Col("source", "str", "Where the value comes from."),
    ),
)

SURVEY_RESPONSES = Table(
    name="survey_responses",
    doc=("Answers to a sample survey (市民满意度 测评): one row per respondent, wave and question, with the "
         "design weight, stratum and (optional) primary sampling unit the design-based intervals need."),
    key=("wave", "respondent", "question"),
    columns=(
        Col("respondent", "str", "Respondent id (unique within a wave)."),
        Col("unit_id", "str", "Unit the respondent lives in or was sampled for."),
        Col("wave", "str", "Survey wave as the bureau names it: 2024, 2024H1, 2024-06 ..."),
        Col("question", "str", "Question id or short text."),
        Col("answer", "str", "The answer as recorded (a Likert code 1-5, or its label such as 满意)."),
        Col("weight", "float", "Design weight (inverse inclusion probability, or the survey's final weight).",
            min=0),
        Col("stratum", "str", "Sampling stratum (empty: the wave is one stratum).", required=False, nullable=True),
        Col("psu", "str", "Primary sampling unit (cluster); empty: each respondent is its own PSU.",
            required=False, nullable=True),
        Col("stratum_size", "float", "Population count of the stratum's PSUs, for a finite population "
            "correction (empty: sampling with replacement, no correction).", required=False, nullable=True, min=1),
    ),
)

ASSET_KINDS = ("路灯", "道路", "桥梁", "井盖", "公厕", "其他")
ROAD_CLASSES = ("快速路", "主干路", "次干路", "支路", "背街小巷")

ASSETS = Table(
    name="assets",
    doc="City infrastructure register (部件台账): street lamps, road segments, bridges ... one row per asset.",
    key=("asset_id",),
    columns=(
        Col("asset_id", "str", "Asset id.", unique=True),
        Col("kind", "str", "Kind of asset.", allowed=ASSET_KINDS),
        Col("unit_id", "str", "Unit responsible for it.", nullable=True),
        Col("road_class", "str", "Class of the road it is on (empty: not recorded).", required=False,
            nullable=True, allowed=ROAD_CLASSES),
        Col("length_m", "float", "Length of a road segment in metres.", required=False, nullable=True, min=0),
        Col("check_every_days", "int", "Inspection cycle in days (an asset is due once per cycle).",
            required=False, nullable=True, min=1),
        Col("in_service_from", "date", "First day in service.", required=False, nullable=True),
        Col("retired_on", "date", "Day taken out of service.", required=False, nullable=True),
        Col("attributes", "str", "Other attributes as the register records them (free text or JSON).",
            required=False, nullable=True, free_text=True),
    ),
    rules=(_not_before("retired_on", "in_service_from"),),
)

INSPECTIONS = Table(
    name="inspections",
    doc="Checks of assets: a lamp seen on or off at night (亮灯巡查), a road segment found intact or damaged.",
    key=("asset_id", "inspected_at"),
    columns=(
        Col("asset_id", "str", "Asset checked (asset_id in the assets table)."),
        Col("inspected_at", "datetime", "When it was checked."),
        Col("ok", "bool", "Lamp on / segment intact / bridge without defect (True), or not (False)."),
        Col("defect", "str", "Defect found, as recorded.", required=False, nullable=True),
        Col("inspector", "str", "Who checked.", required=False, nullable=True),
    ),
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (DISTRICTS, UNIT_CHANGES, CASES, DUST_SAMPLES, COMMUNITIES, ASSESSMENTS, CAMPAIGNS, TARGETS,
              OBSERVATIONS, SURVEY_RESPONSES, ASSETS, INSPECTIONS)
}

# pandas dtype each kind is held in once parsed.
DTYPES = {
    "str": "string",
    "int": "Int64",
    "float": "Float64",
    "percent": "Float64",
    "datetime": "datetime64[ns]",
    "date": "datetime64[ns]",
    "month": "period[M]",
    "bool": "boolean",
}


def table(name: str) -> Table:
    try:
        return TABLES[name]
    except KeyError:
        raise ValueError(f"unknown table {name!r}; expected one of {', '.join(TABLES)}") from None


def empty_frame(name: str) -> pd.DataFrame:
    """An empty canonical table with the right dtypes."""
    t = table(name)
    return pd.DataFrame({c.name: pd.Series(dtype=DTYPES[c.kind]) for c in t.columns})


def pandera_schema(name: str, present: list[str] | None = None) -> pa.DataFrameSchema:
    """The pandera schema for a table, limited to the optional columns that are ``present``."""
    t = table(name)
    present_set = set(present) if present is not None else set(t.names)
    columns = {}
    for c in t.columns:
        if c.name not in present_set:
            continue
        checks = []
        if c.allowed is not None and c.required:
            # An optional column's vocabulary is open: the loader keeps unknown labels with a
            # counted note (a descriptive label must not cost a row an indicator needs).
            checks.append(pa.Check.isin(list(c.allowed), error=f"expected one of {'/'.join(c.allowed)}"))
        if c.min is not None:
            checks.append(pa.Check.ge(c.min, error=f"expected a value >= {c.min:g}"))
        if c.max is not None:
            checks.append(pa.Check.le(c.max, error=f"expected a value <= {c.max:g}"))
        if c.pattern is not None:
            checks.append(pa.Check.str_matches(c.pattern, error=f"does not look like a valid {c.name}"))
        for regex, reason in c.rules:
            checks.append(pa.Check.str_matches(regex, error=reason))
        for regex, reason in c.forbidden:
            checks.append(pa.Check(lambda v, rx=regex: ~v.str.contains(rx, regex=True), error=reason))
        columns[c.name] = pa.Column(
            DTYPES[c.kind] if c.kind != "month" else None,
            checks=checks,
            nullable=c.nullable,
            unique=c.unique,
            report_duplicates="exclude_first",
            required=c.name in present_set,
        )
    wide = [
        pa.Check(
            lambda df, r=r: r.holds(df).fillna(True).astype(bool) | df[list(r.columns)].isna().any(axis=1),
            name=r.name,
            error=r.reason,
        )
        for r in t.rules
        if set(r.columns) <= present_set
    ]
    key = list(t.key) if len(t.key) > 1 else None
    return pa.DataFrameSchema(
        columns,
        checks=wide,
        unique=key,
        report_duplicates="exclude_first",
        strict=False,
        coerce=False,
    )
