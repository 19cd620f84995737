"""Nested-model tests between two interrupted time series of the same series: does the bigger
model (a slope change, a post-campaign term, one effect per phase) fit better than the smaller?

- Gaussian (OLS): the F test on the residual sums of squares,
  F = ((RSS_s - RSS_b) / q) / (RSS_b / (n - k_b)) ~ F(q, n - k_b), and the likelihood ratio
  n log(RSS_s / RSS_b) ~ chi2(q) (statsmodels' ``compare_f_test`` / ``compare_lr_test``).
- Poisson: the likelihood ratio (deviance difference) ~ chi2(q), and the quasi-F test
  (D_s - D_b) / (q phi_b) ~ F(q, n - k_b) with phi_b the Pearson dispersion of the bigger
  model (McCullagh & Nelder 1989, sec. 12.6), which over-dispersed counts need: the plain
  likelihood ratio takes every extra unit of deviance at face value.
- Negative binomial: the likelihood ratio.

Both tests assume independent errors: residual autocorrelation (which the HAC standard
errors allow for) makes them too liberal. A half-life profiled on a grid counts as one
parameter; where the smaller model has no post-campaign term at all the decay rate is not
identified under the null and the chi2 reference is only approximate.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from cityanalytics.results import AnalysisResult

TEST_ZH = {"F": "F 检验", "LR": "似然比检验", "quasi-F": "拟 F 检验(按过度离散缩放)"}


def nested_test(small: AnalysisResult, big: AnalysisResult, alpha: float = 0.05) -> AnalysisResult:
    """Test ``small`` against ``big``, two ``its`` results on the same series (the order may
    be either way round: the one with more parameters is the bigger). Returns a result whose
    table has one row per test (test, statistic, df_num, df_den, p_value) and a sentence."""
    for r in (small, big):
        if getattr(r, "coefs", None) is None or not {"n_params", "loglik"} <= set(getattr(r, "diagnostics", {})):
            raise TypeError(f"nested_test compares two its() results, got {type(r).__name__}")
    if small.diagnostics["n_params"] > big.diagnostics["n_params"]:
        small, big = big, small
    ds, db = small.diagnostics, big.diagnostics
    fam = big.options["family"]
    if small.options["family"] != fam:
        raise ValueError(f"the two models have different families ({small.options['family']} and {fam})")
    ys = small.series["observed"].to_numpy(dtype=float)
    yb = big.series["observed"].to_numpy(dtype=float)
    if len(ys) != len(yb) or not np.allclose(ys, yb, equal_nan=True):
        raise ValueError(f"the two models are not fitted to the same series ({len(ys)} and {len(yb)} periods): "
                         "a nested test needs the same observations (e.g. the same post= and units=)")
    q = db["n_params"] - ds["n_params"]
    if q <= 0:
        raise ValueError("the two models have the same number of parameters: neither is nested in the other")
    n = len(yb)
    df_den = n - db["n_params"]
    if df_den <= 0:
        raise ValueError(f"the bigger model has {db['n_params']} parameters for {n} periods: nothing left to test with")
    rows = []
    lr = 2 * (db["loglik"] - ds["loglik"])
    if fam == "gaussian":
        F = (ds["rss"] - db["rss"]) / q / (db["rss"] / df_den)
        rows.append({"test": "F", "statistic": F, "df_num": q, "df_den": df_den, "p_value": stats.f.sf(F, q, df_den)})
        rows.append({"test": "LR", "statistic": lr, "df_num": q, "df_den": np.nan, "p_value": stats.chi2.sf(lr, q)})
    elif fam == "poisson":
        dev = ds["deviance"] - db["deviance"]
        phi = db["dispersion"]
        F = dev / (q * phi)
        rows.append({"test": "quasi-F", "statistic": F, "df_num": q, "df_den": df_den,
                     "p_value": stats.f.sf(F, q, df_den)})
        rows.append({"test": "LR", "statistic": dev, "df_num": q, "df_den": np.nan, "p_value": stats.chi2.sf(dev, q)})
    else:
        rows.append({"test": "LR", "statistic": lr, "df_num": q, "df_den": np.nan, "p_value": stats.chi2.sf(lr, q)})
    table = pd.DataFrame(rows)
    names_b, names_s = list(big.coefs.names), list(small.coefs.names)
    added = [t for t in names_b if t not in set(names_s)]
    removed = [t for t in names_s if t not in set(names_b)]
    head = table.iloc[0]
    verdict = "显著改善拟合" if head["p_value"] < alpha else "未显著改善拟合"
    labels = {**_labels(small), **_labels(big)}
    what = "、".join(labels.get(t, t) for t in added)
    if removed:  # not a plain addition: e.g. one level replaced by one per phase
        what = f"{what}(替代 {'、'.join(labels.get(t, t) for t in removed)},多 {q} 个参数)"
    df_txt = f"({int(head['df_num'])}, {int(head['df_den'])})" if math.isfinite(head["df_den"]) else f"({int(head['df_num'])})"
    sentence = (f"嵌套模型检验:增加 {what} {verdict}({TEST_ZH[head['test']]},统计量 {head['statistic']:.2f},"
                f"自由度 {df_txt},p={head['p_value']:.3g})。")
    spec = (f"较小模型 {ds['n_params']} 个参数,较大模型 {db['n_params']} 个参数,同一序列 {n} 期;"
            + ("F = (RSS小 − RSS大)/q ÷ RSS大/(n−k大)" if fam == "gaussian" else
               "拟 F = (偏差小 − 偏差大)/(q·φ大),φ 为较大模型的皮尔逊离散系数" if fam == "poisson" else
               "LR = 2(对数似然大 − 对数似然小)")
            + ";假定误差独立,残差自相关时检验偏宽松。")
    return AnalysisResult(table=table, sentences=[sentence], spec=spec,
                          extra={"added_terms": added, "removed_terms": removed, "q": q, "n": n})


def _labels(result) -> dict:
    t = result.table
    return dict(zip(t["term"], t["label_zh"])) if {"term", "label_zh"} <= set(t.columns) else {}
