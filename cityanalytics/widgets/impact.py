"""Controls over the campaign-impact notebook: window, treated units, models, confidence level.

    rep = ca.impact.run(workspace, campaign_id="C2022-BRGJ", freq="W")
    ui = ca.widgets.explore(rep)      # this module's ``explore``
    ui.show()
    ui.section(report.show_its)

A change of a control refits with ``impact.run`` from the options the report was made with
(``rep.options``). The session loads the workspace's tables once, at the first change, and
reuses them for every refit; the robustness checks (hundreds of refits) are kept from the
notebook's run unless the researcher asks to rerun them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import pandas as pd

from cityanalytics.widgets.explorer import LEVELS, Explorer, dropdown, nearest_level, units_picker

IMPACT_FAMILIES = [("泊松", "poisson"), ("负二项", "negbin")]
IMPACT_POST = [("指数衰减", "decay"), ("持续不变", "level"), ("不用活动后数据", "exclude")]
IMPACT_DID = [("泊松(PPML)", "poisson"), ("对数案件率(OLS)", "ols")]
IMPACT_CONTROL_GROUPS = [("从未及尚未推行", "notyet"), ("仅从未推行", "never")]


@dataclass
class ImpactSession:
    """The notebook's report, the options it was made with, and the workspace's tables once loaded."""

    base: object  # CampaignReport
    options: dict | None = None  # run()'s keywords, the workspace included (default: base.options)
    tables: dict | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.options is None:
            self.options = dict(self.base.options)
        if "workspace" not in self.options:
            raise ValueError("the report carries no options to refit from: make it with cityanalytics.impact.run")

    def inputs(self) -> dict:
        """The workspace's tables, read at the first refit and kept."""
        if self.tables is None:
            from cityanalytics.impact.inputs import load_inputs

            self.tables, _ = load_inputs(self.options["workspace"], self.options.get("outcome", ""))
        return self.tables


def impact_controls(session: ImpactSession) -> dict:
    import ipywidgets as widgets

    rep, kw = session.base, session.options
    camp = rep.campaign
    units = sorted(set(rep.panel["unit_id"].astype(str)))
    controls = {}
    if not camp.staggered:
        controls["window_start"] = widgets.DatePicker(value=camp.start.date(), description="活动开始",
                                                      style={"description_width": "initial"})
        controls["window_end"] = widgets.DatePicker(value=camp.end.date(), description="活动结束",
                                                    style={"description_width": "initial"})
        controls["family"] = dropdown("计数模型", IMPACT_FAMILIES, kw.get("family", "poisson"), "190px")
        controls["post"] = dropdown("活动后", IMPACT_POST, kw.get("post", "decay"), "210px")
        controls["did_model"] = dropdown("双重差分", IMPACT_DID, kw.get("did_model", "poisson"), "240px")
    else:  # a staggered roll-out: Callaway-Sant'Anna, whose choice is the comparison group
        controls["control_group"] = dropdown("对照组", IMPACT_CONTROL_GROUPS, kw.get("control_group", "notyet"),
                                              "260px")
    controls["level"] = dropdown("置信水平", LEVELS, nearest_level(kw.get("level", 0.95)), "150px")
    controls["robustness"] = widgets.Checkbox(value=False, description="随设定重算稳健性检验(较慢,约 10 秒以上)",
                                              indent=False, layout=widgets.Layout(width="330px"))
    controls["units"] = units_picker("覆盖单位", {u: rep.names.get(u, u) for u in units}, camp.units)
    return controls


def impact_update(session: ImpactSession, values: dict):
    """Refit ITS and DiD for the chosen window, treated units, models and confidence level.
    The robustness checks are rerun only when asked (they refit the model hundreds of times);
    otherwise the report keeps the notebook's and says so."""
    from cityanalytics.impact.analysis import run

    base, kw = session.base, dict(session.options)
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
    workspace = kw.pop("workspace")
    rep = run(workspace, tables=session.inputs(), **kw)
    rep.load_summary = base.load_summary
    if not values["robustness"]:
        rep.robustness = base.robustness
        if base.robustness is not None:
            rep.notes.append("稳健性检验仍是笔记本初始设定的结果;勾选“随设定重算稳健性检验”可按当前设定重算。")
    return rep


def explore(result, interactive: bool | None = None) -> Explorer:
    """Controls over ``notebooks/campaign_impact.ipynb`` for ``impact.run``'s report: campaign
    window, treated units, count and DiD models, confidence level, and whether to rerun the
    robustness checks. In a report run: no widgets, the sections render the report as it is."""
    session = ImpactSession(result)
    return Explorer(result, partial(impact_controls, session), partial(impact_update, session), {}, interactive)

