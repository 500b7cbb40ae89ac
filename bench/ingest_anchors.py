"""The anchors of bench/ingest.py: the same validation and delta of a project
master dump against its previous snapshot, in DuckDB and in polars, on the
same files. Both are optional bench dependencies (requirements-dev.txt);
`available()` says which are installed.

The checks are ours (common/ingest): the dump's values in the canonical
types (int64 priority, timestamps in UTC microseconds, naive meaning UTC),
every occurrence of a key held more than once is a bad row, and so is a row
with a null required value, a NaN in a double or a value out of its column's
range; then, among the good rows, new keys, previous keys the dump no longer
holds (removed), and the rows whose compared columns (every column but the
key, extra ones too) differ from the previous row of their key, two nulls
and two NaNs being equal, with which columns differ. Each engine runs with
its own threads; its time ends when its results are materialized (the
changed rows with a flag per column, the new rows, the removed keys, the bad
row numbers, the count of matched rows), as ours ends when the plan is made.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from common.ingest.schema import DatasetSchema, Kind

ENGINES = ("duckdb", "polars")


@dataclass
class Outcome:
    """What a contender found, in a form every contender can give."""

    rows_read: int
    new_keys: set[str]
    removed_keys: set[str]
    bad_rows: set[int]
    changed: dict[str, set[str]]  # key -> columns
    unchanged: int
    extra: dict[str, Any] = field(default_factory=dict)


def available() -> dict[str, bool]:
    return {name: importlib.util.find_spec(name) is not None for name in ENGINES}


def _compared(dump: Path, snapshot: Path, ds: DatasetSchema) -> tuple[list[str], list[str]]:
    """The compared columns (every column but the key: the bench's files hold
    the same columns) and the doubles among them."""
    mine, theirs = pq.read_schema(dump), pq.read_schema(snapshot)
    if set(mine.names) != set(theirs.names):
        raise ValueError("the anchors compare files with the same columns")
    compared = [n for n in mine.names if n not in ds.key]
    return compared, [n for n in compared if pa.types.is_floating(mine.field(n).type)]


# ------------------------------------------------------------------ DuckDB
def duckdb_plan(dump: Path, snapshot: Path, ds: DatasetSchema) -> Callable[[], Outcome]:
    """Runs the whole plan in DuckDB; returns how to read its outcome (untimed)."""
    import duckdb

    key = ds.key[0]
    compared, doubles = _compared(dump, snapshot, ds)
    schema = pq.read_schema(dump)
    casts = []
    for name in schema.names:
        column = ds.column(name)
        quoted = f'"{name}"'
        if column is not None and column.kind is Kind.INT:
            casts.append(f"CAST({quoted} AS BIGINT) AS {quoted}")
        elif column is not None and column.kind is Kind.TIMESTAMP:
            casts.append(f"CAST({quoted} AS TIMESTAMPTZ) AS {quoted}")  # naive is UTC (TimeZone below)
        elif column is not None and column.kind is Kind.DOUBLE:
            casts.append(f"CAST({quoted} AS DOUBLE) AS {quoted}")
        else:
            casts.append(quoted)
    rules = [f'"{c.name}" IS NULL' for c in ds.columns]
    rules += [f'isnan("{c.name}")' for c in ds.columns if c.kind is Kind.DOUBLE]
    for c in ds.columns:
        if c.minimum is not None:
            rules.append(f'"{c.name}" < {c.minimum}')
        if c.maximum is not None:
            rules.append(f'"{c.name}" > {c.maximum}')
    rules.append("__dup IS NOT NULL")
    flags = []
    for name in compared:
        a, b = f'g."{name}"', f'p."{name}"'
        same_nan = f" AND NOT (isnan({a}) AND isnan({b}))" if name in doubles else ""
        flags.append(f'({a} IS DISTINCT FROM {b}{same_nan}) AS "{name}"')

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"CREATE TEMP TABLE cur AS SELECT file_row_number AS __row, {', '.join(casts)} "
                f"FROM read_parquet('{dump}', file_row_number = true)")
    con.execute(f"CREATE TEMP TABLE prev AS SELECT * FROM read_parquet('{snapshot}')")
    con.execute(f"""CREATE TEMP TABLE flagged AS
        SELECT cur.*, coalesce({' OR '.join(rules)}, false) AS __bad FROM cur
        LEFT JOIN (SELECT "{key}" AS __dup FROM cur GROUP BY 1 HAVING count(*) > 1) d ON cur."{key}" = d.__dup""")
    bad = con.sql("SELECT __row FROM flagged WHERE __bad").to_arrow_table()
    new = con.sql(f'SELECT * FROM flagged g WHERE NOT __bad AND "{key}" NOT IN '
                      f'(SELECT "{key}" FROM prev)').to_arrow_table()
    changed = con.sql(f"""SELECT * FROM (SELECT g."{key}" AS __key, {', '.join(flags)}, g.*
        FROM flagged g JOIN prev p USING ("{key}") WHERE NOT g.__bad) WHERE {' OR '.join(f'"{n}"' for n in compared)}
        """).to_arrow_table()
    matched = con.sql(f'SELECT count(*) FROM flagged g JOIN prev p USING ("{key}") WHERE NOT g.__bad').fetchall()[0]
    removed = con.sql(f'SELECT "{key}" FROM prev WHERE "{key}" NOT IN (SELECT "{key}" FROM cur WHERE "{key}" '
                          "IS NOT NULL)").to_arrow_table()
    rows = con.sql("SELECT count(*) FROM cur").fetchall()[0]
    con.close()
    return lambda: _outcome(int(rows[0]) if rows else 0, new[key], removed[key], bad["__row"], changed,
                            "__key", compared, int(matched[0]) if matched else 0)


# ------------------------------------------------------------------ polars
def polars_plan(dump: Path, snapshot: Path, ds: DatasetSchema) -> Callable[[], Outcome]:
    """Runs the whole plan in polars (lazy, one `collect_all`); returns how to read its outcome."""
    import polars as pl

    key = ds.key[0]
    compared, doubles = _compared(dump, snapshot, ds)
    casts = []
    for column in ds.columns:
        if column.kind is Kind.INT:
            casts.append(pl.col(column.name).cast(pl.Int64))
        elif column.kind is Kind.TIMESTAMP:
            casts.append(pl.col(column.name).dt.replace_time_zone("UTC").dt.cast_time_unit("us"))
        elif column.kind is Kind.DOUBLE:
            casts.append(pl.col(column.name).cast(pl.Float64))
    rules = [pl.col(c.name).is_null() for c in ds.columns]
    rules += [pl.col(c.name).is_nan().fill_null(False) for c in ds.columns if c.kind is Kind.DOUBLE]
    for c in ds.columns:
        if c.minimum is not None:
            rules.append((pl.col(c.name) < c.minimum).fill_null(False))
        if c.maximum is not None:
            rules.append((pl.col(c.name) > c.maximum).fill_null(False))
    rules.append(pl.col(key).is_duplicated() & pl.col(key).is_not_null())

    current = (pl.scan_parquet(dump).with_row_index("__row").with_columns(casts)
               .with_columns(pl.any_horizontal(rules).alias("__bad")))
    previous = pl.scan_parquet(snapshot)
    good = current.filter(~pl.col("__bad"))
    joined = good.join(previous.with_columns(pl.lit(True).alias("__in")), on=key, how="left", suffix="__p")
    flags = []
    for name in compared:
        a, b = pl.col(name), pl.col(f"{name}__p")
        differs = a.ne_missing(b)
        if name in doubles:
            differs = differs & ~(a.is_nan() & b.is_nan()).fill_null(False)
        flags.append(differs.alias(f"__{name}"))
    matched = joined.filter(pl.col("__in").is_not_null())
    changed = (matched.with_columns(flags).filter(pl.any_horizontal([pl.col(f"__{n}") for n in compared]))
               .rename({f"__{n}": n for n in compared} | {n: f"{n}__dump" for n in compared})
               .with_columns(pl.col(key).alias("__key")))
    results = pl.collect_all([
        current.select(pl.len()),
        current.filter(pl.col("__bad")).select("__row"),
        joined.filter(pl.col("__in").is_null()),
        changed,
        matched.select(pl.len()),
        previous.join(current.select(key).filter(pl.col(key).is_not_null()), on=key, how="anti").select(key),
    ])
    rows, bad, new, changed_rows, matched_count, removed = results
    return lambda: _outcome(int(rows.item()), new[key].to_arrow(), removed[key].to_arrow(),
                            bad["__row"].to_arrow(), changed_rows.to_arrow(), "__key", compared,
                            int(matched_count.item()))


def _outcome(rows: int, new: Any, removed: Any, bad: Any, changed: pa.Table, key: str, compared: list[str],
             matched: int) -> Outcome:
    keys = changed[key].to_pylist()
    columns: dict[str, set[str]] = {k: set() for k in keys}
    for name in compared:
        for k, flag in zip(keys, changed[name].to_pylist(), strict=True):
            if flag:
                columns[k].add(name)
    return Outcome(rows_read=rows, new_keys=set(new.to_pylist()), removed_keys=set(removed.to_pylist()),
                   bad_rows=set(bad.to_pylist()), changed=columns, unchanged=matched - len(keys))


PLANS: dict[str, Callable[[Path, Path, DatasetSchema], Callable[[], Outcome]]] = {
    "duckdb": duckdb_plan, "polars": polars_plan}
