"""The demo city's 市民满意度 survey (third-party 测评, as 淄博 and 常州's plans commission it).

Two waves (``WAVES``), each a stratified cluster sample: the strata are the ten case-bearing units,
``PSUS`` communities (the PSUs) drawn in each, ``PER_PSU`` respondents per community. The design
weight is the unit's adult population over its respondents (every respondent of a unit stands for
the same number of residents), so a unit's weighted figures are its sample's own.

The answers are set, not drawn: in each unit, wave and question the sample holds exactly
``round(share × n)`` answers of each option (``_shares``; shuffled over the respondents and their
communities), so the satisfaction indices are known exactly: ``truth()`` gives every unit's and the
city's share satisfied (满意 or 非常满意) and mean score by wave. No plan of targets.yaml sets a
numeric satisfaction target; the levels (about 80-90% satisfied, rising between the waves) are the demo's own.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .units import SERIES

STREAM = 13
WAVES = ("2024H2", "2025H1")
QUESTIONS = ("总体满意度", "市容环境满意度", "垃圾分类满意度")
OPTIONS = ("非常满意", "满意", "一般", "不满意", "非常不满意")  # scores 5, 4, 3, 2, 1
SCORES = dict(zip(OPTIONS, (5, 4, 3, 2, 1)))
PSUS, PER_PSU = 12, 10
ADULT_SHARE = 0.83  # residents aged 15 and over


def _shares(unit: int, wave: int, question: int) -> np.ndarray:
    """Share answering each option (OPTIONS order) in a unit, wave and question."""
    satisfied = 0.80 + 0.01 * (unit % 5) + 0.03 * wave - 0.02 * question  # 0.74 - 0.87
    top = satisfied * (0.40 + 0.02 * (unit % 3))
    rest = 1 - satisfied
    return np.array([top, satisfied - top, rest * 0.6, rest * 0.3, rest * 0.1])


def _counts(shares: np.ndarray, n: int) -> np.ndarray:
    """Whole answers per option summing to n (largest remainders)."""
    raw = shares * n
    counts = np.floor(raw).astype(int)
    counts[np.argsort(-(raw - counts), kind="stable")[: n - counts.sum()]] += 1
    return counts


def generate(seed: int) -> tuple[pd.DataFrame, dict]:
    """(survey_responses, truth) for this seed."""
    rng = np.random.default_rng([int(seed), STREAM])
    n = PSUS * PER_PSU
    rows = []
    for w, wave in enumerate(WAVES):
        for i, u in enumerate(SERIES):
            weight = round(u.population * ADULT_SHARE / n, 4)
            psus = np.repeat([f"{u.unit_id}-{k + 1:02d}" for k in range(PSUS)], PER_PSU)
            respondent = [f"{wave}-{u.unit_id}-{k + 1:03d}" for k in range(n)]
            for q, question in enumerate(QUESTIONS):
                answers = np.repeat(OPTIONS, _counts(_shares(i, w, q), n))
                rows.append(pd.DataFrame({
                    "respondent": respondent, "unit_id": u.unit_id, "wave": wave, "question": question,
                    "answer": rng.permutation(answers), "weight": weight, "stratum": u.unit_id, "psu": psus,
                    "stratum_size": np.nan}))
    frame = pd.concat(rows, ignore_index=True)
    return frame, truth(frame)


def truth(frame: pd.DataFrame) -> dict:
    """Share satisfied (%) and mean score by question, wave and unit, and the city (weighted)."""
    d = frame.assign(score=frame["answer"].map(SCORES), happy=frame["answer"].isin(OPTIONS[:2]))
    out: dict = {}
    for (question, wave), g in d.groupby(["question", "wave"], sort=True):
        units = {}
        for unit, h in [*g.groupby("unit_id", sort=True), ("city", g)]:
            w = h["weight"]
            units[unit] = {"share_satisfied": round(100 * float((w * h["happy"]).sum() / w.sum()), 6),
                           "mean_score": round(float((w * h["score"]).sum() / w.sum()), 6)}
        out.setdefault(question, {})[wave] = units
    return {"waves": list(WAVES), "questions": list(QUESTIONS), "options": SCORES,
            "design": f"strata = the ten units; {PSUS} communities (PSUs) per unit, {PER_PSU} respondents each; "
                      "weight = the unit's adults / its respondents",
            "satisfied": "满意 or 非常满意 (score >= 4)", "values": out}


# ---- the raw export: the survey firm's sample file ------------------------------------------------

SURVEY_FILE = "市民满意度测评样本.csv"
SURVEY_HEADERS = ["序号", "问卷编号", "所属街道", "测评批次", "题目", "回答", "设计权重", "抽样层", "抽样单元"]


def write_export(responses: pd.DataFrame, out, names, write_csv, titles):
    raw = pd.DataFrame({
        "序号": np.arange(1, len(responses) + 1), "问卷编号": responses["respondent"].astype(str),
        "所属街道": names.of(responses["unit_id"]).astype(object), "测评批次": responses["wave"].astype(str),
        "题目": responses["question"].astype(str), "回答": responses["answer"].astype(str),
        "设计权重": responses["weight"].map(lambda v: f"{float(v):.15g}"),
        "抽样层": responses["stratum"].astype(str), "抽样单元": responses["psu"].astype(str),
    })[SURVEY_HEADERS]
    span = "、".join(sorted(responses["wave"].astype(str).unique()))
    return write_csv(out / SURVEY_FILE, titles("市民满意度第三方测评样本(加权)", span), raw, ["合计", f"{len(raw)}条"])
