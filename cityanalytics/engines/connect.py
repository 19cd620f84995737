"""Ibis backends for an Engine, and tables on them from a path, a DataFrame or a table name."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
import threading
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from cityanalytics.engines.spec import Engine, engine_of

_spark_lock = threading.Lock()
_spark: dict[Engine, object] = {}


@contextmanager
def backend(engine: Engine | str | dict | None = None):
    """An Ibis backend for ``engine``. DuckDB: a fresh in-process connection, closed afterwards.
    Spark: one session per setting for the life of the process (starting one takes seconds)."""
    engine = engine_of(engine)
    if engine.kind == "duckdb":
        import ibis

        con = ibis.duckdb.connect(engine.database or ":memory:")
        con.raw_sql("PRAGMA disable_progress_bar")  # no progress bar in reports
        try:
            yield con
        finally:
            con.disconnect()
    else:
        yield spark_backend(engine)


def spark_backend(engine: Engine):
    with _spark_lock:
        if engine not in _spark:
            _spark[engine] = _start_spark(engine)
        return _spark[engine]


def java_runtime() -> str:
    """The java executable Spark will start, or a RuntimeError naming what is missing."""
    home = os.environ.get("JAVA_HOME")
    found = str(Path(home) / "bin" / "java") if home and (Path(home) / "bin" / "java").exists() else shutil.which("java")
    if not found:
        raise RuntimeError("the Spark engine needs a Java runtime (Java 17 or later), and none was found "
                           "(no java on PATH, JAVA_HOME unset): install Debian's default-jre-headless "
                           "(scripts/install-system-deps.sh --spark does) or set JAVA_HOME")
    return found


def _start_spark(engine: Engine):
    java_runtime()
    try:
        import ibis
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise RuntimeError(f"the Spark engine needs pyspark: pip install 'cityanalytics[spark]' ({exc})") from None
    master = engine.master or "local[2]"
    conf = {
        # Timestamps in the data are wall-clock times in China; UTC keeps Spark from shifting them.
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": "false",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # pandas writes nanosecond timestamps, which Spark cannot read as such: read them as
        # integers and convert (``_spark_parquet``).
        "spark.sql.legacy.parquet.nanosAsLong": "true",
        # Nothing is saved as a managed table; keep Spark's warehouse out of the working folder.
        "spark.sql.warehouse.dir": str(Path(tempfile.gettempdir()) / "cityanalytics-spark-warehouse"),
    }
    if master.startswith("local"):
        conf["spark.sql.shuffle.partitions"] = "4"  # the default 200 only slows small local jobs
    conf.update({k: str(v) for k, v in engine.conf.items()})
    builder = SparkSession.builder.master(master).appName("cityanalytics")
    for key, value in conf.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return ibis.pyspark.connect(session)


def to_frame(con, expr) -> pd.DataFrame:
    """Run an Ibis expression on ``con`` and return a pandas frame. On DuckDB the compiled SQL
    goes straight to the connection (DuckDB's own conversion to pandas, without Ibis' round trip
    through Arrow, which costs a tenth of a 10M-case count)."""
    if con.name == "duckdb":
        import ibis

        return con.con.sql(ibis.to_sql(expr, dialect="duckdb")).df()
    return con.to_pandas(expr)


def source_table(con, source, name: str = "cases_in"):
    """An Ibis table on ``con``: a Parquet path, a pandas DataFrame or an Ibis table as is.

    ``spark:`` or ``table:`` prefixed strings name a table the backend already knows (a
    warehouse or catalog table), e.g. ``table:city.cases_2025``.
    """
    import ibis

    if isinstance(source, ibis.Table):
        return source
    if isinstance(source, pd.DataFrame):
        if con.name == "pyspark":
            return _spark_view(con, con._session.createDataFrame(_spark_ready(source)), name)
        if con.name == "duckdb":
            # DuckDB scans the DataFrame in place, with its own types (nanosecond timestamps kept).
            con.con.register(name, source)
            return con.table(name)
        return ibis.memtable(source)
    text = str(source)
    if text.startswith("table:"):
        return con.table(text.removeprefix("table:"))
    if con.name == "pyspark":
        return _spark_parquet(con, text, name)
    return con.read_parquet(text)


def _spark_view(con, frame, name: str):
    view = f"{name}_{uuid.uuid4().hex[:12]}"
    frame.createOrReplaceTempView(view)
    return con.table(view)


def _spark_parquet(con, path: str, name: str):
    """A Parquet file or folder on Spark; nanosecond timestamps (read as integers) become
    microsecond timestamps, which is all the precision Spark keeps."""
    from pyspark.sql import functions as sf

    frame = con._session.read.parquet(path)
    for column in _nanosecond_columns(path):
        frame = frame.withColumn(column, sf.timestamp_micros(sf.floor(sf.col(column) / 1000)))
    return _spark_view(con, frame, name)


def _nanosecond_columns(path: str) -> list[str]:
    import pyarrow as pa
    import pyarrow.dataset as ds

    try:
        schema = ds.dataset(path, format="parquet").schema
    except (OSError, ValueError, pa.ArrowException):  # not a local path: the files are Spark's own
        return []
    return [f.name for f in schema if pa.types.is_timestamp(f.type) and f.type.unit == "ns"]


def _spark_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Spark keeps timestamps in microseconds: cut pandas' nanoseconds, as Spark would."""
    out = frame.copy()
    for c in out.columns:
        if isinstance(out[c].dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(out[c]):
            out[c] = out[c].astype("datetime64[us]")
    return out


def parquet_values(source) -> tuple[int, dict[str, int]] | None:
    """Rows, and values (non-null) per column, of a local Parquet file from its footer's
    statistics, without reading the data; None when it is not one or its statistics are
    incomplete."""
    import pyarrow.parquet as pq

    if not isinstance(source, (str, Path)) or not Path(source).is_file():
        return None
    try:
        meta = pq.ParquetFile(source).metadata
    except Exception:  # not Parquet: the engine will say so when it reads it
        return None
    counts: dict[str, int] = {}
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            column = group.column(c)
            stats = column.statistics
            if stats is None or not stats.has_null_count:
                return None
            name = column.path_in_schema
            counts[name] = counts.get(name, 0) + group.num_rows - stats.null_count
    return meta.num_rows, counts
