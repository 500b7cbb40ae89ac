"""The one conflict-retry helper (common/service/retry.py): what is written
is done with, what loses is tried again on a fresh read, and what still
loses when the attempts are spent is returned and logged, never dropped in
silence. The one-document form ends the same way."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from common.service.retry import CONFLICTED, MAX_ATTEMPTS, Conflicted, retry_conflict, retry_conflicts


def test_items_that_lose_are_tried_again_until_none_is_left() -> None:
    tries: list[list[str]] = []

    def attempt(pending: Sequence[str]) -> list[str]:
        tries.append(list(pending))
        return [item for item in pending if item == "b" and len(tries) < 3]

    assert retry_conflicts(["a", "b"], attempt, what="items") == []
    assert tries == [["a", "b"], ["b"], ["b"]]


def test_items_still_losing_when_the_attempts_are_spent_are_returned_and_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    tries: list[list[str]] = []

    def attempt(pending: Sequence[str]) -> list[str]:
        tries.append(list(pending))
        return [item for item in pending if item == "b"]

    assert retry_conflicts(["a", "b"], attempt, what="items") == ["b"]
    assert len(tries) == MAX_ATTEMPTS
    assert "items: 1 item(s) still lost to concurrent writers after 4 attempts" in caplog.text


def test_one_document_is_written_at_the_first_attempt_that_does_not_lose() -> None:
    results: list[str | Conflicted | None] = [CONFLICTED, CONFLICTED, None]

    assert retry_conflict(lambda: results.pop(0), what="one") is None  # None is a result, not a conflict
    assert results == []


def test_one_document_still_losing_when_the_attempts_are_spent_is_conflicted_and_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    tries: list[int] = []

    def attempt() -> str | Conflicted:
        tries.append(1)
        return CONFLICTED

    assert retry_conflict(attempt, what="incident INC-1 acknowledge", attempts=5) is CONFLICTED
    assert len(tries) == 5
    assert "incident INC-1 acknowledge: 1 item(s) still lost to concurrent writers after 5 attempts" in caplog.text


def test_what_an_attempt_raises_ends_the_retries() -> None:
    tries: list[int] = []

    def attempt() -> str | Conflicted:
        tries.append(1)
        raise LookupError("gone")

    with pytest.raises(LookupError):
        retry_conflict(attempt, what="one")
    assert tries == [1]
