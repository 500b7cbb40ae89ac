"""The previous snapshot of each dataset, as Parquet: in Blob Storage
(container `snapshots`) when a blob source is configured, else under
`<OMS_DATA_DIR>/snapshots/<dataset>.parquet`. Written last, after the store
writes, so a crash in between makes the next run redo the same writes."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from common.ingest.validate import KEY, row_keys
from common.ports import BlobSource

CONTAINER = "snapshots"


class Snapshots:
    def __init__(self, blobs: BlobSource | None, root: Path) -> None:
        self.blobs = blobs
        self.root = root

    @staticmethod
    def _name(dataset: str) -> str:
        return f"{dataset}.parquet"

    def _source(self, dataset: str) -> str | pa.BufferReader | None:
        name = self._name(dataset)
        if self.blobs is not None:
            if not self.blobs.exists(CONTAINER, name):
                return None
            local = self.blobs.local_path(CONTAINER, name)
            return local if local is not None else pa.BufferReader(self.blobs.read(CONTAINER, name))
        path = self.root / name
        return str(path) if path.exists() else None

    def open(self, dataset: str, key: tuple[str, ...], dictionaries: tuple[str, ...] = ()) -> SnapshotFile | None:
        """The snapshot opened, not read (`SnapshotFile`)."""
        source = self._source(dataset)
        return None if source is None else SnapshotFile(source, key, dictionaries)

    def load(self, dataset: str, columns: list[str] | None = None,
             dictionaries: tuple[str, ...] = ()) -> pa.Table | None:
        """The snapshot, with `dictionaries` read as dictionary columns."""
        source = self._source(dataset)
        if source is None:
            return None
        file = pq.ParquetFile(source)
        wanted = [n for n in dictionaries if n in file.schema_arrow.names and (columns is None or n in columns)]
        return pq.read_table(source, columns=columns, read_dictionary=wanted or None)

    def save(self, dataset: str, table: pa.Table) -> None:
        self.prepare(dataset, lambda: table, background=False).commit()

    def prepare(self, dataset: str, make: Callable[[], pa.Table], background: bool = True) -> PendingSnapshot:
        """The snapshot `make()` gives, written (in a thread: Arrow's writer
        releases the GIL) where no reader looks yet; `commit()` puts it in
        place. The store writes go on meanwhile, and the snapshot still
        replaces the previous one only after them."""
        return PendingSnapshot(self, dataset, make, background)

    def _partial(self, dataset: str) -> Path:
        return (self.root / self._name(dataset)).with_suffix(".parquet.partial")


class PendingSnapshot:
    """A snapshot written but not yet in place (`Snapshots.prepare`)."""

    def __init__(self, snapshots: Snapshots, dataset: str, make: Callable[[], pa.Table], background: bool) -> None:
        self.snapshots = snapshots
        self.dataset = dataset
        self._make = make
        self._data: bytes | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._write, name="snapshot-write", daemon=True)
            self._thread.start()
        else:
            self._write()

    def _write(self) -> None:
        try:
            table = self._make()
            if KEY in table.column_names:
                table = table.drop_columns([KEY])
            if self.snapshots.blobs is not None:
                sink = io.BytesIO()
                pq.write_table(table, sink)
                self._data = sink.getvalue()
                return
            self.snapshots.root.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, self.snapshots._partial(self.dataset))
        except BaseException as error:  # raised where it is committed
            self._error = error

    def _wait(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def commit(self) -> None:
        """In place: readers never see half a snapshot."""
        self._wait()
        if self._error is not None:
            raise self._error
        name = self.snapshots._name(self.dataset)
        if self.snapshots.blobs is not None:
            assert self._data is not None
            self.snapshots.blobs.write(CONTAINER, name, self._data)
            self._data = None
            return
        os.replace(self.snapshots._partial(self.dataset), self.snapshots.root / name)

    def abandon(self) -> None:
        """Not to be put in place (the writes before it failed): the previous snapshot stays."""
        self._wait()
        self._data = None
        if self.snapshots.blobs is None and self._error is None:
            self.snapshots._partial(self.dataset).unlink(missing_ok=True)


class SnapshotFile:
    """A previous snapshot opened but not read: the delta reads its columns
    one at a time as it compares them (`delta.Previous`), so the previous
    rows are never all in memory beside the dump's. KEY is made from the key
    columns once, when first asked for."""

    def __init__(self, source: str | pa.BufferReader, key: tuple[str, ...], dictionaries: tuple[str, ...] = ()) -> None:
        opened = pq.ParquetFile(source)
        names = opened.schema_arrow.names
        self.source = source
        self.dictionaries = [n for n in dictionaries if n in names]
        self.key = key
        self.num_rows: int = opened.metadata.num_rows
        self.column_names: list[str] = [*names, KEY] if KEY not in names else names
        self._names = names
        self._keys: pa.ChunkedArray | None = None
        self._file: pq.ParquetFile | None = None

    @property
    def file(self) -> pq.ParquetFile:
        """The reader of the columns, made when first read: a reader
        allocates from the Arrow pool that was the default when it was made
        (`memory.ingestion_pool()` while a dump is planned)."""
        if self._file is None:
            self._file = pq.ParquetFile(self.source, read_dictionary=self.dictionaries or None)
        return self._file

    def column(self, name: str) -> pa.ChunkedArray:
        if name == KEY and KEY not in self._names:
            if self._keys is None:
                keys = row_keys([self.column(k) for k in self.key])
                self._keys = keys if isinstance(keys, pa.ChunkedArray) else pa.chunked_array([keys])
            return self._keys
        return self.file.read(columns=[name], use_threads=False).column(0)

    def read(self) -> pa.Table:
        """Every row (a partial plan puts the rows it does not touch back)."""
        table = self.file.read()
        return table if KEY in table.column_names else table.append_column(KEY, self.column(KEY))
