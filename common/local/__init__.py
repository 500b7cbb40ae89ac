"""`oms serve`: the HTTP API plus what the Functions host would otherwise
drive (timers, outbox dispatch, Blob drops), in one process on the embedded
store (DESIGN.md section 7)."""
