"""`oms orders`, `oms audit ORDER_ID` and `oms jobs` read what happened."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from common.cli import main
from common.service.bootstrap import Deps, set_deps
from tests.api.conftest import first_order


@pytest.fixture
def cli(loaded: Deps, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deps]:
    monkeypatch.setenv("COLUMNS", "250")
    set_deps(loaded)
    yield loaded
    set_deps(None)


def run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as done:
        return int(done.code or 0)
    return 0


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
