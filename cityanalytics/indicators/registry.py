"""The indicator registry: names, formulas, units, direction and sources of every indicator."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import pandas as pd
import yaml

KINDS = ("proportion", "count", "mean", "quantile")
DIRECTIONS = ("higher_better", "lower_better", "neutral")


@dataclass(frozen=True)
class Indicator:
    id: str
    name_zh: str
    name_en: str
    kind: str
    unit: str
    direction: str
    formula_zh: str
    formula_en: str
    standard: str
    confidence: str
    table: str  # the canonical table it is computed from
    needs: tuple[str, ...]  # columns that must hold values for it to be computable

    @property
    def sign(self) -> int:
        """+1 when higher is better, -1 when lower is better, 0 when neither."""
        return {"higher_better": 1, "lower_better": -1, "neutral": 0}[self.direction]

    def label(self, with_unit: bool = True) -> str:
        return f"{self.name_zh}({self.unit})" if with_unit else self.name_zh


@lru_cache(maxsize=1)
def registry() -> dict[str, Indicator]:
    text = resources.files("cityanalytics").joinpath("data/indicators.yaml").read_text(encoding="utf-8")
    out = {}
    for key, entry in yaml.safe_load(text).items():
        ind = Indicator(id=key, **{**entry, "needs": tuple(entry.get("needs") or ())})
        if ind.kind not in KINDS or ind.direction not in DIRECTIONS:
            raise ValueError(f"indicators.yaml: {key}: bad kind {ind.kind!r} or direction {ind.direction!r}")
        out[key] = ind
    return out


def get(indicator_id: str) -> Indicator:
    try:
        return registry()[indicator_id]
    except KeyError:
        raise KeyError(f"unknown indicator {indicator_id!r}; known: {', '.join(registry())}") from None


def as_table() -> pd.DataFrame:
    return pd.DataFrame([vars(i) for i in registry().values()])
