"""The anchor of bench/http_reads.py: a bare FastAPI app with one hello
endpoint, served by the same uvicorn as `oms serve` (same log level, so the
access log costs both the same; with workers, the same supervisor and socket
as `oms serve --workers`) and driven by the same client.

    python -m bench.http_hello PORT [WORKERS]
"""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI

from common.local.server import run_workers

app = FastAPI()


@app.get("/hello")
async def hello() -> dict[str, str]:
    return {"message": "hello"}


def main() -> None:
    port = int(sys.argv[1])
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    if workers > 1:
        run_workers(uvicorn.Config("bench.http_hello:app", port=port, workers=workers, log_level="info"))
    else:
        uvicorn.run("bench.http_hello:app", port=port, log_level="info")


if __name__ == "__main__":
    main()
