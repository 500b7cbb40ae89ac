"""Which failures belong to the infrastructure and which to one input.

A batch of inbound events meets two kinds of failure. The store, the
inventory or the network failing (a timeout, a refused connection, a 503)
concerns the whole batch: the handler raises, the trigger's retry policy runs
the batch again, and what still fails is kept (quarantine, or a dead letter
when the store itself is down). Anything else raised while one event is
decided is that event's problem (a bug meeting an input nobody foresaw): the
event is quarantined with the real error and the rest of the batch goes on.
"""

from __future__ import annotations

import sqlite3


class PoisonEvent(Exception):
    """Deciding the event at `index` raised `error`, which is not the
    infrastructure's: quarantine that event alone and go on."""

    def __init__(self, index: int, error: BaseException) -> None:
        super().__init__(f"event {index}: {type(error).__name__}: {error}")
        self.index = index
        self.error = error


def is_infrastructure_error(error: BaseException) -> bool:
    """A store, network or cloud-service failure (retry the batch), as opposed
    to an error about one input."""
    if isinstance(error, OSError | sqlite3.Error | TimeoutError):
        return True
    module = type(error).__module__
    return module.startswith(("azure.", "urllib3.", "requests.", "http.client", "aiohttp."))


def guard(index: int, error: BaseException) -> BaseException:
    """What to raise for `error` met while deciding event `index`."""
    if is_infrastructure_error(error):
        return error
    return PoisonEvent(index, error)


# Added (PEP 678) to an error a batch handler raises after every event it
# could not apply was quarantined: nothing is lost, no dead letter is needed.
KEPT_IN_QUARANTINE = "oms: every event not applied is in quarantine"


def mark_kept(error: BaseException) -> None:
    error.add_note(KEPT_IN_QUARANTINE)


def kept_in_quarantine(error: BaseException) -> bool:
    return KEPT_IN_QUARANTINE in getattr(error, "__notes__", ())
