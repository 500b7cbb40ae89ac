"""`oms` usage errors (CONTRACT.md: CLI): exit status 2 and a one-line
reason on stderr, never a traceback, even where the console is narrow."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.helpers import cli


def oms(workdir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return cli.oms(workdir, *args, columns=50, env=env)  # a narrow console: a long reason must still be one line


@pytest.mark.parametrize("args", [
    (),
    ("no-such-command",),
    ("allocate", "unexpected-argument"),
    ("allocate", "--dry-run=yes"),
    ("allocate", "--mode", "fastest"),
    ("ingest", "parquet", "file.parquet"),
    ("orders", "--status", "Shipped"),
    ("orders", "--limit", "0"),
    ("jobs", "--limit", "-1"),
], ids=lambda args: " ".join(args) or "no-arguments")
def test_a_usage_error_exits_2_with_a_one_line_reason(tmp_path: Path, args: tuple[str, ...]) -> None:
    done = oms(tmp_path, *args)

    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("oms: ") and len(lines[0]) > len("oms: ")


@pytest.mark.parametrize(("args", "named", "fix"), [
    (("serve", "--port", "99999"), "--port", "at most 65535"),
    (("serve", "--port", "0"), "--port", "at least 1"),
    (("allocate", "--mode", "best"), "--mode", "'greedy', 'optimal'"),
    (("orders", "--limit", "0"), "--limit", "at least 1"),
    (("jobs", "--limit", "many"), "--limit", "whole number"),
    (("orders", "--status", "Shipped"), "--status", "'Draft'"),
], ids=lambda value: " ".join(value) if isinstance(value, tuple) else None)
def test_a_bad_option_value_is_one_line_naming_the_option_what_to_fix_and_what_was_given(
        tmp_path: Path, args: tuple[str, ...], named: str, fix: str) -> None:
    done = oms(tmp_path, *args)

    assert done.returncode == 2
    [line] = [line for line in done.stderr.splitlines() if line.strip()]
    assert line.startswith(f"oms: {args[0]} {named}: ") and fix in line and args[-1] in line, line


@pytest.mark.parametrize(("value", "fix"), [
    ("{not json", "is not valid JSON"),
    ('{"sk-secret-1": "ana"}', "valid dictionary"),
    ('{"sk-secret-1": {"user": "ana", "roles": ["admn"]}}', "unknown role admn"),
    ('{"sk-secret-1": {"user": "ana"}}', "roles must be a non-empty list"),
], ids=["not-json", "not-an-object", "unknown-role", "no-roles"])
def test_bad_api_keys_are_one_line_naming_oms_api_keys_and_never_echo_a_key(
        tmp_path: Path, value: str, fix: str) -> None:
    # `oms serve` too, before it binds a port or prints a key that could not work.
    command = ("serve", "--port", "1") if fix.startswith("unknown role") else ("orders",)
    done = oms(tmp_path, *command, env={"OMS_API_KEYS": value})

    assert done.returncode == 2
    [line] = [line for line in done.stderr.splitlines() if line.strip()]
    assert line.startswith("oms: OMS_API_KEYS") and fix in line and '"roles": ["planner"]' in line, line
    assert "sk-secret-1" not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr
