"""The `oms` command (CONTRACT.md: CLI; docs/cli.md).

Exit status: 0 when the input was processed (even if some items were skipped
or quarantined), 1 when the input was rejected whole or the job failed, 2 for
a usage error; always with a one-line reason, never a traceback.

Output: tables for people, `--json` on every command that reads or reports
(JSON lines for a list, one document for one thing). Tables name the store
they read. Piped, a table is as wide as its rows need (one row a line, no id
or reason cut); at a terminal ids never wrap and free text folds.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from pydantic import BaseModel
from rich.console import Console, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from common.cli_incidents import incidents_app
from common.cli_replenishment import replenishment_app, run_what_if_file
from common.domain.models import Actor, ActorType, OrderStatus
from common.service.bootstrap import Deps, built_deps, get_deps

if TYPE_CHECKING:
    from common.config import Settings

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Telecom Order Management System.")
out = Console()
err = Console(stderr=True)
JSON_HELP = "JSON instead of a table (one object a line for a list)"


class Dataset(StrEnum):
    events = "events"
    warehouse = "warehouse"
    master = "master"
    catalog = "catalog"
    stock = "stock"
    reorder_policy = "reorder-policy"


def _print_version(value: bool) -> None:
    if value:
        _say(out, f"oms {version()}")
        raise typer.Exit(0)


@app.callback()
def _root(
    show_version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_print_version,
                                               help="print the version and exit")] = False,
) -> None:
    """Telecom Order Management System."""


class CliError(Exception):
    """A one-line reason and an exit status."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("telecom-oms")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "0+unknown"


def _settings() -> Settings:
    """The settings of this process; one that does not parse raises, and
    main names the setting in one line (a usage error)."""
    built = built_deps()
    if built is not None:
        settings: Settings = built.settings
        return settings
    from common.config import get_settings

    return get_settings()


def store_label(settings: Settings) -> str:
    if settings.store == "sqlite":
        return settings.sqlite_path
    return f"Cosmos DB {settings.cosmos_endpoint or '(COSMOS_CONNECTION)'} database {settings.cosmos_database}"


def _deps() -> Deps:
    return get_deps()


def _read_deps() -> Deps:
    """For commands that only read: a store that is not there is named, never
    created empty (an empty answer would look like lost data)."""
    if built_deps() is None:
        settings = _settings()
        if settings.store == "sqlite" and not Path(settings.sqlite_path).exists():
            raise CliError(f"no store at {settings.sqlite_path}: nothing has been loaded there yet (scripts/run or "
                           f"`oms ingest` makes it; OMS_DATA_DIR or OMS_SQLITE_PATH point elsewhere)", 1)
    return get_deps()


def _progress() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=err, transient=False, disable=not err.is_terminal)


def _table(title: str, columns: Sequence[str], ids: Sequence[str] = (), deps: Deps | None = None) -> Table:
    """Id columns never wrap (they are copied into the next command); other
    text folds. The caption names the store the rows came from."""
    table = Table(title=title, caption=f"store {store_label(deps.settings)}" if deps is not None else None,
                  caption_justify="left")
    for column in columns:
        if column in ids:
            table.add_column(column, no_wrap=True)
        else:
            table.add_column(column, overflow="fold")
    return table


def _show(renderable: RenderableType) -> None:
    """At a terminal as wide as the terminal; piped or redirected, as wide as
    the rows need, so each row stays one line and nothing is cut."""
    if out.is_terminal:
        out.print(renderable)
        return
    width = out.measure(renderable, options=out.options.update_width(100_000)).maximum
    Console(file=out.file, width=max(width, 20), highlight=False, color_system=None).print(renderable)


def _say(console: Console, text: str) -> None:
    """One line, whatever the console's width."""
    console.print(text, highlight=False, soft_wrap=True, markup=False)


def _json(document: BaseModel | dict[str, Any]) -> None:
    text = document.model_dump_json() if isinstance(document, BaseModel) else json.dumps(document, default=str)
    out.file.write(text + "\n")
    out.file.flush()


def _json_lines(items: Iterable[BaseModel | dict[str, Any]]) -> None:
    for item in items:
        _json(item)


def _print_counts(title: str, counts: dict[str, int], status: str, deps: Deps | None = None) -> None:
    table = _table(f"{title}: {status}", ("count", "value"), ids=("count",), deps=deps)
    table.columns[1].justify = "right"
    for name in sorted(counts):
        table.add_row(name, str(counts[name]))
    _show(table)


def _rejected_reasons(details: dict[str, Any]) -> str:
    return "; ".join(str(r.get("msg")) for r in details.get("reasons", []))


def _report_job(deps: Deps, run: Any, path: Path, as_json: bool) -> int:
    """The job run's counts, titled with its real status; a file refused
    whole is exit 1 with its reasons on one line."""
    if as_json:
        _json(run)
    else:
        _print_counts(f"{run.job} {run.job_id}", run.counts, run.status, deps)
    if run.details.get("rejected"):
        raise CliError(f"{path.name} rejected (quarantined whole): {_rejected_reasons(run.details)}", 1)
    return 0 if run.status == "succeeded" else 1


def _ingest_events(deps: Deps, dataset: Dataset, path: Path, as_json: bool) -> int:
    from common.service.event_files import ENGINEERING, WAREHOUSE, ingest_event_file

    kind = ENGINEERING if dataset == Dataset.events else WAREHOUSE
    with _progress() as bar:
        task = bar.add_task(f"{dataset.value} from {path.name}", total=None)
        run = ingest_event_file(deps, kind, path, lambda done, total: bar.update(task, completed=done, total=total))
    return _report_job(deps, run, path, as_json)


def _ingest_dataset(deps: Deps, dataset: Dataset, path: Path, as_json: bool) -> int:
    name = {"master": "project-master", "catalog": "item-catalog", "stock": "stock-snapshots",
            "reorder-policy": "reorder-policy"}[dataset.value]
    if path.suffix.lower() in {".json", ".jsonl"} and dataset in (Dataset.master, Dataset.catalog,
                                                                  Dataset.reorder_policy):
        from common.service.handlers.fixtures import load_fixture

        try:
            counts = load_fixture(deps, name, path)
        except ValueError as error:  # JSON that does not parse: the job run failed, and says so
            raise CliError(f"{path.name} is neither JSON lines nor a JSON array: {error}", 1) from error
        if as_json:
            _json({"job": f"ingest-{name}", "status": "succeeded", "counts": counts})
        else:
            _print_counts(f"ingest-{name}", counts, "succeeded", deps)
        return 0
    from common.service.handlers.datasets import ingest_dataset_file

    # The same bars as events and simulate: rows read, then rows written.
    with _progress() as bar:
        tasks: dict[str, Any] = {}

        def advance(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(f"{stage} {path.name}", total=total)
            bar.update(tasks[stage], completed=done, total=total)

        job = ingest_dataset_file(deps, name, path, on_progress=advance)
    return _report_job(deps, job, path, as_json)


@app.command()
def ingest(
    dataset: Annotated[Dataset, typer.Argument(help="events | warehouse | master | catalog | stock | reorder-policy")],
    file: Annotated[Path, typer.Argument(help="JSON lines (events) or Parquet (datasets)")],
    as_json: Annotated[bool, typer.Option("--json", help="the job run as JSON instead of a table")] = False,
) -> None:
    """Process a file of events, or load a Parquet dataset."""
    if not file.is_file():
        raise CliError(f"{file}: no such file", 2)
    deps = _deps()
    if dataset in (Dataset.events, Dataset.warehouse):
        raise typer.Exit(_ingest_events(deps, dataset, file, as_json))
    raise typer.Exit(_ingest_dataset(deps, dataset, file, as_json))


@app.command()
def orders(
    status: Annotated[OrderStatus | None, typer.Option(help="only orders in this status")] = None,
    project: Annotated[str | None, typer.Option("--project", help="only this project")] = None,
    limit: Annotated[int, typer.Option(min=1, help="at most this many")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """List orders."""
    from common.ports import OrderQuery

    deps = _read_deps()
    page = deps.store.query_orders(OrderQuery(status=status.value if status else None, project_id=project,
                                              limit=limit))
    if as_json:
        _json_lines(page.items)
        return
    table = _table(f"orders ({len(page.items)}{'+' if page.continuation else ''})",
                   ("order_id", "kind", "status", "rev", "design", "lines", "parent"),
                   ids=("order_id", "kind", "status", "parent"), deps=deps)
    for order in page.items:
        lines = ", ".join(f"{line.sku}x{line.qty}" for line in order.lines)
        table.add_row(order.order_id, order.kind.value, order.status.value, str(order.revision),
                      str(order.design_version or ""), lines, order.parent_order_id or "")
    _show(table)


@app.command()
def order(
    order_id: Annotated[str, typer.Argument(help="the order")],
    as_json: Annotated[bool, typer.Option("--json", help="the order as JSON (the API's order resource)")] = False,
) -> None:
    """One order: its header and its lines."""
    deps = _read_deps()
    found = deps.store.get_order(order_id)
    if found is None:
        raise CliError(f"no order {order_id}", 1)
    if as_json:
        _json(found)
        return
    header = _table(f"order {found.order_id}", ("field", "value"), ids=("field",), deps=deps)
    shown = found.model_dump(mode="json", exclude={"lines"})
    for name, value in shown.items():
        if value not in (None, [], {}, ""):
            header.add_row(name, value if isinstance(value, str) else json.dumps(value))
    _show(header)
    lines = _table(f"lines ({len(found.lines)})", ("line", "sku", "qty", "uom", "source"), ids=("sku",))
    for line in found.lines:
        lines.add_row(str(line.line_no), line.sku, str(line.qty), line.uom, str(line.source.value))
    _show(lines)


@app.command()
def audit(
    order_id: Annotated[str, typer.Argument(help="the order")],
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """An order's audit trail, oldest first."""
    deps = _read_deps()
    entries = deps.store.order_audit(order_id)
    if not entries:
        raise CliError(f"no audit entries for order {order_id}", 1)
    if as_json:
        _json_lines(entries)
        return
    table = _table(f"audit of {order_id}", ("at", "actor", "action", "from", "to", "changes", "reason"),
                   ids=("at", "action", "from", "to"), deps=deps)
    for e in entries:
        changes = "; ".join(f"{c.path}: {c.old} -> {c.new}" for c in e.changes)
        table.add_row(e.at.isoformat(timespec="seconds"), f"{e.actor.type.value}:{e.actor.id}", e.action,
                      e.from_status.value if e.from_status else "", e.to_status.value if e.to_status else "",
                      changes, e.reason or "")
    _show(table)


JOBS_SCANNED = 1000  # job runs looked at for a --job filter


@app.command()
def jobs(
    limit: Annotated[int, typer.Option(min=1, help="at most this many")] = 20,
    job: Annotated[str | None, typer.Option(help="only this job (e.g. allocation, ingest-project-master)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Recent job runs with their counts, newest first."""
    deps = _read_deps()
    runs = deps.store.list_jobs(JOBS_SCANNED if job else limit)
    runs = [r for r in runs if job is None or r.job == job][:limit]
    if as_json:
        _json_lines(runs)
        return
    table = _table("job runs", ("job_id", "job", "source", "status", "started", "counts"),
                   ids=("job_id", "job", "status", "started"), deps=deps)
    for run in runs:
        counts = ", ".join(f"{k}={v}" for k, v in sorted(run.counts.items()) if v)
        table.add_row(run.job_id, run.job, run.source or "", run.status,
                      run.started_at.isoformat(timespec="seconds"), counts)
    _show(table)


@app.command()
def projects(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="at most this many")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Project master data as loaded, with whether each project qualifies for orders."""
    deps = _read_deps()
    page = deps.store.list_projects(limit=limit)
    rows = [{**p.model_dump(mode="json"), "qualifies": deps.policy.qualifies(p), "why_not": deps.policy.why_not(p)}
            for p in page.items]
    if as_json:
        _json_lines(rows)
        return
    table = _table(f"projects ({len(rows)}{'+' if page.continuation else ''})",
                   ("project_id", "site_code", "market", "status", "milestone", "priority", "warehouse", "qualifies"),
                   ids=("project_id", "site_code", "warehouse"), deps=deps)
    for row in rows:
        table.add_row(row["project_id"], row["site_code"] or "", row["market"] or "", row["project_status"],
                      row["milestone"], str(row["national_priority"]), row["warehouse_id"] or "",
                      "yes" if row["qualifies"] else f"no: {row['why_not']}")
    _show(table)


@app.command()
def inventory(
    warehouse: Annotated[str | None, typer.Option(help="only this warehouse")] = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """On hand, reserved and available per warehouse and SKU."""
    deps = _read_deps()
    rows = [{"warehouse_id": r.warehouse_id, "sku": r.sku, "on_hand": r.on_hand, "reserved": r.reserved,
             "available": r.available} for r in deps.inventory.stock(warehouse)]
    if as_json:
        _json_lines(rows)
        return
    table = _table(f"inventory ({len(rows)} rows)", ("warehouse_id", "sku", "on_hand", "reserved", "available"),
                   ids=("warehouse_id", "sku"), deps=deps)
    for row in rows:
        table.add_row(*(str(value) for value in row.values()))
    _show(table)


class AllocationMode(StrEnum):
    greedy = "greedy"
    optimal = "optimal"


ALLOCATION_ROWS_SHOWN = 25


def _print_allocation(report: Any, deps: Deps) -> None:
    solver = report.solver
    _say(out, f"run {report.run_id}: {report.mode}{' (dry run)' if report.dry_run else ''}, "
              f"solver {solver.get('status')} in {solver.get('solve_seconds', 0):.3f} s, "
              f"weight per priority class {solver.get('weight')} of {solver.get('classes')}")
    if report.comparison:
        c = report.comparison
        _say(out, f"greedy would fill {c['greedy_weight']}, optimal fills {c['optimal_weight']}: "
                  f"{c['gained_count']} orders gained, {c['displaced_count']} displaced")
    waiting = [o for o in report.orders if o.outcome != "allocated"]
    if waiting:
        table = _table(f"not allocated ({len(waiting)})",
                       ("rank", "order_id", "outcome", "reason", "shortfall", "blocked_by"),
                       ids=("order_id", "outcome"))
        for o in waiting[:ALLOCATION_ROWS_SHOWN]:
            short = ", ".join(f"{s.sku} {s.needed}/{s.available}" for s in o.shortfall)
            table.add_row(str(o.rank or ""), o.order_id, o.outcome, o.reason or "", short,
                          ", ".join(o.blocked_by[:3]) + (" ..." if len(o.blocked_by) > 3 else ""))
        _show(table)
    shown = ("considered", "allocated", "short", "rejected", "skipped", "released", "reconciled_completed",
             "reconciled_released")
    _print_counts(f"allocation {report.run_id}", {k: report.counts.get(k, 0) for k in shown}, report.status, deps)


@app.command()
def allocate(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="report what would happen; change nothing")] = False,
    mode: Annotated[AllocationMode, typer.Option(help="greedy | optimal")] = AllocationMode.greedy,
    wait: Annotated[float, typer.Option(min=0, help="seconds to wait for a run in progress to end (default: "
                                                    "refuse at once, exit 1)")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="the run report as JSON (as the API answers it)")] = False,
    what_if: Annotated[Path | None, typer.Option("--what-if", metavar="FILE", help=(
        "plan with the overrides of a JSON file (extra_stock, projects, exclude_orders, force_approved) and "
        "show the difference from the plain plan; writes nothing, takes no lease"))] = None,
) -> None:
    """One allocation run: rank, reserve, allocate and release Approved orders.
    One run at a time: while another holds the allocation lease this one is
    refused (exit 1, naming the running run), or waits with --wait."""
    if what_if is not None:  # common/cli_replenishment.py
        if dry_run or wait:
            raise CliError("--what-if writes nothing and takes no lease: --dry-run and --wait do not apply", 2)
        raise typer.Exit(run_what_if_file(_deps(), what_if, mode.value, as_json))
    from common.domain.errors import RunInProgress
    from common.service.commands import RunAllocation
    from common.service.handlers.allocation import run_allocation

    _say(err, f"allocating ({mode.value}{', dry run' if dry_run else ''}) ...")
    deps = _deps()
    try:
        report = run_allocation(deps, RunAllocation(dry_run=dry_run, mode=mode.value, trigger="cli",
                                                    wait_seconds=wait))
    except RunInProgress as busy:
        raise CliError(f"{busy.message}; try again when it is done, or pass --wait SECONDS", 1) from busy
    if as_json:
        _json(report)
    else:
        _print_allocation(report, deps)
    raise typer.Exit(0 if report.status == "succeeded" else 1)


allocation_app = typer.Typer(no_args_is_help=True, help="Allocation runs: list them, show one's report.")
app.add_typer(allocation_app, name="allocation")


@allocation_app.command("runs")
def allocation_runs(
    limit: Annotated[int, typer.Option(min=1, help="at most this many")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Recent allocation runs with their counts, newest first."""
    from common.service.handlers.allocation import recent_allocation_runs

    deps = _read_deps()
    runs = recent_allocation_runs(deps, limit)  # `oms allocation show RUN_ID` has a run's orders
    if as_json:
        _json_lines(r.model_dump(mode="json", exclude={"orders"}) for r in runs)
        return
    table = _table(f"allocation runs ({len(runs)})", ("run_id", "status", "mode", "started", "counts"),
                   ids=("run_id", "status", "mode", "started"), deps=deps)
    for r in runs:
        counts = ", ".join(f"{k}={v}" for k, v in sorted(r.counts.items()) if v)
        table.add_row(r.run_id, r.status, f"{r.mode}{' dry run' if r.dry_run else ''}",
                      r.started_at.isoformat(timespec="seconds"), counts)
    _show(table)


@allocation_app.command("show")
def allocation_show(
    run_id: Annotated[str, typer.Argument(help="the run (see `oms allocation runs`)")],
    as_json: Annotated[bool, typer.Option("--json", help="the run report as JSON (as the API answers it)")] = False,
) -> None:
    """What one allocation run did, with a reason per order not allocated."""
    from common.service.handlers.allocation import get_allocation_run

    deps = _read_deps()
    report = get_allocation_run(deps, run_id)
    if report is None:
        raise CliError(f"no allocation run {run_id}", 1)
    if as_json:
        _json(report)
    else:
        _print_allocation(report, deps)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port", min=1, max=65535)] = 7071,
    load_samples: Annotated[bool, typer.Option("--load-samples", help="load the bundled sample projects, "
                                               "catalogue and engineering events first")] = False,
    workers: Annotated[int, typer.Option(min=1, max=64, help="HTTP worker processes (the schedules, the outbox "
                                         "and the inbox stay in this process)")] = 1,
) -> None:
    """Everything in one process on the embedded store: the HTTP API, the
    allocation and SLA schedules, the outbox dispatcher and the inbox folders
    (with --workers N, the HTTP API in N processes beside it)."""
    import logging

    from common.local.server import ServeRefused
    from common.local.server import serve as run_server

    logging.getLogger("oms").setLevel(logging.INFO)
    _settings()  # a setting that does not parse is named before anything starts
    try:
        run_server(host=host, port=port, samples=load_samples, say=lambda text: _say(out, text), workers=workers)
    except ServeRefused as refused:
        raise CliError(str(refused), 1) from refused


@app.command()
def simulate(
    projects: Annotated[int, typer.Option(min=1, help="projects (sites) in the master data")] = 200,
    days: Annotated[int, typer.Option(min=1, help="days of operation")] = 30,
    seed: Annotated[int, typer.Option(help="random seed (the same seed replays the same run)")] = 7,
    db: Annotated[Path | None, typer.Option(help="SQLite file (default: OMS_SQLITE_PATH, so `oms serve` shows it)")]
    = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """A whole synthetic operation through the real handlers, with a summary."""
    from common.adapters.clock import FixedClock
    from common.config import get_settings
    from common.service.bootstrap import build
    from common.simulate import START, CountingNotifier, Simulation, Summary

    settings = get_settings()
    if db is not None:
        # Dataset snapshots belong with their store: a fresh file gets its own data folder.
        db = db.expanduser().absolute()
        settings = settings.model_copy(update={"sqlite_path": str(db),
                                               "data_dir": str(db.with_name(f"{db.stem}-data"))})
    if settings.store != "sqlite":
        raise CliError("oms simulate runs on the embedded store: set OMS_STORE=sqlite", 2)
    deps = build(settings, clock=FixedClock(at=START))
    with _progress() as bar:
        task = bar.add_task(f"simulating {projects} projects", total=days)

        def advance(day: int, summary: Summary) -> None:
            bar.update(task, completed=day + 1,
                       description=f"day {day + 1}/{days}: {sum(summary.events.values())} events")

        sim = Simulation(deps, projects, days, seed, on_day=advance)
        deps.notifier = CountingNotifier(sim.summary)
        summary = sim.run()
    if as_json:
        _json(summary.to_json())
    else:
        _print_simulation(summary, settings.sqlite_path)
    if summary.violations:
        for problem in summary.violations[:20]:
            _say(err, f"invariant violated: {problem}")
        raise typer.Exit(1)


deadletters_app = typer.Typer(no_args_is_help=True, help="Event Hub batches the store could not take.")
app.add_typer(deadletters_app, name="deadletters")
app.add_typer(incidents_app, name="incidents")  # common/cli_incidents.py
app.add_typer(replenishment_app, name="replenishment")  # common/cli_replenishment.py


@deadletters_app.command("list")
def deadletters_list(
    replayed: Annotated[bool, typer.Option("--replayed", help="list those replayed already")] = False,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Dead-lettered batches waiting for a replay, oldest first."""
    from common.service.deadletters import list_dead_letters

    deps = _deps()  # dead letters live in Blob Storage (or the data folder), not in the store
    letters = list_dead_letters(deps, replayed=replayed)
    if as_json:
        _json_lines(letter.to_json() for letter in letters)
        return
    table = _table(f"dead letters ({len(letters)}{' replayed' if replayed else ' waiting'})",
                   ("name", "source", "events", "dead-lettered", "error"), ids=("name", "source", "dead-lettered"))
    for letter in letters:
        table.add_row(letter.name, letter.source, str(letter.count), letter.dead_lettered_at.isoformat("T", "seconds"),
                      f"{letter.error.get('type')}: {letter.error.get('message')}")
    _show(table)


@deadletters_app.command("replay")
def deadletters_replay(
    names: Annotated[list[str] | None, typer.Argument(help="dead letters to replay (default: all waiting)")] = None,
    force: Annotated[bool, typer.Option("--force", help="replay even one older than OMS_MARKER_TTL_DAYS")] = False,
) -> None:
    """Replay dead-lettered batches through their handlers (each event applies once)."""
    from common.service.deadletters import DeadLetterError, replay_dead_letters

    try:
        results = replay_dead_letters(_deps(), names or None, force=force)
    except DeadLetterError as error:
        raise CliError(str(error), 1) from error
    table = _table(f"replayed {sum(r.status == 'replayed' for r in results)} of {len(results)}",
                   ("name", "status", "job", "counts / error"), ids=("name", "status", "job"))
    for r in results:
        detail = r.error or ", ".join(f"{k}={v}" for k, v in sorted(r.counts.items()) if v)
        table.add_row(r.name, r.status, r.job_id or "", detail)
    _show(table)
    raise typer.Exit(0 if all(r.status == "replayed" for r in results) else 1)


quarantine_app = typer.Typer(no_args_is_help=True, help="Quarantined inputs: list, reprocess, confirm.")
app.add_typer(quarantine_app, name="quarantine")


@quarantine_app.command("list")
def quarantine_list(
    status: Annotated[str | None, typer.Option(help="open | reprocessed | discarded")] = "open",
    limit: Annotated[int, typer.Option(min=1, max=1000, help="at most this many")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Quarantined inputs with their reasons, newest first (a row per reason)."""
    if status not in (None, "open", "reprocessed", "discarded"):
        raise CliError(f"--status must be open, reprocessed or discarded, not {status!r}", 2)
    deps = _read_deps()
    page = deps.store.list_quarantine(status, limit)
    if as_json:
        _json_lines(page.items)
        return
    # The id is copied into `oms quarantine confirm|reprocess ID`: never wrapped.
    table = _table(f"quarantine ({len(page.items)}{'+' if page.continuation else ''})",
                   ("id", "source", "received", "event", "reason"), ids=("id", "source", "received", "event"),
                   deps=deps)
    for r in page.items:
        worded = [f"{'.'.join(str(part) for part in x.loc)}: {x.msg}" if x.loc else x.msg for x in r.reasons]
        for n, reason in enumerate(worded or [""]):
            first = n == 0
            table.add_row(r.id if first else "", r.source if first else "",
                          r.received_at.isoformat(timespec="seconds") if first else "",
                          (r.event_id or "") if first else "", reason)
    _show(table)


@quarantine_app.command("reprocess")
def quarantine_reprocess(record_id: Annotated[str, typer.Argument(help="the quarantine record")]) -> None:
    """Run a quarantined input through its handler again (after the cause was fixed)."""
    from common.domain.errors import DomainError
    from common.service.commands import ReprocessQuarantined
    from common.service.handlers.quarantine import reprocess_quarantined

    try:
        result = reprocess_quarantined(_deps(), ReprocessQuarantined(record_id=record_id, actor=_cli_actor()))
    except DomainError as error:
        raise CliError(str(error), 1) from error
    for item in result.results:
        _json(item)
    _say(out, f"quarantine {result.record.id}: {result.record.status}")
    raise typer.Exit(0 if result.record.status == "reprocessed" else 1)


@quarantine_app.command("confirm")
def quarantine_confirm(record_id: Annotated[str, typer.Argument(help="the held dump's quarantine record")]) -> None:
    """Apply a master-data dump held because it would remove or deactivate
    more than OMS_INGEST_MAX_REMOVE_SHARE of what is stored."""
    from common.service.commands import ConfirmDataset
    from common.service.handlers.datasets import NotReprocessable, confirm_dataset

    try:
        run = confirm_dataset(_deps(), ConfirmDataset(record_id=record_id, actor=_cli_actor()))
    except NotReprocessable as error:
        raise CliError(str(error), 1) from error
    _print_counts(f"{run.job} {run.job_id}", run.counts, run.status, _deps())
    raise typer.Exit(0 if run.status == "succeeded" else 1)


def _cli_actor() -> Actor:
    return Actor(type=ActorType.USER, id=os.environ.get("USER") or "cli")


cosmos_app = typer.Typer(no_args_is_help=True, help="The Cosmos DB database the app runs on.")
app.add_typer(cosmos_app, name="cosmos")


@cosmos_app.command("init")
def cosmos_init() -> None:
    """Create the database and every container (partition key, indexing policy,
    TTL as infra/ provisions them, the change feed's leases too) where missing:
    for the emulators and `func start`. Uses COSMOS_CONNECTION (or
    COSMOS_CONNECTION__accountEndpoint with an identity allowed to create them)
    and COSMOS_DATABASE."""
    from common.adapters.cosmos.client import CosmosConfigError, connection_from_settings, get_client
    from common.adapters.cosmos.schema import containers, ensure_containers
    from common.config import get_settings

    settings = get_settings()
    try:
        conn = connection_from_settings(settings)
    except CosmosConfigError as error:
        raise CliError(str(error), 2) from error
    try:
        created = ensure_containers(get_client(conn), settings.cosmos_database)
    except Exception as error:
        raise CliError(f"could not create the containers at {conn.endpoint}: "
                       f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}", 1) from error
    for name in containers():
        _say(out, f"{settings.cosmos_database}/{name}: {'created' if name in created else 'exists'}")


def _print_simulation(summary: Any, path: str) -> None:
    table = _table(f"simulation {summary.tag}: {summary.projects} projects, {summary.days} days, seed {summary.seed}",
                   ("what", "value"), ids=("what",))
    table.columns[1].justify = "right"
    rows: list[tuple[str, str]] = [
        *((f"orders {state}", str(n)) for state, n in sorted(summary.orders_by_state.items())),
        *((f"orders of kind {kind}", str(n)) for kind, n in sorted(summary.orders_by_kind.items())),
        ("allocation fill rate", f"{summary.fill_rate:.1%} of {len(summary.candidates)} candidate orders"),
        ("SLA breaches flagged", str(summary.sla_flagged)),
        ("SLA breaches open now", str(summary.sla_open)),
        *((f"quarantined ({source})", str(n)) for source, n in sorted(summary.quarantine.items())),
        *((f"events {channel}", str(n)) for channel, n in sorted(summary.events.items())),
        *((f"outcome {name}", str(n)) for name, n in sorted(summary.outcomes.items())),
        ("events per second", f"{summary.events_per_second:,.0f}"),
        ("wall time", f"{summary.seconds:.1f} s"),
        ("master data loaded by", summary.master_loader),
        *((("replenishment", "{requested:.0f} requested ({raised:.0f} raised), {fulfilled:.0f} fulfilled in "
            "{mean_days_to_fulfil} days on average, {open:.0f} open".format(**summary.replenishment)),)
          if summary.replenishment else ()),
        ("invariants", "all hold" if not summary.violations else f"{len(summary.violations)} violated"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    _show(table)
    _say(out, f"data left in {path} (projects {summary.tag}-PRJ-…): `oms serve` shows it at /api/dashboard")


def main(argv: list[str] | None = None) -> None:
    """Entry point: one-line errors, never a traceback."""
    import logging

    if sys.stderr.isatty():
        # A person at a terminal reads lines of text; pipes and services get JSON.
        os.environ.setdefault("OMS_LOG_FORMAT", "text")
    try:
        from common.telemetry import configure

        # Structured logs on stderr; the console shows warnings and up unless OMS_LOG_LEVEL says more.
        configure(level=os.environ.get("OMS_LOG_LEVEL", "WARNING"))
    except Exception:  # settings that do not parse are reported by the command itself
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        code = app(args=args, standalone_mode=False)
        # Without standalone mode click returns a command's typer.Exit code instead of exiting.
        if isinstance(code, int) and code:
            sys.exit(code)
    except CliError as error:
        _fail(str(error), error.code)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.BadParameter as error:
        _fail(option_message(error, args), 2)
    except typer.Abort:
        _fail("aborted", 2)
    except Exception as error:
        if (message := settings_message(error)) is not None:
            _fail(message, 2)
        # Typer raises its own vendored click's exceptions, not `click`'s: go by
        # their shape. A usage error's exit_code is 2, any other click error's 1.
        exit_code, message = getattr(error, "exit_code", None), getattr(error, "format_message", None)
        if isinstance(exit_code, int) and callable(message):
            if type(error).__name__ == "NoArgsIsHelpError":  # the help is on stdout already
                _fail("a command is required (see the help above)", 2)
            _fail(str(message()), exit_code)
        _fail(f"{type(error).__name__}: {error}", 1)


# pydantic's wording of a bad option value, as the fix to make.
_REWORDS = (
    (re.compile(r"Input should be less than or equal to (\S+)"), r"must be at most \1"),
    (re.compile(r"Input should be greater than or equal to (\S+)"), r"must be at least \1"),
    (re.compile(r"Input should be less than (\S+)"), r"must be less than \1"),
    (re.compile(r"Input should be greater than (\S+)"), r"must be more than \1"),
    (re.compile(r"Input should be a valid integer.*"), "must be a whole number"),
    (re.compile(r"Input should be a valid number.*"), "must be a number"),
    (re.compile(r"Value error, (.*?)\.?$"), r"\1"),
)


def _given(args: Sequence[str], opts: Sequence[str]) -> str | None:
    """The value given on the command line for an option, if any."""
    for n, arg in enumerate(args):
        for opt in opts:
            if arg == opt and n + 1 < len(args):
                return args[n + 1]
            if arg.startswith(f"{opt}="):
                return arg.split("=", 1)[1]
    return None


def option_message(error: Any, args: Sequence[str]) -> str:
    """`serve --port: must be at most 65535, got 99999 (from 1 to 65535)`:
    the command, the option, what to fix, what was given."""
    param = getattr(error, "param", None)
    opts = list(getattr(param, "opts", None) or [])
    if not opts:
        return str(error.format_message())
    detail = str(getattr(error, "message", "") or error.format_message())
    for pattern, wording in _REWORDS:
        detail = pattern.sub(wording, detail)
    value = _given(args, opts)
    if value is not None and repr(value) not in detail and value not in detail:
        detail += f", got {value!r}"
    low, high = getattr(param, "min", None), getattr(param, "max", None)
    if low is not None and high is not None:
        detail += f" (from {low} to {high})"
    command = getattr(getattr(error, "ctx", None), "info_name", None)
    where = f"{command} " if command and command != Path(sys.argv[0]).name else ""
    return f"{where}{opts[0]}: {detail}"


def settings_message(error: Exception) -> str | None:
    """A setting that does not parse, named with what to write (None: the
    error is not about the settings)."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from common.config import API_KEYS_EXAMPLE, Settings

    def alias(name: str) -> str:
        field = Settings.model_fields.get(name)
        found = field.validation_alias if field is not None else None
        return found if isinstance(found, str) else name

    def hint(setting: str) -> str:
        return f" (e.g. {API_KEYS_EXAMPLE})" if setting == "OMS_API_KEYS" else ""

    if isinstance(error, SettingsError):
        match = re.search(r'field "(\w+)"', str(error))
        if match is None:
            return f"the settings do not parse: {error}"
        setting = alias(match[1])
        cause = f": {error.__cause__}" if error.__cause__ is not None else ""
        return f"{setting} is not valid JSON{cause}{hint(setting)}"
    if isinstance(error, ValidationError) and error.title == "Settings":
        problems = []
        for e in error.errors():
            setting = alias(str(e["loc"][0])) if e["loc"] else "a setting"
            # An entry of OMS_API_KEYS is named by its key, a secret: never echoed.
            inner = "an entry" if setting == "OMS_API_KEYS" and len(e["loc"]) > 1 else \
                ".".join(str(part) for part in e["loc"][1:])
            msg = str(e["msg"]).removeprefix("Value error, ")
            text = f"{setting}{f' ({inner})' if inner else ''}: {msg}"
            problems.append(text + (hint(setting) if API_KEYS_EXAMPLE not in text else ""))
        return "; ".join(problems)
    return None


def _fail(reason: str, code: int) -> NoReturn:
    """The one-line reason (never wrapped to the console's width) and the exit status."""
    err.print(f"oms: {' '.join(reason.split())}", highlight=False, soft_wrap=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
