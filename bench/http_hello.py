"""The anchor of bench/http_reads.py: a bare FastAPI app with one hello
endpoint, served by the same uvicorn as `oms serve` (same log level, so the
access log costs both the same) and driven by the same client."""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI()


@app.get("/hello")
async def hello() -> dict[str, str]:
    return {"message": "hello"}
