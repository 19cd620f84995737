"""Short Chinese glosses for the loader's common rejection reasons (the load report shows both)."""

from __future__ import annotations

import re

# (pattern over the English reason, Chinese gloss); the first match wins.
GLOSSES: tuple[tuple[str, str], ...] = (
    (r"^required value is empty", "必填值为空"),
    (r"^duplicate .*superseded by the copy in", "后一文件中有同一记录,以较新的导出为准"),
    (r"^duplicate ", "编号重复,保留首条"),
    (r"^blank row", "空行"),
    (r"^summary row", "合计/总计行,不是记录"),
    (r"^row has \d+ fields but the header has", "字段数多于表头,值中可能有未加引号的分隔符"),
    (r"^unknown unit", "单位不在 units.csv 中(既非编号也非名称)"),
    (r"^ambiguous unit name", "单位名称重名,请用单位编号"),
    (r"^pattern .* found nothing in", "正则表达式未能从该列提取值"),
    (r"is not in the lookup", "该值不在对照表中"),
    (r"^expected one of", "不是允许的取值之一"),
    (r"^expected a number", "应为数字"),
    (r"^expected a whole number", "应为整数"),
    (r"^expected a date|^not a valid date", "不是有效的日期或时间"),
    (r"^expected a month", "不是有效的月份"),
    (r"^expected yes/no", "应为是/否"),
    (r"^expected a value >=", "小于允许的最小值"),
    (r"^expected a value <=", "大于允许的最大值"),
    (r"^does not look like a valid", "格式不符"),
    (r" is earlier than ", "时间先后顺序不对"),
    (r"quoted value runs from line", "引号未闭合,吞并了后续记录"),
    (r"^formula without a cached value", "公式没有保存计算结果,请在 Excel 中打开并保存"),
)


def gloss(reason: str) -> str:
    """The Chinese gloss of a rejection reason, or "" when none is known."""
    for pattern, zh in GLOSSES:
        if re.search(pattern, str(reason)):
            return zh
    return ""
