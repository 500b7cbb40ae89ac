"""`oms incidents`: list, show, ack, mitigate, resolve, update, and the
subscriptions; refusals exit 1 and usage errors 2, with one line each."""

from __future__ import annotations

import json

import pytest

from common.adapters.stakeholders import MemoryMessenger
from common.domain.incidents import Incident
from common.service.bootstrap import Deps
from common.service.stakeholders import MESSENGER
from tests.helpers.cli import run
from tests.helpers.outages import fail_engineering_batch
from tests.helpers.warehouse import design_event


@pytest.fixture
def cli(cli: Deps, monkeypatch: pytest.MonkeyPatch) -> Deps:
    """The CLI's deps (tests/cli/conftest.py), as olga, with New York's subscriber."""
    monkeypatch.setenv("USER", "olga")
    cli.extras[MESSENGER] = MemoryMessenger()
    cli.settings = cli.settings.model_copy(update={"incident_subscribers": [
        {"market": "New York", "mail": "ny@example.test"}]})
    return cli


@pytest.fixture
def incident(cli: Deps) -> Incident:
    fail_engineering_batch(cli, [design_event("e-cli-1", 9, {"ANT-4T4R-B41": 4}, kind="DesignRevised",
                                              at="2026-11-21T08:00:00Z")], channel="file")
    [found] = cli.store.list_incidents().items
    return found


def test_oms_incidents_list_and_show_the_impact_and_the_changes(
        incident: Incident, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["incidents", "list"]) == 0
    listed = capsys.readouterr().out
    assert incident.incident_id in listed and "New York" in listed

    assert run(["incidents", "show", incident.incident_id]) == 0
    shown = capsys.readouterr().out
    assert "1 order in 1 project (New York) is affected" in shown and "opened" in shown

    assert run(["incidents", "list", "--json", "--status", "live", "--market", "Chicago"]) == 0
    assert capsys.readouterr().out.strip() == ""


def test_oms_incidents_ack_mitigate_resolve_move_it_and_tell_the_stakeholders(
        cli: Deps, incident: Incident, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["incidents", "ack", incident.incident_id, "--note", "looking", "--eta", "2026-11-21T10:00:00Z"]) == 0
    assert run(["incidents", "mitigate", incident.incident_id, "--note", "replica"]) == 0
    assert run(["incidents", "update", incident.incident_id, "--note", "disk ordered"]) == 0
    assert run(["incidents", "resolve", incident.incident_id, "--root-cause", "disk full",
                "--resolution", "grown"]) == 0
    assert "resolved" in capsys.readouterr().out

    assert run(["incidents", "show", incident.incident_id, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["incident"]["status"] == "resolved" and shown["incident"]["resolved_by"] == "olga"
    assert [a["action"] for a in shown["audit"]] == ["opened", "acknowledged", "mitigated", "updated", "resolved"]
    sent = cli.extras[MESSENGER].sent
    assert [m["data"]["type"] for m in sent] == ["oms.incident.notice"] + ["oms.incident.update"] * 3 + [
        "oms.incident.resolved"]


def test_a_refused_move_exits_1_and_a_missing_root_cause_2_with_one_line(
        incident: Incident, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["incidents", "ack", incident.incident_id]) == 0
    capsys.readouterr()

    assert run(["incidents", "ack", incident.incident_id]) == 1
    assert capsys.readouterr().err.strip() == f"oms: cannot acknowledge incident {incident.incident_id}: " \
                                              "it is acknowledged"
    assert run(["incidents", "resolve", incident.incident_id, "--root-cause", " ", "--resolution", "x"]) == 2
    assert "root_cause is required" in capsys.readouterr().err
    assert run(["incidents", "ack", "INC-nope"]) == 1
    assert run(["incidents", "ack", incident.incident_id, "--eta", "tomorrow"]) == 2
    assert run(["incidents", "list", "--status", "closed"]) == 2


def test_oms_incidents_subscribe_lists_and_unsubscribes(cli: Deps, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["incidents", "subscribe", "--project", "PRJ-0000101", "--webhook", "https://hooks.example.test/a"]) \
        == 0
    sid = capsys.readouterr().out.split(":")[0]
    assert run(["incidents", "subscriptions", "--json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert [s["subscription_id"] for s in listed][-1] == sid and listed[0]["from_settings"]
    assert run(["incidents", "subscribe", "--market", "Boston"]) == 2
    assert "exactly one of mail and webhook" in capsys.readouterr().err
    assert run(["incidents", "unsubscribe", sid]) == 0
    assert run(["incidents", "unsubscribe", sid]) == 1
    assert cli.store.list_subscriptions() == []
