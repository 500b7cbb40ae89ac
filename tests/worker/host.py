"""A stand-in for the Functions host: loads an app directory in the real Azure
Functions Python worker (`harness.Worker`, ../shared/tools/functions-worker)
and serves invocations over JSON lines.

    python -P tests/worker/host.py --worker WORKER_DIR APP_DIR      # serve
    python -P tests/worker/host.py --list-functions APP_DIR         # what function_app.app defines

Run by the fixtures of tests/worker as a subprocess, with the app's settings in
its environment, so the worker gets a process of its own: it changes the cwd,
the event loop's task factory and sys.path, and indexes `function_app` once.

Protocol (one JSON object per line). First line out, after indexing and
loading every function:

    {"ready": true, "error": null, "functions": {name: {"bindings": [...], "retry": {...}|null}},
     "load_errors": {name: message}, "versions": {...}, "modules": {module: file}}

Then, per line in:

    {"id": 1, "op": "invoke", "function": NAME, "inputs": {PARAM: TYPED}, "trigger_metadata": {KEY: TYPED}}
      -> {"id": 1, "status": "Success"|"Failure"|"Cancelled", "exception": {"message", "stack_trace"}|null,
          "return_value": TYPED|null, "output_data": [{"name": NAME, "data": TYPED}], "seconds": 0.01}
    {"id": 2, "op": "environ", "set": {NAME: VALUE}, "unset": [NAME]}
      -> {"id": 2, "ok": true}   (then the app's settings and dependencies are built anew on next use)
    {"op": "exit"}

TYPED is a protobuf TypedData in the proto3 JSON mapping (bytes as base64):
{"json": "[...]"}, {"string": "..."}, {"bytes": "b64"}, {"collection_bytes": {"bytes": ["b64", ...]}},
{"http": {"method": "GET", "url": "...", "headers": {...}, "query": {...}, "params": {...},
"body": {"bytes": "b64"}}}. The worker's own converters turn them into `func.EventHubEvent`,
`func.TimerRequest`, `func.InputStream`, `func.DocumentList`, `func.HttpRequest`.

Everything the worker or the app prints goes to stderr: the protocol has the
original stdout to itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import traceback
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))


def _isolate_sys_path(app_dir: str) -> None:
    """Nothing of the repository's test tree on sys.path: the app is imported
    from the deployable copy only (the harness puts `app_dir` first)."""
    sys.path[:] = [p for p in sys.path if p and os.path.abspath(p) != HERE]
    if app_dir not in sys.path:
        sys.path.insert(0, app_dir)


def _protocol_stream() -> Any:
    """The original stdout for protocol lines; fd 1 and sys.stdout go to stderr."""
    out = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return out


def list_functions(app_dir: str) -> int:
    """The function names `function_app.app` defines (what `get_functions()` indexes)."""
    out = _protocol_stream()
    _isolate_sys_path(app_dir)
    os.chdir(app_dir)
    import function_app

    names = [f.get_function_name() for f in function_app.app.get_functions()]
    out.write(json.dumps({"functions": names, "module": function_app.__file__}) + "\n")
    return 0


def _reset_app_state() -> None:
    """Forget the app's settings and process-wide dependencies (closing the
    embedded store's connections), as a fresh worker process would have them:
    the next invocation builds them from the environment again."""
    config = sys.modules.get("common.config")
    bootstrap = sys.modules.get("common.service.bootstrap")
    if bootstrap is not None:
        old = getattr(bootstrap, "_deps", None)
        bootstrap.set_deps(None)
        for part in (getattr(old, "store", None), getattr(old, "inventory", None)):
            close = getattr(part, "close", None)
            if callable(close):
                try:
                    close()
                except Exception:  # a half-closed adapter must not stop the next test
                    traceback.print_exc()
    if config is not None:
        config.get_settings.cache_clear()


def _stop(out: Any) -> None:
    """End the process as the host ends its worker: at once. (Returning from
    asyncio.run would first cancel the ASGI app's lifespan task, which
    azure.functions then logs as a failed shutdown.)"""
    out.flush()
    sys.stderr.flush()
    os._exit(0)


async def serve(worker_dir: str, app_dir: str) -> int:
    out = _protocol_stream()
    app_dir = os.path.abspath(app_dir)
    _isolate_sys_path(app_dir)
    sys.path.insert(1, worker_dir)
    from google.protobuf import json_format
    from harness import VERSION, Worker, WorkerError, protos

    def typed(description: dict[str, Any]) -> Any:
        return json_format.ParseDict(description, protos.TypedData())

    def described(message: Any, defaults: bool = False) -> Any:
        if not defaults:
            return json_format.MessageToDict(message, preserving_proto_field_name=True)
        try:  # protobuf 4
            return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                             including_default_value_fields=True)
        except TypeError:  # protobuf 5 renamed it
            return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                             always_print_fields_with_no_presence=True)

    def send(message: dict[str, Any]) -> None:
        out.write(json.dumps(message) + "\n")
        out.flush()

    worker = Worker(app_dir)
    try:
        await worker.__aenter__()
    except WorkerError as error:
        send({"ready": False, "error": str(error), "functions": {}, "load_errors": {}})
        return 1
    try:
        import azure.functions as func

        functions = {}
        for name, fn in worker.functions.items():
            retry = described(fn.retry_options, defaults=True) if fn.HasField("retry_options") else None
            functions[name] = {"bindings": worker.bindings(name), "retry": retry}
        modules = {m: getattr(sys.modules.get(m), "__file__", None) for m in ("function_app", "common", "functions")}
        send({"ready": True, "error": None, "functions": functions, "load_errors": worker.load_errors,
              "versions": {"worker": VERSION, "azure_functions": func.__version__,
                           "python": sys.version.split()[0]},
              "modules": modules, "app_dir": app_dir})

        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line.strip():
                if not line:
                    _stop(out)
                continue
            request = json.loads(line)
            op = request.get("op")
            if op == "exit":
                _stop(out)
            if op == "environ":
                for name in request.get("unset", []):
                    os.environ.pop(name, None)
                os.environ.update({k: str(v) for k, v in request.get("set", {}).items()})
                _reset_app_state()
                send({"id": request.get("id"), "ok": True})
                continue
            if op != "invoke":
                send({"id": request.get("id"), "error": f"unknown op {op!r}"})
                continue
            name = request["function"]
            if name not in worker.functions:
                send({"id": request.get("id"), "status": "Failure",
                      "exception": {"message": f"no function {name!r} was indexed", "stack_trace": ""},
                      "return_value": None, "output_data": []})
                continue
            inputs = {k: typed(v) for k, v in request.get("inputs", {}).items()}
            metadata = {k: typed(v) for k, v in request.get("trigger_metadata", {}).items()}
            started = time.perf_counter()
            response = await worker.invoke(name, inputs, trigger_metadata=metadata)
            result = response.result
            send({
                "id": request.get("id"),
                "status": protos.StatusResult.Status.Name(result.status),
                "exception": ({"message": result.exception.message, "stack_trace": result.exception.stack_trace}
                              if result.HasField("exception") else None),
                "return_value": described(response.return_value) if response.HasField("return_value") else None,
                "output_data": [{"name": b.name, "data": described(b.data)} for b in response.output_data],
                "seconds": round(time.perf_counter() - started, 4),
            })
    finally:
        await worker.__aexit__(None, None, None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("app_dir")
    parser.add_argument("--worker", help="the functions-worker folder (harness.py)")
    parser.add_argument("--list-functions", action="store_true")
    args = parser.parse_args()
    if args.list_functions:
        return list_functions(os.path.abspath(args.app_dir))
    if not args.worker:
        parser.error("--worker is required to serve")
    return asyncio.run(serve(os.path.abspath(args.worker), args.app_dir))


if __name__ == "__main__":
    sys.exit(main())
