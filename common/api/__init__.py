"""The review API: one FastAPI application (CONTRACT.md: HTTP API), served in
Azure by `func.AsgiFunctionApp` and locally by uvicorn in `oms serve`."""
