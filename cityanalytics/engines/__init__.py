"""Where indicator queries run: DuckDB in-process (the default) or a Spark cluster, through Ibis.

An engine is named in a workspace's ``sources.yaml`` or in a run file's parameters:

    engine: duckdb                                   # the default
    engine: {kind: spark, master: "local[2]"}        # Spark local mode
    engine: {kind: spark, master: "spark://host:7077", conf: {spark.executor.memory: 8g}}

The indicator functions take the same setting (``engine=``); the IndicatorFrame they return
does not depend on which engine counted. The case, dust, sorting and assessment indicators
aggregate on the engine (counts, sums, sums of squares per unit and period); only those rows
come back, and intervals are computed from them.
"""

from cityanalytics.engines.spec import ENGINE_KINDS, Engine, engine_of
from cityanalytics.engines.connect import backend, source_table

__all__ = ["Engine", "ENGINE_KINDS", "engine_of", "backend", "source_table"]
