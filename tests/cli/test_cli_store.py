"""One store for the CLI and the server, whatever directory they start in:
the default lives under the checkout, relative settings are resolved once,
and a read never creates an empty store where none was."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.config import Settings
from tests.conftest import SAMPLES
from tests.helpers.cli import oms

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("OMS_SQLITE_PATH", "OMS_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_default_store_is_under_the_checkout_whatever_the_working_directory(elsewhere: Path) -> None:
    settings = Settings()

    assert settings.data_dir == str(ROOT / ".oms")
    assert settings.sqlite_path == str(ROOT / ".oms" / "oms.db")


def test_relative_settings_are_resolved_once_against_the_directory_they_were_read_in(
        elsewhere: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMS_DATA_DIR", "state")

    settings = Settings()

    assert settings.data_dir == str(elsewhere / "state")
    assert settings.sqlite_path == str(elsewhere / "state" / "oms.db")  # the store follows OMS_DATA_DIR
    monkeypatch.setenv("OMS_SQLITE_PATH", "other.db")
    assert Settings().sqlite_path == str(elsewhere / "other.db")


def test_a_read_where_no_store_is_names_the_path_and_creates_nothing(tmp_path: Path) -> None:
    done = oms(tmp_path, "orders")

    assert done.returncode == 1
    [line] = [line for line in done.stderr.splitlines() if line.strip()]
    assert line.startswith(f"oms: no store at {tmp_path / 'oms.db'}")
    assert not (tmp_path / "oms.db").exists()


def test_the_cli_reads_the_store_another_directory_wrote_and_names_it(tmp_path: Path) -> None:
    assert oms(tmp_path, "ingest", "master", str(SAMPLES / "project-master.jsonl")).returncode == 0
    other = tmp_path / "somewhere" / "else"
    other.mkdir(parents=True)

    done = oms(tmp_path, "jobs", cwd=other)

    assert done.returncode == 0, done.stderr
    assert "ingest-project-master" in done.stdout and f"store {tmp_path / 'oms.db'}" in done.stdout


def test_the_roles_oms_api_keys_accepts_are_the_roles_the_api_checks() -> None:
    from common.api.auth import Role
    from common.config import API_ROLES

    assert set(API_ROLES) == {role.value for role in Role}
