"""One poison JSON value (nested past any sane depth, a 5,000-digit number,
NaN, a huge string or document) costs exactly one event: quarantined with a
reason naming the limit, never the batch or the file; over HTTP it is a
400/422 problem and nothing is stored. The Event Hub path is in
tests/worker/test_poison_bodies.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from common.api.app import create_app
from common.api.deps import provide_deps
from common.ports import OrderQuery
from common.service.bootstrap import Deps
from common.service.commands import Undecodable, decode_json
from common.service.decoding import JsonLimits, JsonRefused, iter_array, loads
from common.service.event_files import ENGINEERING, ingest_event_file
from tests.helpers.warehouse import design_event

DEEP = "[" * 5000 + "]" * 5000  # past Python's recursion limit: RecursionError in json.loads
# Each poison body is an event with one bad value, and the reason type it must get.
POISON: dict[str, tuple[str, str]] = {
    "nested 5000 deep": ('{"event_id": "p-deep", "items": ' + DEEP + "}", "too_deep"),
    "nested 40 deep": ('{"event_id": "p-40", "x": ' + "[" * 40 + "]" * 40 + "}", "too_deep"),
    "5000-digit integer": ('{"event_id": "p-int", "design_version": ' + "9" * 5000 + "}", "number_too_long"),
    "NaN": ('{"event_id": "p-nan", "design_version": NaN}', "not_finite"),
    "float overflow": ('{"event_id": "p-inf", "design_version": 1e999}', "not_finite"),
    "100k-character string": ('{"event_id": "' + "x" * 100_000 + '"}', "string_too_long"),
    "2 MB document": ('{"event_id": "p-big", "pad": [' + ",".join(["1"] * 1_000_000) + "]}", "too_large"),
    "not JSON": ("{not json}", "json_invalid"),  # balanced: an array around it stays an array
}


@pytest.mark.parametrize("case", sorted(POISON))
def test_the_bounded_decoder_refuses_each_poison_value_with_its_reason(case: str) -> None:
    text, kind = POISON[case]
    with pytest.raises(JsonRefused) as refused:
        loads(text)
    assert refused.value.kind == kind
    decoded = decode_json(text.encode())
    assert isinstance(decoded, Undecodable) and decoded.kind == kind and decoded.text == text


def test_the_decoder_takes_ordinary_events_unchanged() -> None:
    event = design_event("evt-ok")
    assert loads(json.dumps(event)) == event
    assert loads(json.dumps({"lat": -74.0060152, "n": -12, "big": 10**30})) == {
        "lat": -74.0060152, "n": -12, "big": 10**30}


def test_the_limits_are_inclusive() -> None:
    limits = JsonLimits(max_bytes=100, max_depth=3, max_number_chars=3, max_string_chars=3)
    assert loads('[[["abc", 999]]]', limits) == [[["abc", 999]]]
    for text, kind in (('[[[["a"]]]]', "too_deep"), ('["abcd"]', "string_too_long"), ("[1000]", "number_too_long"),
                       ('{"abcd": 1}', "string_too_long"), (" " * 101, "too_large")):
        with pytest.raises(JsonRefused) as refused:
            loads(text, limits)
        assert refused.value.kind == kind, text


def test_an_array_yields_each_element_and_each_refusal_on_its_own() -> None:
    text = '[{"a": 1}, ' + POISON["nested 5000 deep"][0] + ', {"b": "x]}"}, ' + \
        POISON["5000-digit integer"][0] + ", [1, 2]]"
    values = list(iter_array(text))
    assert values[0] == {"a": 1} and values[2] == {"b": "x]}"} and values[4] == [1, 2]
    assert isinstance(values[1], JsonRefused) and values[1].kind == "too_deep"
    assert values[1].text == POISON["nested 5000 deep"][0]
    assert isinstance(values[3], JsonRefused) and values[3].kind == "number_too_long"


@pytest.mark.parametrize("text", ["[1, 2", "[1 2]", "[1] x", '["open'])
def test_a_broken_array_is_refused_whole(text: str) -> None:
    with pytest.raises(JsonRefused):
        list(iter_array(text))


# ------------------------------------------------------------------ files
def _designs(count: int) -> list[str]:
    return [json.dumps(design_event(f"evt-{n}", version=n, items={"ANT-4T4R-B41": n})) for n in range(1, count + 1)]


def _assert_each_poison_alone(deps: Deps, run_counts: dict[str, int], good: int) -> None:
    records = deps.store.list_quarantine(limit=100).items
    assert len(records) == len(POISON) and run_counts["quarantined"] == len(POISON)
    assert sorted(r.reasons[0].type for r in records) == sorted(kind for _, kind in POISON.values())
    assert run_counts["received"] == good + len(POISON)
    [order] = deps.store.query_orders(OrderQuery()).items
    assert order.design_version == good  # every good event applied, in order


@pytest.mark.parametrize("layout", ["json lines", "json array"])
def test_an_event_file_applies_every_good_event_and_quarantines_each_poison_alone(
        seeded: Deps, tmp_path: Path, layout: str) -> None:
    good = _designs(45)
    lines = [*good[:20], *(text for text, _ in POISON.values()), *good[20:]]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) if layout == "json lines" else "[" + ",\n".join(lines) + "]")

    run = ingest_event_file(seeded, ENGINEERING, path)

    assert run.status == "succeeded" and not run.details.get("rejected")
    _assert_each_poison_alone(seeded, run.counts, 45)


def test_a_quarantined_body_too_large_for_a_record_is_kept_whole_in_a_blob(seeded: Deps, tmp_path: Path) -> None:
    text, _ = POISON["2 MB document"]
    path = tmp_path / "big.jsonl"
    path.write_text(text + "\n")

    ingest_event_file(seeded, ENGINEERING, path)

    [record] = seeded.store.list_quarantine().items
    assert record.reasons[0].type == "too_large"
    payload = record.payload
    assert isinstance(payload, dict) and payload["text_prefix"] == text[:4096]
    container, name = str(payload["kept_at"]).split("/", 1)
    assert seeded.blobs.read(container, name).decode() == text


# ------------------------------------------------------------------- HTTP
@pytest.fixture
def client(seeded: Deps) -> TestClient:
    keys = {"key-int": {"user": "eng", "roles": ["integration"]}, "key-planner": {"user": "pia", "roles": ["planner"]}}
    deps = seeded
    object.__setattr__(deps, "settings", deps.settings.model_copy(update={"api_keys": keys,
                                                                          "max_body_bytes": 4_000_000}))
    app = create_app()
    app.dependency_overrides[provide_deps] = lambda: deps
    return TestClient(app, raise_server_exceptions=False)


# The size of an HTTP body is the body-size guard's (OMS_MAX_BODY_BYTES: 413).
@pytest.mark.parametrize("case", sorted(set(POISON) - {"not JSON", "2 MB document"}))
def test_http_answers_a_poison_body_with_a_422_problem_and_stores_nothing(
        client: TestClient, seeded: Deps, case: str) -> None:
    text, kind = POISON[case]
    body = "[" + json.dumps(design_event("evt-1")) + ", " + text + "]"

    response = client.post("/api/events/engineering", content=body,
                           headers={"X-API-Key": "key-int", "Content-Type": "application/json"})

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["errors"] == [{"loc": ["body"], "msg": problem["errors"][0]["msg"], "type": kind}]
    assert seeded.store.query_orders(OrderQuery()).items == []
    assert seeded.store.list_quarantine().items == []


def test_http_answers_a_body_that_is_not_json_with_a_400_problem(client: TestClient) -> None:
    response = client.post("/api/events/engineering", content="{not json}",
                           headers={"X-API-Key": "key-int", "Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["type"].endswith("malformed-body")


def test_a_route_with_a_typed_body_refuses_a_poison_body_with_a_422_not_a_500(client: TestClient,
                                                                              seeded: Deps) -> None:
    client.post("/api/events/engineering", json=design_event("evt-1"), headers={"X-API-Key": "key-int"})
    [order] = seeded.store.query_orders(OrderQuery()).items
    for text, kind in (('{"lines": ' + DEEP + "}", "too_deep"), ('{"qty": ' + "9" * 5000 + "}", "number_too_long")):
        response = client.patch(f"/api/orders/{order.order_id}", content=text,
                                headers={"X-API-Key": "key-planner", "Content-Type": "application/json",
                                         "If-Match": f'"{order.etag}"'})
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["type"] == kind
    assert seeded.store.get_order(order.order_id) == order
