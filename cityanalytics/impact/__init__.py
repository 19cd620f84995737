"""Campaign impact: interrupted time series, difference-in-differences, staggered roll-outs,
robustness checks and weak-design warnings (issue 6)."""
