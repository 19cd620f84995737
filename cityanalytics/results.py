"""The shape every analysis result takes: a table, a plot and a short Chinese summary.

Like pyfixest's results, an analysis hands back one object that prints as a clear table in
a notebook, draws itself, and says in a few Chinese sentences what the numbers mean, with
the model specification stated so a reviewer can read how it was made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol, runtime_checkable

import numpy as np
import pandas as pd
from scipy import stats

from cityanalytics.text import BLANK

TIDY_COLUMNS = ["term", "estimate", "std_error", "statistic", "p_value", "conf_low", "conf_high"]


@runtime_checkable
class Result(Protocol):
    """What ``compare.run``, ``forecast.run`` and ``impact.run`` each return, whatever else
    the analysis adds: the numbers (``table``, numeric but for label columns), one row per
    estimate (``tidy()``: estimate, conf_low, conf_high), the Chinese sentences (``sentences``,
    ``summary()``), the main figure (``plot()``) and the options it was run with (``options``,
    from which ``widgets.explore`` recomputes it)."""

    table: pd.DataFrame
    sentences: list
    options: dict

    def tidy(self) -> pd.DataFrame: ...

    def summary(self) -> str: ...

    def plot(self, ax=None): ...


@dataclass
class Coefficients:
    """A fitted model's coefficients, their covariance and the reference distribution of
    their intervals: t with ``df`` degrees of freedom (one number, or one per coefficient),
    or the standard normal when ``df`` is None."""

    names: list
    params: np.ndarray
    vcov: np.ndarray
    df: object = None  # float, array or None (z)
    level: float = 0.95

    def quantile(self, level: float | None = None) -> np.ndarray:
        q = 0.5 + (self.level if level is None else level) / 2
        if self.df is None:
            return np.full(len(self.params), stats.norm.ppf(q))
        return np.broadcast_to(stats.t.ppf(q, np.asarray(self.df, dtype=float)), (len(self.params),))

    def tidy(self, level: float | None = None) -> pd.DataFrame:
        b = np.asarray(self.params, dtype=float)
        se = np.sqrt(np.maximum(np.diag(self.vcov)[: len(b)], 0.0))
        # A (numerically) zero standard error: nothing left to estimate it from, no interval.
        se = np.where(se > 1e-10 * np.maximum(np.abs(b), 1.0), se, np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            stat = b / se
        p = (2 * stats.norm.sf(np.abs(stat)) if self.df is None
             else 2 * stats.t.sf(np.abs(stat), np.asarray(self.df, dtype=float)))
        q = self.quantile(level)
        return pd.DataFrame({"term": list(self.names), "estimate": b, "std_error": se, "statistic": stat,
                             "p_value": p, "conf_low": b - q * se, "conf_high": b + q * se})

    def vcov_frame(self) -> pd.DataFrame:
        k = len(self.params)
        return pd.DataFrame(np.asarray(self.vcov)[:k, :k], index=list(self.names), columns=list(self.names))


@dataclass
class AnalysisResult:
    """table: the numbers; sentences: Chinese summary lines; spec: how it was computed."""

    table: pd.DataFrame
    sentences: list[str] = field(default_factory=list)
    spec: str = ""
    plotter: Callable | None = field(default=None, repr=False)
    extra: dict = field(default_factory=dict, repr=False)

    coefs: Coefficients | None = field(default=None, repr=False)

    def summary(self) -> str:
        """The Chinese summary: the sentences, one per line."""
        return "\n".join(self.sentences)

    def vcov(self) -> pd.DataFrame:
        """Covariance of every coefficient of the fitted model (rows and columns named by term)."""
        if self.coefs is None:
            raise NotImplementedError(f"{type(self).__name__} has no coefficient covariance")
        return self.coefs.vcov_frame()

    def tidy(self, level: float | None = None) -> pd.DataFrame:
        """One row per coefficient, as broom / pyfixest: term, estimate, std_error, statistic,
        p_value, conf_low, conf_high (all numeric but the term). Results without a coefficient
        vector give the rows of their table that have an estimate and a standard error."""
        if self.coefs is not None:
            return self.coefs.tidy(level)
        t = self.table
        need = {"term", "coef", "se", "ci_low", "ci_high"}
        if not need <= set(t.columns):
            raise NotImplementedError(f"{type(self).__name__} has no coefficient table")
        with np.errstate(divide="ignore", invalid="ignore"):
            stat = t["t"] if "t" in t else t["coef"] / t["se"]
        return pd.DataFrame({"term": t["term"], "estimate": t["coef"], "std_error": t["se"], "statistic": stat,
                             "p_value": t["p_value"] if "p_value" in t else np.nan,
                             "conf_low": t["ci_low"], "conf_high": t["ci_high"]}).reset_index(drop=True)

    def effect(self, term: str) -> pd.Series:
        """A row of the table by its term (``campaign``, ``phase:集中整治``) or by the Chinese
        label the table shows (``活动期间``, ``集中整治阶段``)."""
        t = self.table
        if "term" in t and (t["term"] == term).any():
            return t.loc[t["term"] == term].iloc[0].rename(term)
        if "label_zh" in t and (t["label_zh"] == term).any():
            return t.loc[t["label_zh"] == term].iloc[0].rename(term)
        shown = list(t["term"]) + (list(t["label_zh"]) if "label_zh" in t else [])
        raise KeyError(f"no term {term!r} in the table; terms: {', '.join(map(str, shown))}")

    def __str__(self) -> str:
        """The printed summary: the sentences, the specification and the coefficient table."""
        parts = list(self.sentences)
        if self.spec:
            parts.append(self.spec)
        try:
            coef = self.tidy()
        except NotImplementedError:
            coef = self.table
        with pd.option_context("display.width", 120, "display.max_columns", 20, "display.max_rows", 200):
            parts.append(coef.to_string(index=False, float_format=lambda x: f"{x:.4g}", na_rep=BLANK))
        return "\n".join(parts)

    def plot(self, ax=None, **kwargs):
        if self.plotter is None:
            raise NotImplementedError(f"{type(self).__name__} has no plot")
        return self.plotter(self, ax=ax, **kwargs)

    def _repr_html_(self) -> str:
        from html import escape

        parts = [f"<p>{escape(s)}</p>" for s in self.sentences]
        if self.spec:
            parts.append(f"<p><small>{escape(self.spec)}</small></p>")
        from cityanalytics.report.tables import table_html

        return "".join(parts) + table_html(self.table)
