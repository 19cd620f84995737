"""The shape every analysis result takes: a table, a plot and a short Chinese summary.

Like pyfixest's results, an analysis hands back one object that prints as a clear table in
a notebook, draws itself, and says in a few Chinese sentences what the numbers mean, with
the model specification stated so a reviewer can read how it was made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import pandas as pd


@dataclass
class AnalysisResult:
    """table: the numbers; sentences: Chinese summary lines; spec: how it was computed."""

    table: pd.DataFrame
    sentences: list[str] = field(default_factory=list)
    spec: str = ""
    plotter: Callable | None = field(default=None, repr=False)
    extra: dict = field(default_factory=dict, repr=False)

    @property
    def summary(self) -> str:
        return "\n".join(self.sentences)

    def plot(self, ax=None, **kwargs):
        if self.plotter is None:
            raise NotImplementedError(f"{type(self).__name__} has no plot")
        return self.plotter(self, ax=ax, **kwargs)

    def _repr_html_(self) -> str:
        from html import escape

        parts = [f"<p>{escape(s)}</p>" for s in self.sentences]
        if self.spec:
            parts.append(f"<p><small>{escape(self.spec)}</small></p>")
        return "".join(parts) + self.table.to_html(index=False, na_rep="—")
