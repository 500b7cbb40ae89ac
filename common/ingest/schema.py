"""The Parquet datasets of CONTRACT.md (Inbound: Parquet datasets) and of
docs/replenishment.md (reorder-policy):
required columns with their logical types, keys, value domains and
references."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import pyarrow as pa

from common.domain.bounds import MAX_ON_HAND


class Kind(StrEnum):
    STRING = "string"
    DOUBLE = "double"
    INT = "int"
    BOOL = "bool"
    TIMESTAMP = "timestamp"


# What every column is turned into before it is checked, compared or stored:
# one type per kind, so snapshots written by any producer compare equal.
CANONICAL: dict[Kind, pa.DataType] = {
    Kind.STRING: pa.string(),
    Kind.DOUBLE: pa.float64(),
    Kind.INT: pa.int64(),
    Kind.BOOL: pa.bool_(),
    Kind.TIMESTAMP: pa.timestamp("us", tz="UTC"),
}
CATEGORICAL = pa.dictionary(pa.int32(), pa.string())


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    minimum: float | None = None
    maximum: float | None = None
    # A string with few distinct values (statuses, markets, warehouses): read,
    # kept and compared as a dictionary, which is several times cheaper than
    # materializing a million strings.
    categorical: bool = False

    @property
    def canonical(self) -> pa.DataType:
        return CATEGORICAL if self.categorical else CANONICAL[self.kind]


@dataclass(frozen=True)
class DatasetSchema:
    name: str  # also the Blob container and the quarantine source
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    # column -> the reference set its values must belong to ("catalog", "warehouses")
    references: dict[str, str] = field(default_factory=dict)
    # When a row was true; an older row never replaces a newer one on reprocessing.
    version: str | None = None
    # (column, other): a row whose `column` is below its `other` is bad.
    not_below: tuple[tuple[str, str], ...] = ()

    @property
    def container(self) -> str:
        return self.name

    @property
    def job(self) -> str:
        return f"ingest-{self.name}"

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def categorical(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.categorical)


S, D, N, B, T = Kind.STRING, Kind.DOUBLE, Kind.INT, Kind.BOOL, Kind.TIMESTAMP

PROJECT_MASTER = DatasetSchema(
    name="project-master",
    columns=(
        Column("project_id", S), Column("site_code", S), Column("market", S, categorical=True),
        Column("region", S, categorical=True), Column("latitude", D, -90, 90), Column("longitude", D, -180, 180),
        Column("project_status", S, categorical=True), Column("milestone", S, categorical=True),
        Column("plan_type", S, categorical=True), Column("national_priority", N, 1, 5), Column("gated", B),
        Column("warehouse_id", S, categorical=True),
        Column("updated_at", T),
    ),
    key=("project_id",),
    version="updated_at",
)

ITEM_CATALOG = DatasetSchema(
    name="item-catalog",
    columns=(Column("sku", S), Column("description", S), Column("uom", S, categorical=True), Column("active", B)),
    key=("sku",),
)

STOCK_SNAPSHOTS = DatasetSchema(
    name="stock-snapshots",
    columns=(Column("warehouse_id", S, categorical=True), Column("sku", S), Column("on_hand", N, 0, MAX_ON_HAND),
             Column("as_of", T)),
    key=("warehouse_id", "sku"),
    references={"sku": "catalog", "warehouse_id": "warehouses"},
    version="as_of",
)

# Replenishment (docs/replenishment.md): when to reorder a SKU in a warehouse, and up to what level.
REORDER_POLICY = DatasetSchema(
    name="reorder-policy",
    columns=(Column("warehouse_id", S, categorical=True), Column("sku", S), Column("reorder_point", N, 0, None),
             Column("target_level", N, 0, None), Column("lead_time_days", N, 0, 3650)),
    key=("warehouse_id", "sku"),
    references={"sku": "catalog", "warehouse_id": "warehouses"},
    not_below=(("target_level", "reorder_point"),),
)

DATASETS: dict[str, DatasetSchema] = {d.name: d for d in (PROJECT_MASTER, ITEM_CATALOG, STOCK_SNAPSHOTS,
                                                          REORDER_POLICY)}


class UnknownDataset(ValueError):
    pass


def dataset(name: str) -> DatasetSchema:
    try:
        return DATASETS[name]
    except KeyError:
        raise UnknownDataset(f"unknown dataset {name!r}; one of {', '.join(DATASETS)}") from None
