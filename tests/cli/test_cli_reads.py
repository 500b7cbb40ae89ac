"""The read commands (`oms orders`, `order`, `audit`, `jobs`, `inventory`, `allocation runs|show`,
`quarantine list`, `deadletters list`) read what happened, as tables or, with `--json`, as JSON lines."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any

import pytest

from common.service.bootstrap import Deps
from tests.api.conftest import first_order
from tests.helpers.cli import run


def test_oms_orders_lists_orders_and_filters_by_status(cli: Deps, capsys: pytest.CaptureFixture[str]) -> None:
    order_id = first_order(cli)
    assert run(["orders", "--json", "--status", "Draft"]) == 0
    text = capsys.readouterr().out
    assert order_id in text and '"Approved"' not in text


def test_oms_audit_shows_the_trail_and_an_unknown_order_is_exit_1(
        cli: Deps, capsys: pytest.CaptureFixture[str]) -> None:
    order_id = first_order(cli)
    assert run(["audit", order_id]) == 0
    assert "create" in capsys.readouterr().out
    assert run(["audit", "nope"]) == 1
    assert "no audit entries" in capsys.readouterr().err


def test_oms_jobs_lists_job_runs_with_counts(cli: Deps, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["jobs"]) == 0
    assert "ingest-engineering" in capsys.readouterr().out


def test_oms_serve_has_host_port_and_load_samples(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["serve", "--help"]) == 0
    text = capsys.readouterr().out
    assert "--host" in text and "--port" in text and "--load-samples" in text


def _json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of stdout one JSON object: a pipe to jq or a script reads it."""
    return [json.loads(line) for line in text.splitlines()]


def test_oms_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"oms {version('telecom-oms')}"


def test_every_read_command_answers_json_lines_with_json(cli: Deps, capsys: pytest.CaptureFixture[str]) -> None:
    order_id = first_order(cli)
    assert cli.inventory is not None
    cli.inventory.set_on_hand([("WH-EAST", "ANT-4T4R-B41", 5)], datetime(2026, 11, 20, tzinfo=UTC))
    assert run(["allocate", "--dry-run", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dry_run"] is True and report["run_id"].startswith("allocation")
    expected: dict[tuple[str, ...], str] = {
        ("orders",): "order_id", ("order", order_id): "lines", ("audit", order_id): "action", ("jobs",): "job_id",
        ("inventory",): "available", ("projects",): "qualifies",
        ("allocation", "runs"): "run_id", ("allocation", "show", report["run_id"]):
        "orders", ("quarantine", "list"): "reasons",
    }
    for command, key in expected.items():
        assert run([*command, "--json"]) == 0, command
        rows = _json_lines(capsys.readouterr().out)
        assert rows and all(key in row for row in rows), (command, rows[:1])
    assert run(["deadletters", "list", "--json"]) == 0
    assert _json_lines(capsys.readouterr().out) == []  # none: still JSON (nothing), never a table


def test_oms_order_shows_one_order_and_an_unknown_one_is_exit_1(cli: Deps, capsys: pytest.CaptureFixture[str]) -> None:
    order_id = first_order(cli)
    assert run(["order", order_id]) == 0
    shown = capsys.readouterr().out
    assert order_id in shown and "lines (" in shown and "Draft" in shown
    assert run(["order", "NO-SUCH-ORDER"]) == 1
    assert "no order NO-SUCH-ORDER" in capsys.readouterr().err


def test_read_tables_name_the_store_they_read(cli: Deps, capsys: pytest.CaptureFixture[str]) -> None:
    for command in (["orders"], ["jobs"], ["quarantine", "list"]):
        assert run(command) == 0
        assert f"store {cli.settings.sqlite_path}" in capsys.readouterr().out, command
