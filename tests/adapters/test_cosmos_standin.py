"""The local Cosmos server refuses what Cosmos DB refuses and has what our
code relies on (tests/emulators/cosmos_server.js): limits, all-or-nothing
batches, an LSN-keyed change feed, fault injection, TTL and request charges.

These talk to the server with the raw azure-cosmos SDK (not the project's
adapter), or with raw HTTPS where the status or a header is the point."""

from __future__ import annotations

import http.client
import json
import ssl
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlparse

import pytest
from azure.cosmos import ContainerProxy, CosmosClient, DatabaseProxy, PartitionKey, exceptions

from tests.emulators import cosmos_faults as faults
from tests.emulators.settings import cosmos_endpoint, cosmos_key, cosmos_skip_reason

pytestmark = pytest.mark.emulator

MB = 1024 * 1024


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def endpoint() -> str:
    reason = cosmos_skip_reason()
    if reason is not None:
        pytest.skip(reason)
    return cosmos_endpoint() or ""


@pytest.fixture(scope="module")
def client(endpoint: str) -> CosmosClient:
    return CosmosClient(endpoint, credential=cosmos_key(), connection_verify=False)


@pytest.fixture
def database(client: CosmosClient, endpoint: str) -> Iterator[DatabaseProxy]:
    """A scratch database per test, dropped after it; no fault outlives a test."""
    faults.clear(endpoint)
    db = client.create_database(f"standin-{uuid.uuid4().hex[:12]}")
    try:
        yield db
    finally:
        faults.clear(endpoint)
        client.delete_database(db.id)


def make_container(database: DatabaseProxy, *, ttl: int | None = None,
                   indexing: dict[str, Any] | None = None) -> ContainerProxy:
    return database.create_container(f"c-{uuid.uuid4().hex[:8]}", partition_key=PartitionKey("/project_id"),
                                     default_ttl=ttl, indexing_policy=indexing)


@pytest.fixture
def container(database: DatabaseProxy) -> ContainerProxy:
    return make_container(database)


def doc(n: int | str, project: str = "P1", **extra: Any) -> dict[str, Any]:
    return {"id": f"d{n}", "project_id": project, "n": n, **extra}


def ids(container: ContainerProxy, project: str = "P1") -> list[str]:
    return sorted(d["id"] for d in container.query_items("SELECT c.id FROM c", partition_key=project))


def charge_of(container: ContainerProxy) -> float:
    return float(container.client_connection.last_response_headers["x-ms-request-charge"])


def docs_path(container: ContainerProxy) -> str:
    return "/" + quote(container.container_link) + "/docs"


def feed_pages(container: ContainerProxy, **kwargs: Any) -> tuple[list[list[dict[str, Any]]], str]:
    """Every page of a change feed read, and the continuation it ends with:
    the SDK leaves it in the last answer's etag header (rewritten into its
    own continuation token), also when the read ended on 304 with no page."""
    pages = [list(page) for page in container.query_items_change_feed(**kwargs).by_page()]
    return pages, container.client_connection.last_response_headers["etag"]


def feed(container: ContainerProxy, **kwargs: Any) -> list[dict[str, Any]]:
    return list(container.query_items_change_feed(**kwargs))


# ------------------------------------------------------------------ limits

def test_a_batch_of_101_operations_is_refused_with_400_and_writes_nothing(container: ContainerProxy) -> None:
    operations = [("create", (doc(i),)) for i in range(101)]
    with pytest.raises(exceptions.CosmosHttpResponseError) as refused:
        container.execute_item_batch(operations, partition_key="P1")
    assert refused.value.status_code == 400
    assert ids(container) == []


def test_a_batch_of_100_operations_is_accepted(container: ContainerProxy) -> None:
    results = container.execute_item_batch([("create", (doc(i),)) for i in range(100)], partition_key="P1")
    assert [r["statusCode"] for r in results] == [201] * 100
    assert len(ids(container)) == 100


def test_a_batch_over_2_mb_is_refused_with_413_and_writes_nothing(container: ContainerProxy) -> None:
    big = "x" * (800 * 1024)
    operations = [("create", (doc(i, blob=big),)) for i in range(3)]  # each item fits; the request does not
    with pytest.raises(exceptions.CosmosHttpResponseError) as refused:
        container.execute_item_batch(operations, partition_key="P1")
    assert refused.value.status_code == 413
    assert ids(container) == []


@pytest.mark.parametrize("write", ["create", "upsert"])
def test_a_write_of_an_item_over_2_mb_is_refused_with_413(container: ContainerProxy, write: str) -> None:
    with pytest.raises(exceptions.CosmosHttpResponseError) as refused:
        getattr(container, f"{write}_item")(doc(1, blob="x" * (2 * MB + 10)))
    assert refused.value.status_code == 413
    assert ids(container) == []


def test_a_replace_with_an_item_over_2_mb_is_refused_with_413_and_keeps_the_old_version(
        container: ContainerProxy) -> None:
    container.create_item(doc(1))
    with pytest.raises(exceptions.CosmosHttpResponseError) as refused:
        container.replace_item("d1", doc(1, blob="x" * (2 * MB + 10)))
    assert refused.value.status_code == 413
    assert "blob" not in container.read_item("d1", "P1")


def test_a_patch_that_grows_an_item_past_2_mb_is_refused_with_413(container: ContainerProxy) -> None:
    container.create_item(doc(1, a="x" * (1100 * 1024)))
    with pytest.raises(exceptions.CosmosHttpResponseError) as refused:  # a small request, a too large item
        container.patch_item("d1", "P1", [{"op": "add", "path": "/b", "value": "y" * (1100 * 1024)}])
    assert refused.value.status_code == 413
    assert "b" not in container.read_item("d1", "P1")


def test_a_batch_with_a_document_of_another_partition_is_refused_with_400_and_writes_nothing(
        container: ContainerProxy) -> None:
    operations = [("create", (doc(1),)), ("create", (doc(2, project="P2"),))]
    with pytest.raises(exceptions.CosmosHttpResponseError) as refused:
        container.execute_item_batch(operations, partition_key="P1")
    assert refused.value.status_code == 400
    assert ids(container, "P1") == []
    assert ids(container, "P2") == []


def test_a_create_whose_document_is_not_in_the_header_partition_is_refused_with_400(
        endpoint: str, container: ContainerProxy) -> None:
    status, headers, body = faults.request(endpoint, "POST", docs_path(container), doc(1),
                                           {"x-ms-documentdb-partitionkey": '["P2"]'})
    assert status == 400
    assert headers["x-ms-substatus"] == "1001"
    assert json.loads(body)["code"] == "BadRequest"
    assert ids(container) == []


# ------------------------------------------------------------------ batches

def test_a_batch_applies_its_operations_in_order_so_create_then_replace_of_one_id_works(
        container: ContainerProxy) -> None:
    results = container.execute_item_batch(
        [("create", (doc(1, v="first"),)), ("replace", ("d1", doc(1, v="second"))), ("read", ("d1",))],
        partition_key="P1")
    assert [r["statusCode"] for r in results] == [201, 200, 200]
    assert results[2]["resourceBody"]["v"] == "second"
    assert container.read_item("d1", "P1")["v"] == "second"


def test_a_batch_that_creates_one_id_twice_fails_with_409_and_writes_nothing(container: ContainerProxy) -> None:
    with pytest.raises(exceptions.CosmosBatchOperationError) as failed:
        container.execute_item_batch([("create", (doc(0),)), ("create", (doc(1),)), ("create", (doc(1),))],
                                     partition_key="P1")
    assert failed.value.error_index == 2
    assert [r["statusCode"] for r in failed.value.operation_responses] == [424, 424, 409]
    assert ids(container) == []


def test_a_failed_batch_of_replaces_leaves_every_document_as_it_was(container: ContainerProxy) -> None:
    one = container.create_item(doc(1, v=1))
    two = container.create_item(doc(2, v=1))
    with pytest.raises(exceptions.CosmosBatchOperationError) as failed:
        container.execute_item_batch(
            [("replace", ("d1", doc(1, v=2)), {"if_match_etag": one["_etag"]}),
             ("delete", ("d2",)),
             ("replace", ("d3", doc(3, v=2)))],
            partition_key="P1")
    assert failed.value.status_code == 404
    assert container.read_item("d1", "P1")["_etag"] == one["_etag"]
    assert container.read_item("d2", "P1")["_etag"] == two["_etag"]


def test_a_batch_replace_with_a_stale_etag_fails_with_412_and_writes_nothing(container: ContainerProxy) -> None:
    container.create_item(doc(1, v=1))
    with pytest.raises(exceptions.CosmosBatchOperationError) as failed:
        container.execute_item_batch([("create", (doc(2),)),
                                      ("replace", ("d1", doc(1, v=2)), {"if_match_etag": "stale"})],
                                     partition_key="P1")
    assert failed.value.status_code == 412
    assert ids(container) == ["d1"]


def test_a_batch_patch_sees_the_batch_s_earlier_operations(container: ContainerProxy) -> None:
    results = container.execute_item_batch(
        [("create", (doc(1, count=1),)), ("patch", ("d1", [{"op": "incr", "path": "/count", "value": 2}]))],
        partition_key="P1")
    assert results[1]["resourceBody"]["count"] == 3
    assert container.read_item("d1", "P1")["count"] == 3


# -------------------------------------------------------------- change feed

def test_the_change_feed_pages_documents_in_lsn_order_and_answers_304_when_nothing_is_new(
        endpoint: str, container: ContainerProxy) -> None:
    for i in range(5):
        container.create_item(doc(i, project="P1" if i % 2 else "P2"))
    pages, continuation = feed_pages(container, start_time="Beginning", max_item_count=2)
    assert [len(p) for p in pages] == [2, 2, 1]
    items = [d for page in pages for d in page]
    assert [d["id"] for d in items] == [f"d{i}" for i in range(5)]
    lsns = [d["_lsn"] for d in items]
    assert lsns == sorted(lsns) and len(set(lsns)) == 5
    assert all(isinstance(d["_ts"], int) for d in items)
    assert feed(container, continuation=continuation) == []

    # On the wire: the etag of the last page is the continuation, and asking
    # again with it is 304 Not Modified.
    headers = {"A-IM": "Incremental feed", "x-ms-max-item-count": "10"}
    status, answer, body = faults.request(endpoint, "GET", docs_path(container), headers=headers)
    assert status == 200
    assert answer["x-ms-item-count"] == "5"
    etag = answer["etag"]
    assert json.loads(body)["Documents"][-1]["_lsn"] == int(etag.strip('"'))
    status, answer, _ = faults.request(endpoint, "GET", docs_path(container),
                                       headers={**headers, "If-None-Match": etag})
    assert status == 304
    assert answer["etag"] == etag


def test_an_updated_document_moves_to_its_new_lsn_and_appears_once(container: ContainerProxy) -> None:
    for i in range(3):
        container.create_item(doc(i))
    _, continuation = feed_pages(container, start_time="Beginning")
    container.upsert_item(doc(0, v="again"))
    container.replace_item("d0", doc(0, v="third"))
    container.patch_item("d1", "P1", [{"op": "set", "path": "/v", "value": "patched"}])
    changed = feed(container, continuation=continuation)
    assert [(d["id"], d["v"]) for d in changed] == [("d0", "third"), ("d1", "patched")]
    everything = feed(container, start_time="Beginning")
    assert [d["id"] for d in everything] == ["d2", "d0", "d1"]
    assert everything[1]["_lsn"] < everything[2]["_lsn"]


def test_the_change_feed_scoped_to_a_partition_key_answers_only_that_partition(container: ContainerProxy) -> None:
    for i in range(6):
        container.create_item(doc(i, project=f"P{i % 3}"))
    scoped = feed(container, start_time="Beginning", partition_key="P1")
    assert [d["id"] for d in scoped] == ["d1", "d4"]
    pages, continuation = feed_pages(container, start_time="Beginning", partition_key="P2", max_item_count=1)
    assert [[d["id"] for d in p] for p in pages] == [["d2"], ["d5"]]
    container.create_item(doc(9, project="P0"))
    assert feed(container, continuation=continuation) == []
    container.create_item(doc(10, project="P2"))
    assert [d["id"] for d in feed(container, continuation=continuation)] == ["d10"]


def test_the_change_feed_from_now_answers_only_later_writes(container: ContainerProxy) -> None:
    container.create_item(doc(1))
    pages, continuation = feed_pages(container, start_time="Now")
    assert pages == []
    container.create_item(doc(2))
    assert [d["id"] for d in feed(container, continuation=continuation)] == ["d2"]


def test_the_change_feed_from_a_point_in_time_answers_documents_changed_since(container: ContainerProxy) -> None:
    first = container.create_item(doc(1))
    while time.time() < first["_ts"] + 1.05:  # _ts has one-second resolution
        time.sleep(0.05)
    second = container.create_item(doc(2))
    assert second["_ts"] > first["_ts"]
    since = datetime.fromtimestamp(second["_ts"], tz=UTC)
    assert [d["id"] for d in feed(container, start_time=since)] == ["d2"]
    assert [d["id"] for d in feed(container, start_time=datetime.fromtimestamp(first["_ts"], tz=UTC))] == ["d1", "d2"]


def test_a_transactional_batch_shares_one_lsn_and_is_never_split_across_pages(container: ContainerProxy) -> None:
    container.create_item(doc(0))
    container.execute_item_batch([("create", (doc(i),)) for i in (1, 2, 3)], partition_key="P1")
    container.create_item(doc(4))
    pages, _ = feed_pages(container, start_time="Beginning", max_item_count=2)
    assert [[d["id"] for d in p] for p in pages] == [["d0", "d1", "d2", "d3"], ["d4"]]
    lsns = [d["_lsn"] for d in pages[0]]
    assert lsns[1] == lsns[2] == lsns[3] > lsns[0]


def test_point_reads_queries_and_write_answers_do_not_carry_lsn(container: ContainerProxy) -> None:
    created = container.create_item(doc(1))
    assert "_lsn" not in created
    assert "_lsn" not in container.read_item("d1", "P1")
    assert all("_lsn" not in d for d in container.query_items("SELECT * FROM c", partition_key="P1"))
    container.upsert_item({**doc(1), "_lsn": 999999})  # a client cannot set it
    assert "_lsn" not in container.read_item("d1", "P1")
    assert feed(container, start_time="Beginning")[0]["_lsn"] < 999999


def test_the_change_feed_leaves_out_deleted_documents(container: ContainerProxy) -> None:
    container.create_item(doc(1))
    container.create_item(doc(2))
    container.delete_item("d1", "P1")
    assert [d["id"] for d in feed(container, start_time="Beginning")] == ["d2"]


# ----------------------------------------------------------- fault injection

def test_an_injected_429_is_answered_with_retry_after_then_the_server_recovers(
        endpoint: str, container: ContainerProxy) -> None:
    path = docs_path(container)
    header = {"x-ms-documentdb-partitionkey": '["P1"]'}
    fault = faults.inject(endpoint, status=429, count=1, retry_after_ms=50, method="POST", path_contains="/docs")
    assert fault["remaining"] == 1
    status, headers, body = faults.request(endpoint, "POST", path, doc(1), header)
    assert status == 429
    assert headers["x-ms-retry-after-ms"] == "50"
    assert headers["x-ms-substatus"] == "3200"
    assert headers["x-ms-request-charge"] == "0"
    error = json.loads(body)
    assert error["code"] == "TooManyRequests"
    assert "Request rate is large" in error["message"]
    assert ids(container) == []  # nothing written
    status, _, _ = faults.request(endpoint, "POST", path, doc(1), header)
    assert status == 201
    assert faults.injected(endpoint) == 1
    assert faults.injected(endpoint, status=429) == 1


def test_the_sdk_retries_an_injected_429_after_the_retry_after_and_succeeds(
        endpoint: str, container: ContainerProxy) -> None:
    faults.inject(endpoint, status=429, count=2, retry_after_ms=200, method="POST", path_contains="/docs")
    started = time.monotonic()
    container.create_item(doc(1))
    elapsed = time.monotonic() - started
    assert faults.injected(endpoint, status=429) == 2
    assert elapsed >= 0.4  # it waited what the server asked, twice
    assert ids(container) == ["d1"]


@pytest.mark.parametrize(("status", "code"), [(408, "RequestTimeout"), (503, "ServiceUnavailable")])
def test_an_injected_error_has_the_cosmos_shape_and_counts_down(endpoint: str, container: ContainerProxy,
                                                               status: int, code: str) -> None:
    faults.inject(endpoint, status=status, count=2, method="GET", path_contains="/docs/")
    container.create_item(doc(1))
    path = docs_path(container) + "/d1"
    header = {"x-ms-documentdb-partitionkey": '["P1"]'}
    for _ in range(2):
        got, headers, body = faults.request(endpoint, "GET", path, headers=header)
        assert got == status
        assert headers["x-ms-substatus"] == "0"
        assert "x-ms-retry-after-ms" not in headers
        assert json.loads(body)["code"] == code
    got, _, _ = faults.request(endpoint, "GET", path, headers=header)
    assert got == 200
    listed = faults.faults(endpoint)
    assert listed["faults"][0]["remaining"] == 0
    assert listed["by_status"] == {str(status): 2}


def test_a_fault_answers_only_requests_that_match_it(endpoint: str, container: ContainerProxy) -> None:
    faults.inject(endpoint, status=503, count=5, method="DELETE", path_contains="/docs/")
    container.create_item(doc(1))
    container.read_item("d1", "P1")
    assert faults.injected(endpoint) == 0
    with pytest.raises(exceptions.CosmosHttpResponseError) as refused:
        container.delete_item("d1", "P1")
    assert refused.value.status_code == 503
    faults.clear(endpoint)
    assert faults.faults(endpoint) == {"faults": [], "injected": 0, "by_status": {}}
    container.delete_item("d1", "P1")


def test_a_stalled_request_is_held_then_served_and_its_write_happens(
        endpoint: str, container: ContainerProxy) -> None:
    path = docs_path(container)
    header = {"x-ms-documentdb-partitionkey": '["P1"]'}
    faults.stall(endpoint, 600, method="POST", path_contains="/docs")
    started = time.monotonic()
    status, _, _ = faults.request(endpoint, "POST", path, doc(1), header)
    assert status == 201
    assert time.monotonic() - started >= 0.6

    faults.stall(endpoint, 800, method="POST", path_contains="/docs")
    with pytest.raises(TimeoutError):  # the client gives up; the server still writes
        faults.request(endpoint, "POST", path, doc(2), header, timeout=0.2)
    time.sleep(1.0)
    assert ids(container) == ["d1", "d2"]
    assert faults.injected(endpoint, status="stall") == 2


def test_a_fault_needs_a_status_or_a_delay(endpoint: str) -> None:
    with pytest.raises(ValueError, match="400"):
        faults.inject(endpoint, count=1)
    with pytest.raises(ValueError, match="400"):
        faults.inject(endpoint, status=200)


# --------------------------------------------------------------------- TTL

def test_an_expired_document_is_not_returned(container: ContainerProxy, database: DatabaseProxy) -> None:
    # Four seconds, not one: on a loaded machine three writes and a query took
    # longer than a second, and d1 was gone before the first look.
    expiring = make_container(database, ttl=4)
    expiring.create_item(doc(1))
    expiring.create_item(doc(2, ttl=-1))  # never expires
    expiring.create_item(doc(3, ttl=3600))
    assert ids(expiring) == ["d1", "d2", "d3"]
    time.sleep(5.1)
    with pytest.raises(exceptions.CosmosResourceNotFoundError):
        expiring.read_item("d1", "P1")
    assert ids(expiring) == ["d2", "d3"]
    assert [d["id"] for d in feed(expiring, start_time="Beginning")] == ["d2", "d3"]
    assert [d["id"] for d in expiring.read_all_items()] == ["d2", "d3"]


def test_with_ttl_on_and_no_default_only_documents_with_a_ttl_expire(database: DatabaseProxy) -> None:
    container = make_container(database, ttl=-1)
    container.create_item(doc(1, ttl=1))
    container.create_item(doc(2))
    container.create_item(doc(3, ttl=-1))
    time.sleep(2.1)
    assert ids(container) == ["d2", "d3"]
    with pytest.raises(exceptions.CosmosResourceNotFoundError):
        container.read_item("d1", "P1")


def test_without_ttl_on_the_container_a_document_ttl_is_ignored(container: ContainerProxy) -> None:
    container.create_item(doc(1, ttl=1))
    time.sleep(2.1)
    assert ids(container) == ["d1"]


def test_a_container_keeps_its_indexing_policy_and_default_ttl(database: DatabaseProxy) -> None:
    policy = {"indexingMode": "consistent", "automatic": True,
              "includedPaths": [{"path": "/project_id/?"}], "excludedPaths": [{"path": "/*"}]}
    container = make_container(database, ttl=-1, indexing=policy)
    read = container.read()
    assert read["defaultTtl"] == -1
    assert read["indexingPolicy"]["includedPaths"] == [{"path": "/project_id/?"}]
    assert {"path": "/*"} in read["indexingPolicy"]["excludedPaths"]
    assert read["indexingPolicy"]["indexingMode"] == "consistent"
    plain = make_container(database).read()
    assert "defaultTtl" not in plain
    assert plain["indexingPolicy"]["includedPaths"] == [{"path": "/*"}]


def test_a_default_ttl_of_zero_is_refused_with_400(database: DatabaseProxy) -> None:
    with pytest.raises(exceptions.CosmosHttpResponseError) as refused:
        make_container(database, ttl=0)
    assert refused.value.status_code == 400


def test_replacing_a_container_keeps_its_documents_and_can_turn_ttl_on(database: DatabaseProxy) -> None:
    container = make_container(database)
    container.create_item(doc(1, ttl=1))
    container.create_item(doc(2))
    database.replace_container(container, partition_key=PartitionKey("/project_id"), default_ttl=-1)
    assert ids(container) == ["d1", "d2"]
    time.sleep(2.1)
    assert ids(container) == ["d2"]


# ---------------------------------------------------------- request charge

def test_a_point_read_of_a_1_kb_item_costs_about_1_ru(container: ContainerProxy) -> None:
    container.create_item(doc(1, blob="x" * 800))
    container.read_item("d1", "P1")
    assert 0.9 <= charge_of(container) <= 1.1
    container.create_item(doc(2, blob="x" * (100 * 1024)))
    container.read_item("d2", "P1")
    assert 7 <= charge_of(container) <= 10


def test_a_write_costs_more_with_size_and_with_indexed_paths(database: DatabaseProxy) -> None:
    indexed = make_container(database)
    unindexed = make_container(database, indexing={"indexingMode": "consistent", "automatic": True,
                                                   "includedPaths": [], "excludedPaths": [{"path": "/*"}]})
    small = doc(1, blob="x" * 700, **{f"f{i}": i for i in range(10)})
    indexed.create_item(small)
    one_kb = charge_of(indexed)
    assert 4.5 <= one_kb <= 6.5
    unindexed.create_item(small)
    assert charge_of(unindexed) < one_kb - 1
    indexed.create_item(doc(2, blob="x" * (50 * 1024)))
    assert charge_of(indexed) > 15
    indexed.create_item(doc(3, blob="x" * 700, **{f"g{i}": i for i in range(60)}))
    assert charge_of(indexed) > one_kb + 4
    indexed.replace_item("d1", small)
    assert charge_of(indexed) > one_kb


def test_a_query_costs_a_base_plus_an_amount_per_item_returned(container: ContainerProxy) -> None:
    list(container.query_items("SELECT * FROM c WHERE c.project_id = 'P1'", partition_key="P1"))
    empty = charge_of(container)
    assert 2.0 <= empty <= 3.0
    for i in range(50):
        container.create_item(doc(i))
    list(container.query_items("SELECT * FROM c WHERE c.project_id = 'P1'", partition_key="P1"))
    assert charge_of(container) > empty + 1


def test_a_batch_answers_per_operation_charges_and_their_total(container: ContainerProxy) -> None:
    container.create_item(doc(9))
    results = container.execute_item_batch([("create", (doc(1),)), ("upsert", (doc(2),)), ("read", ("d9",)),
                                            ("delete", ("d9",))], partition_key="P1")
    charges = [r["requestCharge"] for r in results]
    assert all(c > 0 for c in charges)
    assert 0.9 <= charges[2] <= 1.1
    total = float(results.get_response_headers()["x-ms-request-charge"])
    assert total == pytest.approx(sum(charges), abs=0.02)


def test_every_answer_carries_a_request_charge(endpoint: str, container: ContainerProxy) -> None:
    with pytest.raises(exceptions.CosmosResourceNotFoundError):
        container.read_item("missing", "P1")
    assert charge_of(container) == 1.0
    container.read()
    assert charge_of(container) == 1.0
    status, headers, _ = faults.request(endpoint, "GET", docs_path(container),
                                        headers={"A-IM": "Incremental feed", "If-None-Match": "*"})
    assert status == 304
    assert float(headers["x-ms-request-charge"]) > 0
    status, headers, _ = faults.request(endpoint, "GET", "/no/such/route")
    assert status == 400
    assert headers["x-ms-request-charge"] == "0"


# ---------------------------------------------------------------- kept

def test_reading_a_missing_item_answers_404(container: ContainerProxy) -> None:
    with pytest.raises(exceptions.CosmosResourceNotFoundError):
        container.read_item("nope", "P1")
    container.create_item(doc(1))
    with pytest.raises(exceptions.CosmosResourceNotFoundError):
        container.read_item("d1", "P2")  # same id, another partition


def test_writing_to_a_missing_container_answers_404(database: DatabaseProxy) -> None:
    with pytest.raises(exceptions.CosmosResourceNotFoundError):
        database.get_container_client("missing").create_item(doc(1))


def test_a_query_with_a_partition_key_sees_only_that_partition(container: ContainerProxy) -> None:
    container.create_item(doc(1, project="P1"))
    container.create_item(doc(2, project="P2"))
    assert [d["id"] for d in container.query_items("SELECT * FROM c", partition_key="P2")] == ["d2"]
    crossing = container.query_items("SELECT * FROM c", enable_cross_partition_query=True)
    assert sorted(d["id"] for d in crossing) == ["d1", "d2"]


def test_connections_are_kept_alive(endpoint: str) -> None:
    parsed = urlparse(endpoint)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the local server's self-signed certificate
    connection = http.client.HTTPSConnection(parsed.hostname or "127.0.0.1", parsed.port, context=context,
                                             timeout=10)
    try:
        connection.request("GET", "/")
        first = connection.getresponse()
        first.read()
        sock = connection.sock
        assert first.getheader("connection") == "keep-alive"
        connection.request("GET", "/dbs")
        connection.getresponse().read()
        assert connection.sock is sock
    finally:
        connection.close()
