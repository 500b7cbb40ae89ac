"""A realistic synthetic project master dump and its previous snapshot, with
what was planted between them known exactly: changed rows (and which
columns), new, removed, duplicated keys and missing required values.
Used by bench/ingest.py and the exactness tests; vectorized with numpy so a
million rows take a second or two."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MARKETS = np.array(["NYC", "BOS", "PHL", "DC", "ATL", "MIA", "CHI", "DET", "DAL", "HOU", "DEN", "PHX", "LA",
                    "SF", "SEA", "POR", "MSP", "STL", "KC", "NOLA"])
REGIONS = np.array(["Northeast", "Southeast", "Midwest", "South", "Mountain", "West"])
STATUSES = np.array(["Active", "Planned", "OnHold", "Cancelled", "Complete"])
MILESTONES = np.array(["Initiated", "ConceptApproved", "MilestoneApproved", "DesignComplete", "Built"])
PLAN_TYPES = np.array(["Standard", "Expedite", "Deferred", "Program"])
WAREHOUSES = np.array(["WH-EAST", "WH-WEST", "WH-NORTH", "WH-SOUTH", "WH-CENTRAL", "WH-PACIFIC"])
OWNERS = np.array(["Acme Towers", "Summit Sites", "Crown Infra", "Vertex Realty", "Beacon Holdings"])

CATEGORIES = {"market": MARKETS, "region": REGIONS, "project_status": STATUSES, "milestone": MILESTONES,
              "plan_type": PLAN_TYPES, "warehouse_id": WAREHOUSES, "owner": OWNERS}
# Columns a planted change may touch besides updated_at, which moves with every change.
CHANGEABLE = ("site_code", "market", "region", "latitude", "longitude", "project_status", "milestone",
              "plan_type", "national_priority", "gated", "warehouse_id", "tower_height_m", "owner")
REQUIRED_VALUES = ("site_code", "market", "region", "latitude", "longitude", "project_status", "milestone",
                   "plan_type", "national_priority", "gated", "warehouse_id", "updated_at")
NUMBERED = {"project_id": "PRJ-", "site_code": "SITE-"}
EPOCH = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())


@dataclass
class Planted:
    current: pa.Table  # the dump, typed as a planning system writes it
    previous: pa.Table  # the previous snapshot, in canonical types
    new_keys: set[str] = field(default_factory=set)
    removed_keys: set[str] = field(default_factory=set)
    changed: dict[str, set[str]] = field(default_factory=dict)  # key -> columns
    duplicate_rows: set[int] = field(default_factory=set)  # every occurrence
    missing_rows: set[int] = field(default_factory=set)

    @property
    def quarantined_rows(self) -> set[int]:
        return self.duplicate_rows | self.missing_rows

    @property
    def unchanged(self) -> int:
        good = int(self.current.num_rows) - len(self.quarantined_rows)
        return good - len(self.new_keys) - len(self.changed)


def _frame(rng: np.random.Generator, ids: np.ndarray) -> dict[str, np.ndarray]:
    n = len(ids)
    return {
        "project_id": ids,
        "site_code": rng.integers(0, 900_000, n),
        "market": rng.integers(0, len(MARKETS), n),
        "region": rng.integers(0, len(REGIONS), n),
        "latitude": np.round(rng.uniform(25, 49, n), 6),
        "longitude": np.round(rng.uniform(-124, -67, n), 6),
        "project_status": rng.choice(len(STATUSES), n, p=[0.55, 0.25, 0.08, 0.04, 0.08]),
        "milestone": rng.integers(0, len(MILESTONES), n),
        "plan_type": rng.integers(0, len(PLAN_TYPES), n),
        "national_priority": rng.integers(1, 6, n),
        "gated": rng.random(n) < 0.15,
        "warehouse_id": rng.integers(0, len(WAREHOUSES), n),
        "updated_at": EPOCH + rng.integers(0, 300 * 86400, n),
        "tower_height_m": np.round(rng.uniform(20, 120, n), 1),
        "owner": rng.integers(0, len(OWNERS), n),
    }


def _change(rng: np.random.Generator, frame: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    """Change `rows` of `frame` in place; returns column -> bool mask over `rows`."""
    k = len(rows)
    chosen = rng.random((k, len(CHANGEABLE))) < 0.15
    chosen[np.arange(k), rng.integers(0, len(CHANGEABLE), k)] = True
    masks: dict[str, np.ndarray] = {}
    for j, name in enumerate(CHANGEABLE):
        hit = rows[chosen[:, j]]
        masks[name] = chosen[:, j]
        values = frame[name]
        if name in CATEGORIES:
            size = len(CATEGORIES[name])
            values[hit] = (values[hit] + rng.integers(1, size, len(hit))) % size
        elif name == "site_code":
            values[hit] = values[hit] + 900_000
        elif name in ("latitude", "longitude"):
            values[hit] = np.round(values[hit] + rng.uniform(0.001, 0.5, len(hit)), 6)
        elif name == "tower_height_m":
            values[hit] = values[hit] + rng.integers(1, 10, len(hit))
        elif name == "national_priority":
            values[hit] = (values[hit] - 1 + rng.integers(1, 5, len(hit))) % 5 + 1
        elif name == "gated":
            values[hit] = ~values[hit]
    frame["updated_at"][rows] += rng.integers(3600, 30 * 86400, k)
    masks["updated_at"] = np.ones(k, dtype=bool)
    return masks


def _table(frame: dict[str, np.ndarray], dump: bool, nulls: dict[str, np.ndarray] | None = None) -> pa.Table:
    """As a planning system writes it (`dump`: int32 priority, naive ms
    timestamps) or as our canonical snapshot (int64, UTC us)."""
    nulls = nulls or {}
    ts = pa.timestamp("ms") if dump else pa.timestamp("us", tz="UTC")
    columns: dict[str, pa.Array] = {}
    for name, values in frame.items():
        mask = nulls.get(name)
        if name in CATEGORIES:
            values = CATEGORIES[name][values]
        if name in NUMBERED:
            digits = pc.utf8_lpad(pa.array(values).cast(pa.string()), 7, "0")
            text = pc.binary_join_element_wise(NUMBERED[name], digits, "")
            columns[name] = text if mask is None else pc.if_else(pa.array(mask), pa.scalar(None, pa.string()), text)
        elif name == "updated_at":
            unit = 1000 if dump else 1_000_000
            columns[name] = pa.array(values * unit, pa.int64(), mask=mask).cast(ts)
        elif name == "national_priority":
            columns[name] = pa.array(values, pa.int32() if dump else pa.int64(), mask=mask)
        else:
            columns[name] = pa.array(values, mask=mask)
    return pa.table(columns)


def _key(number: int) -> str:
    return f"PRJ-{number:07d}"


def generate_master(rows: int, seed: int = 7, *, changed: float = 0.02, new: float = 0.005,
                    removed: float = 0.005, duplicates: float = 0.001, missing: float = 0.001,
                    shuffle: bool = False) -> Planted:
    """A dump of `rows` rows and the snapshot it is compared against.

    Like consecutive exports of one planning system, the dump keeps the
    previous dump's row order, with new and duplicate rows inserted at random
    places; `shuffle` scrambles it completely (the worst case for the join)."""
    rng = np.random.default_rng(seed)
    k_new, k_removed = round(rows * new), round(rows * removed)
    k_changed, k_dup, k_missing = round(rows * changed), round(rows * duplicates), round(rows * missing)
    previous_rows = rows - k_new - k_dup + k_removed
    ids = rng.permutation(rows * 2)[: previous_rows + k_new]
    previous = _frame(rng, ids[:previous_rows])
    fresh = _frame(rng, ids[previous_rows:])

    order = rng.permutation(previous_rows)
    removed_at = order[:k_removed]
    kept = np.sort(order[k_removed:])
    pick = rng.permutation(len(kept))
    changed_at = kept[pick[:k_changed]]
    dup_at = kept[pick[k_changed:k_changed + k_dup]]
    missing_at = kept[pick[k_changed + k_dup:k_changed + k_dup + k_missing]]

    current = {name: values.copy() for name, values in previous.items()}
    masks = _change(rng, current, changed_at)
    keep = np.ones(previous_rows, dtype=bool)
    keep[removed_at] = False
    # Row provenance before shuffling: index into `current`, or into `fresh` (offset), or a duplicate.
    source = np.concatenate([np.nonzero(keep)[0], previous_rows + np.arange(k_new), dup_at])
    kinds = np.concatenate([np.zeros(keep.sum(), dtype=np.int8), np.ones(k_new, dtype=np.int8),
                            np.full(k_dup, 2, dtype=np.int8)])
    if shuffle:
        order_of = rng.permutation(len(source))
    else:
        places = np.concatenate([np.nonzero(keep)[0].astype(float), rng.uniform(0, previous_rows, k_new + k_dup)])
        order_of = np.argsort(places, kind="stable")
    source, kinds = source[order_of], kinds[order_of]

    merged = {name: np.concatenate([current[name], fresh[name]]) for name in current}
    dump = {name: values[source] for name, values in merged.items()}
    dup_rows = np.nonzero(kinds == 2)[0]
    # Half the duplicate rows disagree with the original (the usual way duplicates arrive).
    half = dup_rows[: len(dup_rows) // 2]
    dump["national_priority"][half] = dump["national_priority"][half] % 5 + 1

    nulls: dict[str, np.ndarray] = {}
    is_missing = np.isin(source, missing_at) & (kinds == 0)
    missing_rows = np.nonzero(is_missing)[0]
    which = rng.integers(0, len(REQUIRED_VALUES), len(missing_rows))
    for j, name in enumerate(REQUIRED_VALUES):
        mask = np.zeros(len(source), dtype=bool)
        mask[missing_rows[which == j]] = True
        nulls[name] = mask
    dup_keys = previous["project_id"][dup_at]
    all_dup_rows = np.nonzero(np.isin(dump["project_id"], dup_keys))[0]

    planted = Planted(current=_table(dump, dump=True, nulls=nulls), previous=_table(previous, dump=False))
    planted.new_keys = {_key(k) for k in fresh["project_id"].tolist()}
    planted.removed_keys = {_key(k) for k in previous["project_id"][removed_at].tolist()}
    names = list(masks)
    changed_keys = previous["project_id"][changed_at].tolist()
    planted.changed = {_key(key): {n for n in names if masks[n][i]} for i, key in enumerate(changed_keys)}
    planted.duplicate_rows = set(all_dup_rows.tolist())
    planted.missing_rows = set(missing_rows.tolist())
    return planted
