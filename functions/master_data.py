"""Blob `project-master/`, `item-catalog/`, `stock-snapshots/`, `reorder-policy/` -> IngestDataset
(one Parquet dump, one job run). A rejected file is quarantined inside the
handler and the function returns normally; only a failure to store raises,
so the host retries the blob."""

from __future__ import annotations

import azure.functions as func

from common.service.bootstrap import get_deps
from common.service.handlers.datasets import ingest_dataset_blob

bp = func.Blueprint()

# Flex Consumption (infra/app/api.bicep) runs only the event-based Blob
# trigger: each container needs an Event Grid subscription (BlobCreated) to
# the app's `blobs_extension` endpoint. Locally, `oms serve` watches inbox
# folders that call the same handler.
SOURCE = func.BlobSource.EVENT_GRID


def _ingest(dataset: str, blob: func.InputStream) -> None:
    name = blob.name or "(unnamed)"
    # The binding names the blob with its container; the job run shows the name inside it.
    name = name.split("/", 1)[1] if name.startswith(f"{dataset}/") else name
    ingest_dataset_blob(get_deps(), dataset, name, blob.read())


@bp.function_name("project_master_blob")
@bp.blob_trigger(arg_name="blob", path="project-master/{name}", connection="AzureWebJobsStorage",
                 source=SOURCE)
def project_master_blob(blob: func.InputStream) -> None:
    _ingest("project-master", blob)


@bp.function_name("item_catalog_blob")
@bp.blob_trigger(arg_name="blob", path="item-catalog/{name}", connection="AzureWebJobsStorage",
                 source=SOURCE)
def item_catalog_blob(blob: func.InputStream) -> None:
    _ingest("item-catalog", blob)


@bp.function_name("stock_snapshots_blob")
@bp.blob_trigger(arg_name="blob", path="stock-snapshots/{name}", connection="AzureWebJobsStorage",
                 source=SOURCE)
def stock_snapshots_blob(blob: func.InputStream) -> None:
    _ingest("stock-snapshots", blob)


@bp.function_name("reorder_policy_blob")
@bp.blob_trigger(arg_name="blob", path="reorder-policy/{name}", connection="AzureWebJobsStorage",
                 source=SOURCE)
def reorder_policy_blob(blob: func.InputStream) -> None:
    _ingest("reorder-policy", blob)
