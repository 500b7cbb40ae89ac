"""The lease part of the store contract (Store.acquire_lease / release_lease),
run on every store adapter: one holder at a time, renewals by the holder,
takeover only after expiry, and exactly one winner when two race."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from common.ports import Store

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def test_a_free_lease_is_taken_and_another_holder_is_told_who_has_it(store: Store) -> None:
    assert store.acquire_lease("allocation", "run-a", T0 + 5 * MINUTE, T0) is None
    assert store.acquire_lease("allocation", "run-b", T0 + 5 * MINUTE, T0 + MINUTE) == "run-a"


def test_the_holder_renews_its_lease_and_keeps_others_out_longer(store: Store) -> None:
    store.acquire_lease("allocation", "run-a", T0 + 5 * MINUTE, T0)
    assert store.acquire_lease("allocation", "run-a", T0 + 9 * MINUTE, T0 + 4 * MINUTE) is None
    assert store.acquire_lease("allocation", "run-b", T0 + 12 * MINUTE, T0 + 7 * MINUTE) == "run-a"


def test_an_expired_lease_is_taken_over(store: Store) -> None:
    store.acquire_lease("allocation", "run-dead", T0 + 5 * MINUTE, T0)
    assert store.acquire_lease("allocation", "run-b", T0 + 11 * MINUTE, T0 + 6 * MINUTE) is None
    assert store.acquire_lease("allocation", "run-dead", T0 + 12 * MINUTE, T0 + 7 * MINUTE) == "run-b"


def test_only_the_holder_releases_a_lease(store: Store) -> None:
    store.acquire_lease("allocation", "run-a", T0 + 5 * MINUTE, T0)
    store.release_lease("allocation", "run-b")
    assert store.acquire_lease("allocation", "run-b", T0 + 5 * MINUTE, T0) == "run-a"
    store.release_lease("allocation", "run-a")
    assert store.acquire_lease("allocation", "run-b", T0 + 5 * MINUTE, T0) is None


def test_leases_of_different_names_are_independent(store: Store) -> None:
    assert store.acquire_lease("allocation", "run-a", T0 + 5 * MINUTE, T0) is None
    assert store.acquire_lease("replenishment", "run-b", T0 + 5 * MINUTE, T0) is None


def _race(store: Store, name: str) -> dict[str, str | None]:
    results: dict[str, str | None] = {}
    start = threading.Barrier(2)

    def take(holder: str) -> None:
        start.wait()
        results[holder] = store.acquire_lease(name, holder, T0 + 5 * MINUTE, T0)

    threads = [threading.Thread(target=take, args=(h,)) for h in ("run-a", "run-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_of_two_holders_racing_for_a_free_lease_exactly_one_wins(store: Store) -> None:
    for attempt in range(5):
        results = _race(store, f"race-{attempt}")
        winners = [h for h, other in results.items() if other is None]
        assert len(winners) == 1, results
        [loser] = [h for h in results if h not in winners]
        assert results[loser] == winners[0]
