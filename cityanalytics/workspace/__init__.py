"""A data workspace: where a run's canonical tables are and how they load.

Two shapes are accepted, so the same notebooks run on both:

- a **workspace** made by ``cityanalytics init DIR``: ``sources.yaml`` (the recipe that maps
  raw exports to canonical tables), ``units.csv``, ``targets.yaml``, ``params/``,
  ``exports/`` (raw files as they arrive), ``tables/`` (canonical Parquet written by
  ``cityanalytics build``) and ``outputs/``;
- a **folder of canonical tables** (``<table>.parquet`` / ``.csv`` / ``.xlsx``), as
  ``cityanalytics demo`` writes: treated as a workspace that is already built.

Every analysis asks a ``Workspace`` for its tables; none looks for files itself.

Modules: ``tables`` (``open_workspace``/``Workspace``), ``recipe`` (reading and checking
``sources.yaml``), ``build`` (``cityanalytics build``), ``scaffold`` (``cityanalytics init``),
``runs`` (reports on a workspace), ``glossary`` (Chinese glosses of rejection reasons),
``draft*`` (``cityanalytics map``). The recipe reference is docs/workspace.md.
"""

from cityanalytics.workspace.tables import TABLE_SUFFIXES, Workspace, open_workspace

__all__ = ["TABLE_SUFFIXES", "Workspace", "open_workspace"]
