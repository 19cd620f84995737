"""What every analysis notebook does first, in one call.

    import cityanalytics as ca
    ca.notebook.setup()   # project root as the working directory, Chinese fonts in figures

JupyterLab starts a kernel in ``notebooks/`` while the notebooks' paths (``data/demo``) are
relative to the project root, as in a report run; figures need a font with Chinese glyphs.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["setup", "project_cwd"]


def project_cwd() -> Path:
    """Work from the project root when the kernel started in its ``notebooks/`` folder."""
    here = Path.cwd()
    if here.name == "notebooks" and (here.parent / "pyproject.toml").is_file():
        os.chdir(here.parent)
    return Path.cwd()


def setup(*, max_colwidth: int | None = None) -> None:
    """Project root as the working directory and a CJK font for matplotlib (raises
    ``MissingFont`` naming the package to install when there is none); ``max_colwidth`` sets
    pandas' display width of text cells. Returns nothing, so the cell shows nothing."""
    from cityanalytics.plotting import use_cjk_font

    project_cwd()
    use_cjk_font()
    if max_colwidth is not None:
        import pandas as pd

        pd.set_option("display.max_colwidth", max_colwidth)
