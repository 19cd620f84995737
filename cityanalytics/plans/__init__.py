"""Plans and their targets: how far each target has come (规划目标进度).

    from cityanalytics.plans import plan_progress
    res = plan_progress("data/demo-workspace", plan="海陵")

``progress``: the arithmetic (baseline, straight-line path, ahead/behind, cumulative counts,
probability, the 红黄绿 rule); ``sources``: the series each target is judged on, computed from a
canonical table or read from the observations feed; ``report``: the report's table, page 1 and
the notebook's sections.
"""

from cityanalytics.plans.progress import RULE_ZH, Progress, Series, judge, path_value, period_end, plan_start
from cityanalytics.plans.report import PlanProgress, plan_progress

__all__ = ["plan_progress", "PlanProgress", "judge", "Series", "Progress", "path_value", "period_end",
           "plan_start", "RULE_ZH"]
