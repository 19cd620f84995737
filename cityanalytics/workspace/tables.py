"""Find and load a workspace's canonical tables (see ``cityanalytics.workspace``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd

RECIPE = "sources.yaml"
TABLES_DIR = "tables"
TABLE_SUFFIXES = (".parquet", ".csv", ".xlsx")


@dataclass
class Workspace:
    """A workspace folder, or a folder of canonical tables (``tables_dir == root``)."""

    root: Path
    tables_dir: Path
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def is_recipe(self) -> bool:
        """True for a workspace with a recipe (``sources.yaml``), False for a plain table folder."""
        return (self.root / RECIPE).is_file()

    @property
    def recipe_path(self) -> Path:
        return self.root / RECIPE

    @property
    def params_dir(self) -> Path:
        return self.root / "params"

    @property
    def outputs_dir(self) -> Path:
        return self.root / "outputs"

    @property
    def targets_path(self) -> Path | None:
        path = self.root / "targets.yaml"
        return path if path.is_file() else None

    @cached_property
    def recipe(self):
        """The checked recipe (``cityanalytics.workspace.recipe.Recipe``: name, source, synthetic,
        as_of, tables), or None for a plain folder of tables. Raises ``RecipeError`` when it is wrong."""
        if not self.is_recipe:
            return None
        from cityanalytics.workspace.recipe import read_recipe

        return read_recipe(self.recipe_path)

    @property
    def build_info(self) -> dict | None:
        """``tables/build.json`` of the last ``cityanalytics build`` (None when never built)."""
        import json

        path = self.tables_dir / "build.json"
        if not self.is_recipe or not path.is_file():
            return None
        return json.loads(path.read_text(encoding="utf-8"))

    def path(self, table: str) -> Path | None:
        """The file holding canonical ``table`` (Parquet first), or None when there is none."""
        for suffix in TABLE_SUFFIXES:
            candidate = self.tables_dir / f"{table}{suffix}"
            if candidate.is_file():
                return candidate
        units = self.root / "units.csv"
        if table == "districts" and self.is_recipe and units.is_file() and _has_rows(units):
            return units
        return None

    def has(self, table: str) -> bool:
        return self.path(table) is not None

    @cached_property
    def present(self) -> list[str]:
        """The canonical tables this workspace holds, in the schema's order."""
        from cityanalytics import schemas

        return [name for name in schemas.TABLES if self.has(name)]

    def load(self, table: str, **options):
        """``cityanalytics.io.load`` on the table's file: the frame and its load report.

        Raises ``FileNotFoundError`` naming the workspace when the table is absent.
        """
        from cityanalytics.io import load

        path = self.path(table)
        if path is None:
            raise FileNotFoundError(f"{self.root}: no {table} table "
                                    f"({', '.join(table + s for s in TABLE_SUFFIXES)} in {self.tables_dir})")
        return load(path, table, **options)

    def table(self, table: str) -> pd.DataFrame | None:
        """The canonical table as a DataFrame (cached per workspace), or None when absent."""
        if table not in self._cache:
            self._cache[table] = self.load(table).frame if self.has(table) else None
        return self._cache[table]


def _has_rows(path: Path) -> bool:
    """A CSV with at least one line below its header (init writes units.csv with the header only)."""
    with open(path, "rb") as fh:
        lines = (line.strip() for line, _ in zip(fh, range(1000)))
        return sum(1 for line in lines if line) > 1


def open_workspace(path: str | Path) -> Workspace:
    """A ``Workspace`` for ``path``: a workspace folder (with ``sources.yaml``) or a table folder."""
    if isinstance(path, Workspace):
        return path
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a folder (expected a workspace or a folder of canonical tables)")
    tables_dir = root / TABLES_DIR if (root / RECIPE).is_file() else root
    return Workspace(root=root, tables_dir=tables_dir)
