"""Map the column names of real exports onto canonical column names.

One alias table (``cityanalytics/data/aliases.yaml``) lists, per canonical table, the names
exports use for each column; users extend it with their own mapping. Matching is
forgiving about width, case, spaces and bracketed units.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Mapping

import yaml

from cityanalytics.schemas import table as get_table

Aliases = Mapping[str, Mapping[str, list[str]]]

_BRACKETED = re.compile(r"[(\[【].*?[)\]】]")
_IGNORED = re.compile(r"[\s_\-:*#]")

# Traditional forms of the characters the alias table uses, so that headers written in
# traditional characters (Big5 exports, as 余杭区's 工作意见 is written) match the same aliases: 案件編號 -> 案件编号.
_TRADITIONAL = str.maketrans(dict(pair for pair in (
    "專专 兩两 鄉乡 關关 內内 別别 辦办 務务 動动 區区 單单 縣县 發发 變变 號号 啟启 啓启 處处 塵尘 "
    "層层 屬属 應应 開开 歸归 總总 戶户 報报 數数 時时 來来 標标 樣样 檔档 檢检 殘残 測测 點点 現现 "
    "電电 碼码 積积 稱称 類类 級级 結结 統统 綜综 緩缓 編编 計计 記记 訪访 評评 訴诉 調调 責责 賬账 "
    "帳账 車车 轉转 轄辖 達达 鎮镇 鎭镇 閉闭 問问 間间 階阶 項项 題题 驗验 劃划 網网 掛挂 據据 採采"
).split()))


def normalize_header(text: object) -> str:
    t = unicodedata.normalize("NFKC", "" if text is None else str(text)).lower().translate(_TRADITIONAL)
    return _IGNORED.sub("", t)


def _strip_brackets(key: str) -> str:
    return _BRACKETED.sub("", key)


@lru_cache(maxsize=1)
def default_aliases() -> dict:
    text = resources.files("cityanalytics").joinpath("data/aliases.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def read_alias_file(path: str | Path) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a readable YAML alias file ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of table -> column -> [aliases]")
    return data


def merged_aliases(extra: Aliases | None = None) -> dict:
    """The default alias table with a user's additions in front (theirs win)."""
    base = default_aliases()
    merged = {k: {c: list(v) for c, v in (m or {}).items()} for k, m in base.items() if k != "value_fixes"}
    merged["value_fixes"] = dict(base.get("value_fixes") or {})
    # values: {table: {column: {variant: term}}}, variants of closed vocabularies (监督员上报 -> 监督员).
    merged["values"] = {t: {c: dict(v or {}) for c, v in (cols or {}).items()}
                        for t, cols in (base.get("values") or {}).items()}
    for table_name, columns in (extra or {}).items():
        if table_name == "value_fixes":
            merged["value_fixes"].update(columns or {})
            continue
        if table_name == "values":
            for t, cols in (columns or {}).items():
                for c, variants in (cols or {}).items():
                    merged["values"].setdefault(t, {}).setdefault(c, {}).update(variants or {})
            continue
        target = merged.setdefault(table_name, {})
        for column, names in (columns or {}).items():
            target[column] = list(names) + target.get(column, [])
    return merged


def lookup(table_name: str, aliases: dict) -> dict[str, str]:
    """normalised alias -> canonical column, for one table, in priority order."""
    canonical = get_table(table_name).names
    out: dict[str, str] = {}
    for name in canonical:
        out.setdefault(normalize_header(name), name)
    for source in (aliases.get(table_name) or {}, aliases.get("common") or {}):
        for column, names in source.items():
            if column not in canonical:
                continue
            for alias in names:
                out.setdefault(normalize_header(alias), column)
    return out


def canonical_for(header: object, table_lookup: dict[str, str]) -> str | None:
    key = normalize_header(header)
    if not key:
        return None
    return table_lookup.get(key) or table_lookup.get(_strip_brackets(key))


def map_columns(headers: list[object], table_name: str, aliases: dict) -> tuple[dict[int, str], list[str]]:
    """Map header positions to canonical columns.

    Returns {position: canonical name} and notes about columns that were ignored. When two
    columns map to the same canonical name, the one whose alias comes first in the table
    (the more specific one) wins and the other is noted.
    """
    table_lookup = lookup(table_name, aliases)
    priority = {alias: i for i, alias in enumerate(table_lookup)}
    candidates: dict[str, list[tuple[int, int]]] = {}
    for pos, header in enumerate(headers):
        column = canonical_for(header, table_lookup)
        if column is None:
            continue
        key = normalize_header(header)
        rank = priority.get(key, priority.get(_strip_brackets(key), 10**6))
        candidates.setdefault(column, []).append((rank, pos))
    mapping: dict[int, str] = {}
    notes: list[str] = []
    for column, found in candidates.items():
        found.sort()
        mapping[found[0][1]] = column
        for _, pos in found[1:]:
            notes.append(
                f"column {headers[pos]!r} also looks like {column}; using {headers[found[0][1]]!r} and ignoring it"
            )
    return dict(sorted(mapping.items())), notes


def header_score(cells: list[object], table_name: str, aliases: dict) -> int:
    """How many distinct canonical columns a candidate header row names."""
    table_lookup = lookup(table_name, aliases)
    return len({c for c in (canonical_for(x, table_lookup) for x in cells) if c})
