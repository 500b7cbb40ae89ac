"""Reading a Parquet dump: file-level checks (readable, not truncated, not
empty, the schema of the contract), then record batches one at a time
(`ParquetFile.iter_batches`), each normalized as it arrives, so memory holds
the normalized columns and one decoded batch, never a row-object per row."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from common.domain.models import Reason
from common.ingest.limits import Limits, ReasonSink
from common.ingest.schema import DatasetSchema
from common.ingest.validate import Normalized, normalize_batch, schema_problems

BATCH_ROWS = 128 * 1024
# Pages are read through a buffer of this size, not a whole column chunk at a
# time: a dump written as one row group has column chunks of tens of MB.
READ_BUFFER = 1 << 20
MAGIC = b"PAR1"

Source = Path | bytes


class Rejected(Exception):
    """The whole file is refused: nothing of it may be applied."""

    def __init__(self, reasons: list[Reason], rows: int = 0) -> None:
        super().__init__("; ".join(r.msg for r in reasons))
        self.reasons = reasons
        self.rows = rows


def _file(msg: str, kind: str) -> Reason:
    return Reason(loc=["file"], msg=msg, type=kind)


def _ends(source: Source) -> tuple[int, bytes, bytes]:
    if isinstance(source, bytes):
        return len(source), source[:4], source[-4:]
    size = source.stat().st_size
    with source.open("rb") as handle:
        head = handle.read(4)
        handle.seek(max(size - 4, 0))
        tail = handle.read(4)
    return size, head, tail


def open_parquet(source: Source, dictionaries: list[str] | None = None) -> pq.ParquetFile:
    """The file, or `Rejected` with a precise reason: empty, not Parquet,
    truncated, or an unreadable footer."""
    size, head, tail = _ends(source)
    if size == 0:
        raise Rejected([_file("the file is empty (0 bytes)", "empty_file")])
    if head != MAGIC:
        raise Rejected([_file(f"not a Parquet file: it does not start with the Parquet magic bytes "
                              f"(starts with {head!r})", "not_parquet")])
    if tail != MAGIC or size < 12:
        raise Rejected([_file(f"truncated Parquet file: it starts like Parquet but its footer is missing "
                              f"({size} bytes)", "truncated_file")])
    try:
        return pq.ParquetFile(pa.BufferReader(source) if isinstance(source, bytes) else str(source),
                              read_dictionary=dictionaries or None, buffer_size=READ_BUFFER)
    except (pa.ArrowException, OSError, ValueError) as error:
        raise Rejected([_file(f"corrupt Parquet footer: {error}", "corrupt_file")]) from error


@dataclass
class Opened:
    file: pq.ParquetFile
    rows: int


def check_file(source: Source, ds: DatasetSchema, limits: Limits = Limits()) -> Opened:
    """Open and check everything that can be known before reading rows."""
    parquet = open_parquet(source)
    rows = parquet.metadata.num_rows
    if rows > limits.max_rows:
        raise Rejected([_file(f"the file holds {rows} rows, more than the {limits.max_rows} one file may hold "
                              "(OMS_INGEST_MAX_ROWS): split it", "too_many_rows")], rows)
    meta = parquet.metadata
    size_mb = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups)) / 2**20
    if size_mb > limits.max_uncompressed_mb:
        raise Rejected([_file(f"the file's pages hold {size_mb:,.0f} MB uncompressed, more than the "
                              f"{limits.max_uncompressed_mb:g} MB one file may hold "
                              "(OMS_INGEST_MAX_UNCOMPRESSED_MB): split it", "too_large")], rows)
    reasons = schema_problems(parquet.schema_arrow, ds)
    if rows == 0 and not reasons:
        # A dump without rows would mark every known row removed: refuse it.
        reasons.append(_file("the file has a schema but no rows", "empty_file"))
    if reasons:
        raise Rejected(reasons, rows)
    strings = [name for name in ds.categorical
               if pa.types.is_string(parquet.schema_arrow.field(name).type)
               or pa.types.is_large_string(parquet.schema_arrow.field(name).type)]
    if strings:  # read them as dictionaries straight from the Parquet pages
        parquet = open_parquet(source, strings)
    return Opened(parquet, rows)


def iter_normalized(opened: Opened, ds: DatasetSchema, sink: ReasonSink, batch_rows: int = BATCH_ROWS,
                    limits: Limits = Limits()) -> Iterator[Normalized]:
    """Normalized batches in file order; a page that cannot be decoded
    rejects the file (`Rejected`), since nothing has been applied yet. The
    first batch tells how much memory the whole file would take decoded: a
    file over the budget is rejected before the rest is read."""
    offset = 0
    batches = opened.file.iter_batches(batch_size=batch_rows, use_threads=True)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            break
        except (pa.ArrowException, OSError, ValueError) as error:
            raise Rejected([_file(f"corrupt Parquet data after row {offset}: {error}", "corrupt_file")],
                           opened.rows) from error
        part = normalize_batch(batch, ds, offset, sink)
        if offset == 0 and part.batch.num_rows:
            per_row = (part.batch.nbytes + batch.nbytes) / part.batch.num_rows
            needed = per_row * opened.rows * limits.working_copies / 2**20
            if needed > limits.max_memory_mb:
                raise Rejected([_file(
                    f"the file's {opened.rows} rows would take about {needed:,.0f} MB of memory decoded, more than "
                    f"the {limits.max_memory_mb:g} MB one file may take (OMS_INGEST_MAX_MEMORY_MB): split it",
                    "too_large")], opened.rows)
        yield part
        offset += batch.num_rows
    if offset != opened.rows:
        raise Rejected([_file(f"the footer announces {opened.rows} rows but {offset} could be read",
                              "corrupt_file")], opened.rows)
