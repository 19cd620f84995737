"""The engine setting: what it may say and how it is read from YAML or a parameter."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ENGINE_KINDS = ("duckdb", "spark")


@dataclass(frozen=True)
class Engine:
    """kind: duckdb or spark. master: Spark's master URL (``local[2]``, ``spark://host:7077``,
    ``yarn``). conf: extra Spark settings. database: DuckDB file (default in memory)."""

    kind: str = "duckdb"
    master: str | None = None
    conf: dict[str, Any] = field(default_factory=dict)
    database: str | None = None

    def __post_init__(self):
        if self.kind not in ENGINE_KINDS:
            raise ValueError(f"engine.kind must be one of {', '.join(ENGINE_KINDS)}, got {self.kind!r}")
        if self.kind != "spark" and (self.master or self.conf):
            raise ValueError(f"engine: master and conf are Spark settings, not {self.kind}'s")

    def __hash__(self):
        return hash((self.kind, self.master, tuple(sorted(self.conf.items())), self.database))


def engine_of(spec: Engine | str | dict | None, where: str = "engine") -> Engine:
    """An Engine from a setting: None (DuckDB), a kind (``"spark"``) or a mapping."""
    if spec is None:
        return Engine()
    if isinstance(spec, Engine):
        return spec
    if isinstance(spec, str):
        return Engine(kind=spec.strip().lower())
    if not isinstance(spec, dict):
        raise ValueError(f"{where}: expected a kind (duckdb, spark) or a mapping, got {type(spec).__name__}")
    unknown = set(spec) - {"kind", "master", "conf", "database"}
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; "
                         "expected kind, master, conf, database")
    conf = spec.get("conf") or {}
    if not isinstance(conf, dict):
        raise ValueError(f"{where}.conf: expected a mapping of Spark settings")
    try:
        return Engine(kind=str(spec.get("kind", "duckdb")).lower(), master=spec.get("master"),
                      conf={str(k): v for k, v in conf.items()}, database=spec.get("database"))
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
