"""The `oms` command (CONTRACT.md: CLI).

Exit status: 0 when the input was processed (even if some items were skipped
or quarantined), 1 when the input was rejected whole or the job failed, 2 for
a usage error; always with a one-line reason, never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from common.service.bootstrap import Deps, get_deps

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Telecom Order Management System.")
out = Console()
err = Console(stderr=True)

EVENT_BATCH = 1000  # events per transaction when reading a file


class Dataset(StrEnum):
    events = "events"
    warehouse = "warehouse"
    master = "master"
    catalog = "catalog"
    stock = "stock"


class CliError(Exception):
    """A one-line reason and an exit status."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _deps() -> Deps:
    return get_deps()


def _progress() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=err, transient=False, disable=not err.is_terminal)


def _print_counts(title: str, counts: dict[str, int], status: str) -> None:
    table = Table(title=f"{title}: {status}", show_header=True)
    table.add_column("count")
    table.add_column("value", justify="right")
    for name in sorted(counts):
        table.add_row(name, str(counts[name]))
    out.print(table)


def _read_event_lines(path: Path) -> Iterator[Any]:
    """JSON lines, or one JSON array; a line that is not JSON is kept as it is
    (it will be quarantined, not dropped)."""
    from common.service.commands import Undecodable

    with path.open("r", encoding="utf-8") as handle:
        head = handle.read(1)
        while head and head.isspace():
            head = handle.read(1)
        handle.seek(0)
        if head == "[":
            try:
                values = json.load(handle)
            except json.JSONDecodeError as error:
                raise CliError(f"{path}: not valid JSON: {error}") from error
            yield from values
            return
        for line in handle:
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as error:
                yield Undecodable(text=line.rstrip("\n"), error=str(error))


def _ingest_events(deps: Deps, path: Path) -> int:
    from common.service.commands import IngestEngineeringEvents
    from common.service.handlers.engineering import ingest_engineering_events
    from common.service.jobs import job_run

    events = list(_read_event_lines(path))
    with job_run(deps, "ingest-engineering-events", f"file:{path.name}") as recorder, _progress() as bar:
        task = bar.add_task(f"events from {path.name}", total=len(events))
        for start in range(0, len(events), EVENT_BATCH):
            chunk = events[start:start + EVENT_BATCH]
            ingest_engineering_events(
                deps, IngestEngineeringEvents(chunk, channel="file", file_name=path.name), recorder)
            bar.advance(task, len(chunk))
    _print_counts(f"{recorder.run.job} {recorder.run.job_id}", recorder.run.counts, recorder.run.status)
    return 0


def _ingest_dataset(deps: Deps, dataset: Dataset, path: Path) -> int:
    name = {"master": "project-master", "catalog": "item-catalog", "stock": "stock-snapshots"}[dataset.value]
    if path.suffix.lower() in {".json", ".jsonl"} and dataset in (Dataset.master, Dataset.catalog):
        from common.service.handlers.fixtures import load_fixture

        counts = load_fixture(deps, name, path)
        _print_counts(f"ingest-{name}", counts, "succeeded")
        return 0
    try:
        from common.service.handlers.datasets import ingest_dataset_file  # type: ignore[import-not-found,unused-ignore]
    except ImportError as error:
        raise CliError(f"Parquet ingestion of {name} is not available in this build", 2) from error
    job = ingest_dataset_file(deps, name, path)
    _print_counts(f"{job.job} {job.job_id}", job.counts, job.status)
    return 0 if job.status == "succeeded" and not job.details.get("rejected") else 1


@app.command()
def ingest(
    dataset: Annotated[Dataset, typer.Argument(help="events | warehouse | master | catalog | stock")],
    file: Annotated[Path, typer.Argument(help="JSON lines (events) or Parquet (datasets)")],
) -> None:
    """Process a file of events, or load a Parquet dataset."""
    if not file.is_file():
        raise CliError(f"{file}: no such file", 2)
    deps = _deps()
    if dataset == Dataset.events:
        raise typer.Exit(_ingest_events(deps, file))
    if dataset == Dataset.warehouse:
        try:
            from common.service.handlers.warehouse import ingest_warehouse_file  # type: ignore[import-not-found,unused-ignore]
        except ImportError as error:
            raise CliError("warehouse events are not available in this build", 2) from error
        raise typer.Exit(ingest_warehouse_file(deps, file, out))
    raise typer.Exit(_ingest_dataset(deps, dataset, file))


@app.command()
def orders(
    status: Annotated[str | None, typer.Option(help="only orders in this status")] = None,
    project: Annotated[str | None, typer.Option("--project", help="only this project")] = None,
    limit: Annotated[int, typer.Option(help="at most this many")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table")] = False,
) -> None:
    """List orders."""
    from common.ports import OrderQuery

    page = _deps().store.query_orders(OrderQuery(status=status, project_id=project, limit=limit))
    if as_json:
        for order in page.items:
            out.print_json(order.model_dump_json())
        return
    table = Table(title=f"orders ({len(page.items)}{'+' if page.continuation else ''})")
    for column in ("order_id", "kind", "status", "rev", "design", "lines", "parent"):
        table.add_column(column)
    for order in page.items:
        lines = ", ".join(f"{line.sku}x{line.qty}" for line in order.lines)
        table.add_row(order.order_id, order.kind.value, order.status.value, str(order.revision),
                      str(order.design_version or ""), lines, order.parent_order_id or "")
    out.print(table)


@app.command()
def audit(order_id: Annotated[str, typer.Argument(help="the order")]) -> None:
    """An order's audit trail, oldest first."""
    entries = _deps().store.order_audit(order_id)
    if not entries:
        raise CliError(f"no audit entries for order {order_id}", 1)
    table = Table(title=f"audit of {order_id}")
    for column in ("at", "actor", "action", "from", "to", "changes", "reason"):
        table.add_column(column)
    for e in entries:
        changes = "; ".join(f"{c.path}: {c.old} -> {c.new}" for c in e.changes)
        table.add_row(e.at.isoformat(timespec="seconds"), f"{e.actor.type.value}:{e.actor.id}", e.action,
                      e.from_status.value if e.from_status else "", e.to_status.value if e.to_status else "",
                      changes, e.reason or "")
    out.print(table)


@app.command()
def jobs(limit: Annotated[int, typer.Option(help="at most this many")] = 20) -> None:
    """Recent job runs with their counts."""
    table = Table(title="job runs")
    for column in ("job_id", "job", "source", "status", "started", "counts"):
        table.add_column(column)
    for run in _deps().store.list_jobs(limit):
        counts = ", ".join(f"{k}={v}" for k, v in sorted(run.counts.items()) if v)
        table.add_row(run.job_id, run.job, run.source or "", run.status,
                      run.started_at.isoformat(timespec="seconds"), counts)
    out.print(table)


def main(argv: list[str] | None = None) -> None:
    """Entry point: one-line errors, never a traceback."""
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app(args=argv, standalone_mode=False)
    except CliError as error:
        err.print(f"oms: {error}", highlight=False)
        sys.exit(error.code)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except (typer.BadParameter, typer.Abort) as error:
        err.print(f"oms: {error}", highlight=False)
        sys.exit(2)
    except Exception as error:
        import click

        if isinstance(error, click.ClickException):
            err.print(f"oms: {error.format_message()}", highlight=False)
            sys.exit(2 if isinstance(error, click.UsageError) else 1)
        err.print(f"oms: {type(error).__name__}: {error}", highlight=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
