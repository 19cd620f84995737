"""Design-based estimation for weighted, stratified, clustered samples (Taylor linearisation).

The estimators follow the with-replacement PSU variance that R ``survey`` (``svydesign(ids=~psu,
strata=~stratum, weights=~w)``) and Stata ``svy`` use by default: a ratio ``R = sum(w y) / sum(w x)``
is linearised to ``z_i = w_i (y_i - R x_i) / sum(w x)``; ``z`` is summed within each PSU, and

    Var(R) = sum_h (1 - f_h) n_h / (n_h - 1) * sum_i (z_hi - mean_h z)^2

over strata ``h`` with ``n_h`` PSUs (``f_h = n_h / N_h`` when the stratum's population count is
given, 0 otherwise). The design degrees of freedom are (number of PSUs) - (number of strata).

A domain (a unit within a wave) is estimated on the whole design with ``x`` and ``y`` set to 0
outside the domain, so a stratum that holds no respondent of the domain still counts (R
``svyby``/Stata ``subpop``), never by cutting the sample down to the domain.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats


@dataclass(frozen=True)
class Design:
    """The sampling design of one wave: weights, strata, PSUs and optional stratum population counts."""

    weight: np.ndarray
    stratum: np.ndarray
    psu: np.ndarray
    stratum_size: np.ndarray | None = None  # population PSUs per stratum, per row (NaN: no fpc)

    @classmethod
    def of(cls, frame: pd.DataFrame, weight: str = "weight", stratum: str | None = "stratum",
           psu: str | None = "psu", stratum_size: str | None = "stratum_size") -> "Design":
        n = len(frame)
        w = pd.to_numeric(frame[weight], errors="raise").to_numpy(dtype=float)
        if np.isnan(w).any() or (w < 0).any():
            bad = int(np.flatnonzero(np.isnan(w) | (w < 0))[0])
            raise ValueError(f"{weight}: row {frame.index[bad]} has no valid design weight (expected a number >= 0)")
        strata = _labels(frame, stratum, n, "stratum")
        psus = _labels(frame, psu, n, "psu")
        if psu is None or psu not in frame or frame[psu].isna().all():
            psus = np.arange(n).astype(str)  # each respondent is its own PSU
        fpc = None
        if stratum_size and stratum_size in frame and frame[stratum_size].notna().any():
            fpc = pd.to_numeric(frame[stratum_size]).to_numpy(dtype=float)
            if np.isnan(fpc).any():
                raise ValueError(f"{stratum_size}: given for some rows but empty in row "
                                 f"{frame.index[int(np.flatnonzero(np.isnan(fpc))[0])]}; give it for all or none")
            varies = pd.Series(fpc).groupby(strata).nunique()
            if (varies > 1).any():
                raise ValueError(f"{stratum_size}: stratum {varies[varies > 1].index[0]!r} has more than one "
                                 f"population count; give one per stratum")
        return cls(w, strata, psus, fpc)

    @property
    def df(self) -> int:
        """Design degrees of freedom: PSUs minus strata."""
        psus = pd.DataFrame({"h": self.stratum, "p": self.psu}).drop_duplicates()
        return int(len(psus) - psus["h"].nunique())


def _labels(frame: pd.DataFrame, column: str | None, n: int, what: str) -> np.ndarray:
    if column is None or column not in frame or frame[column].isna().all():
        return np.full(n, "")
    values = frame[column]
    if values.isna().any():
        row = values.index[values.isna().to_numpy()][0]
        raise ValueError(f"{column}: row {row} has no {what} while other rows have one; "
                         f"a design needs it on every row or on none")
    return values.astype(str).to_numpy()


def linearised_variance(z: np.ndarray, design: Design) -> float:
    """Variance of a total of linearised values ``z`` under the with-replacement PSU design."""
    d = pd.DataFrame({"h": design.stratum, "p": design.psu, "z": z})
    per_psu = d.groupby(["h", "p"], sort=False)["z"].sum().reset_index()
    if design.stratum_size is not None:
        sizes = pd.DataFrame({"h": design.stratum, "N": design.stratum_size}).groupby("h")["N"].first()
    total = 0.0
    for h, g in per_psu.groupby("h", sort=False):
        n_h = len(g)
        if n_h < 2:
            raise ValueError(f"stratum {h!r} has a single PSU: its variance cannot be estimated "
                             f"(merge it with a neighbouring stratum)")
        f_h = n_h / sizes[h] if design.stratum_size is not None else 0.0
        dev = g["z"].to_numpy() - g["z"].mean()
        total += (1.0 - f_h) * n_h / (n_h - 1) * float(dev @ dev)
    return total


@dataclass(frozen=True)
class Estimate:
    value: float
    se: float
    df: int
    n: int  # respondents with a value in the domain
    weight_sum: float

    def interval(self, level: float = 0.95, scale: str = "identity") -> tuple[float, float]:
        """t interval on the design df; ``scale="logit"`` for a share (Stata ``svy: proportion``)."""
        if not np.isfinite(self.se) or self.df < 1:
            return (np.nan, np.nan)
        q = stats.t.ppf(0.5 + level / 2, self.df)
        if scale == "logit":
            p = self.value
            if p <= 0 or p >= 1:
                return (p, p) if self.se == 0 else (np.nan, np.nan)
            centre, half = np.log(p / (1 - p)), q * self.se / (p * (1 - p))
            return (float(1 / (1 + np.exp(-(centre - half)))), float(1 / (1 + np.exp(-(centre + half)))))
        return (self.value - q * self.se, self.value + q * self.se)


def ratio(y: np.ndarray, x: np.ndarray, design: Design) -> Estimate:
    """``sum(w y) / sum(w x)`` with its linearised standard error (a mean when ``x`` is the domain indicator)."""
    w = design.weight
    denominator = float(w @ x)
    if denominator <= 0:
        return Estimate(np.nan, np.nan, design.df, int((x > 0).sum()), denominator)
    r = float(w @ y) / denominator
    z = w * (y - r * x) / denominator
    return Estimate(r, float(np.sqrt(linearised_variance(z, design))), design.df, int((x > 0).sum()), denominator)


def total(y: np.ndarray, design: Design) -> Estimate:
    """Horvitz-Thompson total ``sum(w y)`` with its standard error."""
    z = design.weight * y
    return Estimate(float(z.sum()), float(np.sqrt(linearised_variance(z, design))), design.df, len(y),
                    float(design.weight.sum()))


def domain_mean(values: np.ndarray, in_domain: np.ndarray, design: Design) -> Estimate:
    """Mean of ``values`` over the rows ``in_domain`` with a value; other rows stay in the design at 0."""
    has = in_domain & ~np.isnan(values)
    x = has.astype(float)
    y = np.where(has, values, 0.0)
    return ratio(y, x, design)
