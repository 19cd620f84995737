"""Controls over the campaign-impact notebook: window, treated units, models, confidence level."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import pandas as pd

from cityanalytics.widgets.explorer import LEVELS, Explorer, dropdown, nearest_level, units_picker

IMPACT_FAMILIES = [("泊松", "poisson"), ("负二项", "negbin")]
IMPACT_POST = [("指数衰减", "decay"), ("持续不变", "level"), ("不用活动后数据", "exclude")]
IMPACT_DID = [("泊松(PPML)", "poisson"), ("对数案件率(OLS)", "ols")]
IMPACT_CONTROL_GROUPS = [("从未及尚未推行", "notyet"), ("仅从未推行", "never")]


@dataclass
class ImpactSession:
    """The notebook's report and the keywords it was made with (its loaded tables are reused)."""

    base: object  # CampaignReport
    kwargs: dict  # analyse()'s keywords as the notebook called it


def impact_controls(session: ImpactSession) -> dict:
    import ipywidgets as W

    rep, kw = session.base, session.kwargs
    camp = rep.campaign
    units = sorted(set(rep.panel["unit_id"].astype(str)))
    controls = {}
    if not camp.staggered:
        controls["window_start"] = W.DatePicker(value=camp.start.date(), description="活动开始",
                                                style={"description_width": "initial"})
        controls["window_end"] = W.DatePicker(value=camp.end.date(), description="活动结束",
                                              style={"description_width": "initial"})
        controls["family"] = dropdown("计数模型", IMPACT_FAMILIES, kw.get("family", "poisson"), "190px")
        controls["post"] = dropdown("活动后", IMPACT_POST, kw.get("post", "decay"), "210px")
        controls["did_model"] = dropdown("双重差分", IMPACT_DID, kw.get("did_model", "poisson"), "240px")
    else:  # a staggered roll-out: Callaway-Sant'Anna, whose choice is the comparison group
        controls["control_group"] = dropdown("对照组", IMPACT_CONTROL_GROUPS, kw.get("control_group", "notyet"),
                                              "260px")
    controls["level"] = dropdown("置信水平", LEVELS, nearest_level(kw.get("level", 0.95)), "150px")
    controls["robustness"] = W.Checkbox(value=False, description="随设定重算稳健性检验(较慢,约 10 秒以上)",
                                        indent=False, layout=W.Layout(width="330px"))
    controls["units"] = units_picker("覆盖单位", {u: rep.names.get(u, u) for u in units}, camp.units)
    return controls


def impact_update(session: ImpactSession, values: dict):
    """Refit ITS and DiD for the chosen window, treated units, models and confidence level.
    The robustness checks are rerun only when asked (they refit the model hundreds of times);
    otherwise the report keeps the notebook's and says so."""
    from cityanalytics.impact.report import analyse

    base, kw = session.base, dict(session.kwargs)
    camp = base.campaign
    if not values["units"]:
        raise ValueError("请至少选择一个覆盖单位")
    window = None
    if "window_start" in values:
        start, end = pd.Timestamp(values["window_start"]), pd.Timestamp(values["window_end"])
        if (start, end) != (camp.start, camp.end):
            window = (start, end)
    kw.update({k: values[k] for k in ("family", "post", "did_model", "control_group") if k in values})
    kw.update(level=float(values["level"]), window=window)
    if tuple(values["units"]) != tuple(camp.units):
        kw["treated_units"] = list(values["units"])
    if not values["robustness"]:
        kw["robustness_checks"] = []
    rep = analyse(tables=base.tables, **kw)
    if not values["robustness"]:
        rep.robustness = base.robustness
        if base.robustness is not None:
            rep.notes.append("稳健性检验仍是笔记本初始设定的结果;勾选“随设定重算稳健性检验”可按当前设定重算。")
    return rep


def impact_explorer(rep, *, interactive: bool | None = None, **kwargs) -> Explorer:
    """Controls over ``notebooks/campaign_impact.ipynb``: campaign window, treated units, count
    and DiD models, confidence level, and whether to rerun the robustness checks.

    kwargs: the keywords the notebook passed to ``impact.report.analyse``."""
    session = ImpactSession(rep, kwargs)
    return Explorer(rep, partial(impact_controls, session), partial(impact_update, session), {}, interactive)
