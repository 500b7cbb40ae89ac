"""The previous snapshot of each dataset, as Parquet: in Blob Storage
(container `snapshots`) when a blob source is configured, else under
`<OMS_DATA_DIR>/snapshots/<dataset>.parquet`. Written last, after the store
writes, so a crash in between makes the next run redo the same writes."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from common.ingest.validate import KEY
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
        if KEY in table.column_names:
            table = table.drop_columns([KEY])
        if self.blobs is not None:
            sink = io.BytesIO()
            pq.write_table(table, sink)
            self.blobs.write(CONTAINER, self._name(dataset), sink.getvalue())
            return
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / self._name(dataset)
        partial = path.with_suffix(".parquet.partial")
        pq.write_table(table, partial)
        os.replace(partial, path)  # readers never see half a snapshot
