"""The Arrow memory pool ingestion allocates from.

pyarrow's default pool (mimalloc in the wheels) keeps what a phase frees for
later: reading, checking and diffing a million-row dump allocates and frees
column after column, and the process's resident memory grew to about three
times what was live (a peak of 440-490 MiB for 130-170 MiB of Arrow data).
jemalloc with its dirty-page decay at 0 hands freed pages back at once: the
same plan peaks at about 360 MiB, and runs no slower (faster, here: fresh
pages fault in less often).

`ingestion_pool()` makes jemalloc the default pool while a dump is planned
and applied, and puts back the one before when the last ingestion running in
the process ends (ingestions may overlap in threads: counted, under a lock).
A buffer remembers the pool it came from, so what outlives the block is
freed where it was allocated. Where pyarrow was built without jemalloc, or
the process's address space is capped, nothing changes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa

_lock = threading.Lock()
_depth = 0
_before: pa.MemoryPool | None = None


def _capped() -> bool:
    """Is this process's address space capped (RLIMIT_AS)? jemalloc's
    reservations come on top of those the default pool made already (about
    0.5 GB more of address space for a large dump): under a cap, one
    allocator is kept."""
    try:
        import resource
    except ImportError:  # not on this platform
        return False
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    return bool(soft != resource.RLIM_INFINITY)


def _jemalloc() -> pa.MemoryPool | None:
    if _capped():
        return None
    try:
        pool = pa.jemalloc_memory_pool()
        # Freed pages go back to the system at once (only jemalloc's users are concerned).
        pa.jemalloc_set_decay_ms(0)
    except (NotImplementedError, pa.ArrowException):
        return None
    return pool


@contextmanager
def ingestion_pool() -> Iterator[None]:
    global _depth, _before
    with _lock:
        if _depth == 0:
            pool = _jemalloc()
            if pool is not None:
                _before = pa.default_memory_pool()
                pa.set_memory_pool(pool)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _before is not None:
                pa.set_memory_pool(_before)
                _before = None
