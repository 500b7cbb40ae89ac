"""Settings: one pydantic-settings class, read lazily and cached.

Names follow CONTRACT.md (Settings). Nothing here is read at import time;
`get_settings()` reads the environment the first time it is called.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from common.domain.replenishment import ClassDefault

DEFAULT_RETURN_POLICY: dict[str, str] = {
    "incorrect_allocation": "delta",
    "damaged": "delta",
    "technical_issue": "delta",
    "design_change": "new_order",
    "customer_cancellation": "none",
}

DEFAULT_SLA_HOURS: dict[str, float] = {
    "Draft": 72,
    "Approved": 48,
    "Allocated": 24,
    "Released": 120,
    "PartiallyReturned": 72,
    "FullyReturned": 72,
}


# The roles an API key may grant (common/api/auth.py Role holds the same names).
API_ROLES = ("viewer", "planner", "approver", "operator", "integration", "admin")
API_KEYS_EXAMPLE = '{"<key>": {"user": "ana", "roles": ["planner"]}}'


def project_root() -> Path | None:
    """The source checkout this package runs from (`scripts/run`, an
    editable install), if it runs from one."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() else None


def default_data_dir() -> Path:
    """`<checkout>/.oms` when running from a checkout, else `./.oms`: one
    place whatever directory `oms` or `oms serve` is started from."""
    root = project_root()
    return (root if root is not None else Path.cwd()) / ".oms"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, case_sensitive=True)

    store: Literal["sqlite", "cosmos"] = Field("sqlite", validation_alias="OMS_STORE")
    # Both absolute once read (`_one_store_location`): the CLI and the server
    # find the same store whatever their working directory.
    sqlite_path: str = Field("", validation_alias="OMS_SQLITE_PATH")  # default: <data_dir>/oms.db
    data_dir: str = Field("", validation_alias="OMS_DATA_DIR")  # default: default_data_dir()

    cosmos_endpoint: str | None = Field(None, validation_alias="COSMOS_CONNECTION__accountEndpoint")
    cosmos_credential: str | None = Field(None, validation_alias="COSMOS_CONNECTION__credential")
    cosmos_client_id: str | None = Field(None, validation_alias="COSMOS_CONNECTION__clientId")
    cosmos_connection_string: str | None = Field(None, validation_alias="COSMOS_CONNECTION")
    cosmos_database: str = Field("oms", validation_alias="COSMOS_DATABASE")

    eventhub_namespace: str | None = Field(
        None, validation_alias="EVENTHUB_CONNECTION__fullyQualifiedNamespace"
    )
    eventhub_connection_string: str | None = Field(None, validation_alias="EVENTHUB_CONNECTION")
    eventhub_client_id: str | None = Field(None, validation_alias="EVENTHUB_CONNECTION__clientId")
    storage_connection: str | None = Field(None, validation_alias="AzureWebJobsStorage")
    # Identity-based storage (Azure): the blob endpoint and the user-assigned identity.
    storage_blob_uri: str | None = Field(None, validation_alias="AzureWebJobsStorage__blobServiceUri")
    storage_client_id: str | None = Field(None, validation_alias="AzureWebJobsStorage__clientId")

    allocation_schedule: str = Field("0 */15 * * * *", validation_alias="OMS_ALLOCATION_SCHEDULE")
    sla_schedule: str = Field("0 0 * * * *", validation_alias="OMS_SLA_SCHEDULE")
    # Allocation ranking and policy (docs/allocation.md).
    allocation_rank_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["national_priority", "gated", "plan_type", "order_type", "need_by",
                                 "approved_at", "order_id"],
        validation_alias="OMS_ALLOCATION_RANK_KEYS",
    )
    allocation_gated_policy: Literal["deprioritize", "exclude"] = Field(
        "deprioritize", validation_alias="OMS_ALLOCATION_GATED_POLICY"
    )
    allocation_plan_type_ranks: dict[str, int] = Field(
        default_factory=lambda: {"Coverage": 1, "Capacity": 2, "Modernization": 3},
        validation_alias="OMS_ALLOCATION_PLAN_TYPE_RANKS",
    )
    allocation_order_type_ranks: dict[str, int] = Field(
        default_factory=lambda: {"NewBuild": 1, "Upgrade": 2, "Modification": 3, "Maintenance": 4},
        validation_alias="OMS_ALLOCATION_ORDER_TYPE_RANKS",
    )
    allocation_max_short_runs: int = Field(3, ge=0, validation_alias="OMS_ALLOCATION_MAX_SHORT_RUNS")
    # One allocation run at a time (common/service/leases.py): the lease a run
    # holds, renewed before each write; a run that died frees it after this long.
    allocation_lease_seconds: float = Field(300, gt=0, validation_alias="OMS_ALLOCATION_LEASE_SECONDS")
    allocation_gated_exclude_hours: float = Field(168, ge=0, validation_alias="OMS_ALLOCATION_GATED_EXCLUDE_HOURS")
    allocation_optimal_seconds: float = Field(30, gt=0, validation_alias="OMS_ALLOCATION_OPTIMAL_SECONDS")
    # The optimal mode stops a class once its selection is proven within this
    # share of the best possible (0: proven optimal); never less than one order.
    allocation_optimal_gap: float = Field(0.001, ge=0, lt=1, validation_alias="OMS_ALLOCATION_OPTIMAL_GAP")

    qualifying_milestones: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["ConceptApproved", "MilestoneApproved"],
        validation_alias="OMS_QUALIFYING_MILESTONES",
    )
    blocking_statuses: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["Cancelled", "OnHold"], validation_alias="OMS_BLOCKING_STATUSES"
    )
    order_types: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["NewBuild", "Upgrade", "Modification", "Maintenance"],
        validation_alias="OMS_ORDER_TYPES",
    )
    warehouses: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias="OMS_WAREHOUSES"
    )

    # Engineering clearance: on, no order is approved or allocated before a
    # positive FeasibilityUpdated for its stream (off: only a "not feasible"
    # blocks it).
    require_clearance: bool = Field(False, validation_alias="OMS_REQUIRE_CLEARANCE")
    # Lines a user added by hand survive a newer design's revision (audited either way).
    keep_manual_lines: bool = Field(True, validation_alias="OMS_KEEP_MANUAL_LINES")

    api_keys: dict[str, dict[str, Any]] = Field(default_factory=dict, validation_alias="OMS_API_KEYS")
    four_eyes: bool = Field(True, validation_alias="OMS_FOUR_EYES")
    # App Service authentication sets WEBSITE_AUTH_ENABLED; only then is a
    # client principal header the platform's and not the caller's.
    trust_principal_header: bool = Field(
        False, validation_alias=AliasChoices("OMS_TRUST_PRINCIPAL_HEADER", "WEBSITE_AUTH_ENABLED")
    )
    webhook_secret: str | None = Field(None, validation_alias="OMS_WEBHOOK_SECRET")
    max_body_bytes: int = Field(5 * 1024 * 1024, validation_alias="OMS_MAX_BODY_BYTES")

    return_policy: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_RETURN_POLICY), validation_alias="OMS_RETURN_POLICY"
    )
    # How long a warehouse event that arrived before its order could take it
    # is held on the order before it is quarantined.
    hold_minutes: float = Field(1440, validation_alias="OMS_HOLD_MINUTES")
    sla_hours: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_SLA_HOURS), validation_alias="OMS_SLA_HOURS"
    )

    # Event Hub batches that could be neither stored nor quarantined (the store
    # is down) go to this Blob container, a different service from the store.
    deadletter_container: str = Field("dead-letters", validation_alias="OMS_DEADLETTER_CONTAINER")
    # The change feed publishes the outbox; what it gave up on is republished
    # by a timer once it is older than the grace period.
    outbox_republish_schedule: str = Field("0 */5 * * * *", validation_alias="OMS_OUTBOX_REPUBLISH_SCHEDULE")
    outbox_grace_minutes: float = Field(15, ge=0, validation_alias="OMS_OUTBOX_GRACE_MINUTES")
    # Retention (Cosmos DB TTL; the embedded store purges on the sweep). 0 keeps forever.
    # Idempotency markers must outlive the Event Hub retention plus the dead-letter
    # replay window: a replay older than them is refused.
    marker_ttl_days: float = Field(30, ge=0, validation_alias="OMS_MARKER_TTL_DAYS")
    outbox_ttl_days: float = Field(7, ge=0, validation_alias="OMS_OUTBOX_TTL_DAYS")  # delivered events only
    job_ttl_days: float = Field(90, ge=0, validation_alias="OMS_JOB_TTL_DAYS")  # finished job runs only
    quarantine_ttl_days: float = Field(90, ge=0, validation_alias="OMS_QUARANTINE_TTL_DAYS")  # closed records only
    # A master-data file that cannot be written within this many seconds stops
    # and is resumed where it stopped by the next attempt (the Functions
    # timeout is 10 minutes). 0: no budget (the CLI).
    ingest_time_budget_seconds: float = Field(480, ge=0, validation_alias="OMS_INGEST_TIME_BUDGET_SECONDS")
    # What one master-data file may cost (common/ingest/limits.py): more rows, or
    # more memory decoded (estimated from its first batch), and it is refused whole.
    ingest_max_rows: int = Field(5_000_000, ge=1, validation_alias="OMS_INGEST_MAX_ROWS")
    ingest_max_memory_mb: float = Field(1536, gt=0, validation_alias="OMS_INGEST_MAX_MEMORY_MB")
    ingest_max_uncompressed_mb: float = Field(2048, gt=0, validation_alias="OMS_INGEST_MAX_UNCOMPRESSED_MB")
    # A dump that would remove (master) or deactivate (catalogue) more than this
    # share of what is stored waits for an operator's confirmation.
    ingest_max_remove_share: float = Field(0.10, ge=0, le=1, validation_alias="OMS_INGEST_MAX_REMOVE_SHARE")
    # Replenishment (docs/replenishment.md): the reorder policy of a SKU class
    # ("ANT", or "*" for every class) where the `reorder-policy` dataset has
    # none for a (warehouse, SKU); a JSON object of
    # {"reorder_point", "target_level", "lead_time_days"} per class. Empty:
    # only the dataset's policies are watched.
    reorder_defaults: dict[str, ClassDefault] = Field(default_factory=dict, validation_alias="OMS_REORDER_DEFAULTS")
    # Count an open order's demand in full only when its need-by falls within
    # the lead time, and the share the lead time covers when later.
    replenishment_need_by_weighting: bool = Field(False, validation_alias="OMS_REPLENISHMENT_NEED_BY_WEIGHTING")

    smtp_host: str | None = Field(None, validation_alias="OMS_SMTP_HOST")
    smtp_port: int = Field(25, validation_alias="OMS_SMTP_PORT")
    smtp_user: str | None = Field(None, validation_alias="OMS_SMTP_USER")
    smtp_password: str | None = Field(None, validation_alias="OMS_SMTP_PASSWORD")
    smtp_starttls: bool = Field(False, validation_alias="OMS_SMTP_STARTTLS")
    smtp_from: str = Field("oms@localhost", validation_alias="OMS_SMTP_FROM")
    smtp_to: Annotated[list[str], NoDecode] = Field(default_factory=list, validation_alias="OMS_SMTP_TO")
    notify_webhook_url: str | None = Field(None, validation_alias="OMS_NOTIFY_WEBHOOK_URL")
    job_max_minutes: float = Field(120, validation_alias="OMS_JOB_MAX_MINUTES")
    # A running job run without a heartbeat (one a minute while it works) for
    # this long is marked abandoned by the sweep: its process stopped.
    job_abandon_minutes: float = Field(15, gt=0, validation_alias="OMS_JOB_ABANDON_MINUTES")
    # Incidents (docs/incidents.md). Stakeholders from settings: a JSON array of
    # {"market" | "project_id", "mail" | "webhook", "name"?} ("market": "*" hears
    # of every incident); more are added over the API. An SLA breach wave: this
    # many new breaches in one market in one sweep open an incident (JSON object
    # market -> count, "*" for the others; 0 turns a market off). An affected
    # order whose SLA runs out within the risk hours makes an incident high.
    incident_subscribers: list[dict[str, str]] = Field(default_factory=list,
                                                       validation_alias="OMS_INCIDENT_SUBSCRIBERS")
    incident_sla_wave: dict[str, int] = Field(default_factory=lambda: {"*": 10},
                                              validation_alias="OMS_INCIDENT_SLA_WAVE")
    incident_risk_hours: float = Field(24, ge=0, validation_alias="OMS_INCIDENT_RISK_HOURS")
    log_format: Literal["json", "text"] = Field("json", validation_alias="OMS_LOG_FORMAT")
    log_level: str = Field("INFO", validation_alias="OMS_LOG_LEVEL")
    appinsights_connection_string: str | None = Field(
        None, validation_alias="APPLICATIONINSIGHTS_CONNECTION_STRING"
    )

    @field_validator(
        "qualifying_milestones", "blocking_statuses", "order_types", "warehouses", "smtp_to", "allocation_rank_keys",
        mode="before",
    )
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("api_keys", "return_policy", "sla_hours", "reorder_defaults", "allocation_plan_type_ranks",
                     "allocation_order_type_ranks", "incident_sla_wave", mode="before")
    @classmethod
    def _json_object(cls, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return value

    @field_validator("incident_subscribers", mode="before")
    @classmethod
    def _json_array(cls, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else []
        return value

    @field_validator("incident_subscribers")
    @classmethod
    def _one_scope_one_channel(cls, value: list[dict[str, str]]) -> list[dict[str, str]]:
        for n, entry in enumerate(value):
            scopes = [k for k in ("market", "project_id") if entry.get(k)]
            channels = [k for k in ("mail", "webhook") if entry.get(k)]
            if len(scopes) != 1 or len(channels) != 1:
                raise ValueError(f"subscriber {n}: name one of market / project_id and one of mail / webhook")
        return value

    @field_validator("api_keys")
    @classmethod
    def _api_key_entries(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """A key whose roles are missing or misspelt would let nobody in,
        silently: refused here, naming the key's user and what to write."""
        for entry in value.values():
            who = entry.get("user") or "an entry without a user"  # never the key itself: it is a secret
            roles = entry.get("roles")
            if not isinstance(roles, list) or not roles or not all(isinstance(r, str) for r in roles):
                raise ValueError(f"{who}: roles must be a non-empty list of role names, e.g. {API_KEYS_EXAMPLE}")
            unknown = sorted(set(roles) - set(API_ROLES))
            if unknown:
                raise ValueError(f"{who}: unknown role {', '.join(unknown)} (roles: {', '.join(API_ROLES)})")
        return value

    @model_validator(mode="after")
    def _one_store_location(self) -> Settings:
        """Relative paths resolved against the working directory once, here,
        so every later reader (and what is printed) names one place."""
        data = Path(self.data_dir).expanduser() if self.data_dir.strip() else default_data_dir()
        self.data_dir = str(data.absolute())
        path = self.sqlite_path.strip()
        if not path:
            self.sqlite_path = str(data.absolute() / "oms.db")
        elif not path.startswith((":", "file:")):  # :memory: and URIs as given
            self.sqlite_path = str(Path(path).expanduser().absolute())
        return self

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def settings_with(**overrides: Any) -> Settings:
    """A copy of the settings with some values replaced (tests, CLI flags)."""
    return get_settings().model_copy(update=overrides)


__all__ = ["AliasChoices", "Settings", "get_settings", "settings_with"]
