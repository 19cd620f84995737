"""What each analysis keeps of its results for later periods and other tools (``history``).

One function per analysis turns its result object into ``{name: DataFrame}``: plain columns,
one row per unit (indicator, target, term ...), ids beside the Chinese names, so a later run
can compare itself with this one (``changes``) without re-running anything.

- comparison: ``indicators`` (the IndicatorFrame), ``league`` (every indicator's league table
  with its rank intervals), ``composite``, ``lists`` (red and black lists), ``targets``;
- forecast: ``forecast_units`` (the unit table, its numbers with the words the report shows
  beside them: ``forecast.tables.labelled``), ``forecast_fans`` (history and forecast
  quantiles by month), ``forecast_backtest``;
- campaign: ``effects`` (ITS, DiD and staggered estimates with their intervals, and the
  half-life of the effect after the campaign);
- data quality: ``load_counts`` (rows read, kept, rejected per table), ``rejections``.
"""

from __future__ import annotations

import pandas as pd

from cityanalytics.indicators.registry import get


def indicator_zh(indicator: str) -> str:
    try:
        return get(indicator).name_zh
    except (KeyError, ValueError):
        return str(indicator)


def comparison(b) -> dict[str, pd.DataFrame]:
    """A ``Bulletin``'s results."""
    out = {"indicators": b.frame.reset_index(drop=True)}
    leagues = [r.table.assign(indicator=ind, indicator_zh=indicator_zh(ind)) for ind, r in b.leagues.items()]
    if leagues:
        league = pd.concat(leagues, ignore_index=True)
        out["league"] = league[["indicator", "indicator_zh", *[c for c in league.columns
                                                                if c not in ("indicator", "indicator_zh")]]]
    if b.composite is not None:
        out["composite"] = b.composite.table.reset_index(drop=True)
    if b.lists is not None:
        out["lists"] = b.lists.table.reset_index(drop=True)
    if b.targets is not None:
        out["targets"] = b.targets.table.reset_index(drop=True)
    return out


def forecast(res) -> dict[str, pd.DataFrame]:
    """A ``ForecastResult``'s results (nothing when there was nothing to forecast)."""
    if res is None or getattr(res, "missing", ""):
        return {}
    from cityanalytics.forecast.tables import labelled

    out = {"forecast_units": labelled(res), "forecast_fans": res.fan.reset_index(drop=True)}
    if len(res.backtest):
        out["forecast_backtest"] = res.backtest.reset_index(drop=True)
    return out


EFFECT_COLUMNS = ["method", "method_zh", "term", "label_zh", "scale", "estimate", "ci_low", "ci_high", "p_value",
                  "level", "coef", "se", "half_life", "half_life_low", "half_life_high", "persistent"]


def campaign(rep) -> dict[str, pd.DataFrame]:
    """A ``CampaignReport``'s effect estimates (its ``table``), one row per method and term, for
    the ITS, the DiD and the staggered roll-out. ``estimate``, ``ci_low``, ``ci_high`` are
    percent changes for count outcomes (``scale`` pct), else the coefficient in the outcome's
    own unit (``scale`` level)."""
    from cityanalytics.impact.analysis import FITTED, effects

    table = effects(rep, designs=FITTED)
    if table.empty:
        return {}
    out = table.rename(columns={"design": "method", "design_zh": "method_zh", "conf_low": "ci_low",
                                "conf_high": "ci_high", "std_error": "se"})
    return {"effects": out[EFFECT_COLUMNS].reset_index(drop=True)}


def quality(loaded, period: str | None = None) -> dict[str, pd.DataFrame]:
    """``quality.load_tables``'s counts: per table rows read, kept, rejected (and in scope)."""
    from cityanalytics.quality import present, rejections_by_reason, table_label

    rows = []
    for name, t in present(loaded).items():
        row = {"table": name, "table_zh": table_label(name), "loaded": t.frame is not None,
               "problem": t.problem or ""}
        if t.frame is not None:
            rep = t.report
            row.update(rows_read=int(rep.rows_read), rows_kept=int(rep.rows_kept),
                       rows_rejected=int(rep.rows_rejected), rows_in_scope=int(len(t.frame)))
        rows.append(row)
    counts = pd.DataFrame(rows, columns=["table", "table_zh", "loaded", "problem", "rows_read", "rows_kept",
                                         "rows_rejected", "rows_in_scope"])
    for col in ("rows_read", "rows_kept", "rows_rejected", "rows_in_scope"):
        counts[col] = counts[col].astype("Int64")
    rejections = rejections_by_reason(loaded)
    rejections.columns = ["table", "column", "reason", "rows"]
    return {"load_counts": counts, "rejections": rejections.reset_index(drop=True)}
