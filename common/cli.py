"""The `oms` command (CONTRACT.md: CLI).

Exit status: 0 when the input was processed (even if some items were skipped
or quarantined), 1 when the input was rejected whole or the job failed, 2 for
a usage error; always with a one-line reason, never a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from common.cli_incidents import incidents_app
from common.domain.models import Actor, ActorType, OrderStatus
from common.service.bootstrap import Deps, get_deps

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Telecom Order Management System.")
out = Console()
err = Console(stderr=True)



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


def _ingest_events(deps: Deps, dataset: Dataset, path: Path) -> int:
    from common.service.event_files import ENGINEERING, WAREHOUSE, ingest_event_file

    kind = ENGINEERING if dataset == Dataset.events else WAREHOUSE
    with _progress() as bar:
        task = bar.add_task(f"{dataset.value} from {path.name}", total=None)
        run = ingest_event_file(deps, kind, path, lambda done, total: bar.update(task, completed=done, total=total))
    _print_counts(f"{run.job} {run.job_id}", run.counts, run.status)
    if run.details.get("rejected"):
        reasons = "; ".join(str(r.get("msg")) for r in run.details.get("reasons", []))
        raise CliError(f"{path.name} rejected (quarantined whole): {reasons}", 1)
    return 0


def _ingest_dataset(deps: Deps, dataset: Dataset, path: Path) -> int:
    name = {"master": "project-master", "catalog": "item-catalog", "stock": "stock-snapshots"}[dataset.value]
    if path.suffix.lower() in {".json", ".jsonl"} and dataset in (Dataset.master, Dataset.catalog):
        from common.service.handlers.fixtures import load_fixture

        counts = load_fixture(deps, name, path)
        _print_counts(f"ingest-{name}", counts, "succeeded")
        return 0
    from common.service.handlers.datasets import ingest_dataset_file

    job = ingest_dataset_file(deps, name, path)
    _print_counts(f"{job.job} {job.job_id}", job.counts, job.status)
    if job.details.get("rejected"):
        reasons = "; ".join(str(r.get("msg")) for r in job.details.get("reasons", []))
        err.print(f"oms: {path.name} rejected (quarantined whole): {reasons}", highlight=False)
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
    if dataset in (Dataset.events, Dataset.warehouse):
        raise typer.Exit(_ingest_events(deps, dataset, file))
    raise typer.Exit(_ingest_dataset(deps, dataset, file))


@app.command()
def orders(
    status: Annotated[OrderStatus | None, typer.Option(help="only orders in this status")] = None,
    project: Annotated[str | None, typer.Option("--project", help="only this project")] = None,
    limit: Annotated[int, typer.Option(min=1, help="at most this many")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table")] = False,
) -> None:
    """List orders."""
    from common.ports import OrderQuery

    page = _deps().store.query_orders(OrderQuery(status=status.value if status else None, project_id=project,
                                                 limit=limit))
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
def jobs(limit: Annotated[int, typer.Option(min=1, help="at most this many")] = 20) -> None:
    """Recent job runs with their counts."""
    table = Table(title="job runs")
    for column in ("job_id", "job", "source", "status", "started", "counts"):
        table.add_column(column)
    for run in _deps().store.list_jobs(limit):
        counts = ", ".join(f"{k}={v}" for k, v in sorted(run.counts.items()) if v)
        table.add_row(run.job_id, run.job, run.source or "", run.status,
                      run.started_at.isoformat(timespec="seconds"), counts)
    out.print(table)


class AllocationMode(StrEnum):
    greedy = "greedy"
    optimal = "optimal"


ALLOCATION_ROWS_SHOWN = 25


@app.command()
def allocate(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="report what would happen; change nothing")] = False,
    mode: Annotated[AllocationMode, typer.Option(help="greedy | optimal")] = AllocationMode.greedy,
    wait: Annotated[float, typer.Option(min=0, help="seconds to wait for a run in progress to end (default: "
                                                    "refuse at once, exit 1)")] = 0,
) -> None:
    """One allocation run: rank, reserve, allocate and release Approved orders.
    One run at a time: while another holds the allocation lease this one is
    refused (exit 1, naming the running run), or waits with --wait."""
    from common.domain.errors import RunInProgress
    from common.service.commands import RunAllocation
    from common.service.handlers.allocation import run_allocation

    err.print(f"allocating ({mode.value}{', dry run' if dry_run else ''}) ...", highlight=False)
    try:
        report = run_allocation(_deps(), RunAllocation(dry_run=dry_run, mode=mode.value, trigger="cli",
                                                       wait_seconds=wait))
    except RunInProgress as busy:
        raise CliError(f"{busy.message}; try again when it is done, or pass --wait SECONDS", 1) from busy
    solver = report.solver
    out.print(f"run {report.run_id}: {report.mode}{' (dry run)' if report.dry_run else ''}, "
              f"solver {solver.get('status')} in {solver.get('solve_seconds', 0):.3f} s, "
              f"weight per priority class {solver.get('weight')} of {solver.get('classes')}", highlight=False)
    if report.comparison:
        c = report.comparison
        out.print(f"greedy would fill {c['greedy_weight']}, optimal fills {c['optimal_weight']}: "
                  f"{c['gained_count']} orders gained, {c['displaced_count']} displaced", highlight=False)
    waiting = [o for o in report.orders if o.outcome != "allocated"]
    if waiting:
        table = Table(title=f"not allocated ({len(waiting)})")
        for column in ("rank", "order_id", "outcome", "reason", "shortfall", "blocked_by"):
            table.add_column(column)
        for o in waiting[:ALLOCATION_ROWS_SHOWN]:
            short = ", ".join(f"{s.sku} {s.needed}/{s.available}" for s in o.shortfall)
            table.add_row(str(o.rank or ""), o.order_id, o.outcome, o.reason or "", short,
                          ", ".join(o.blocked_by[:3]) + (" ..." if len(o.blocked_by) > 3 else ""))
        out.print(table)
    shown = ("considered", "allocated", "short", "rejected", "skipped", "released", "reconciled_completed",
             "reconciled_released")
    _print_counts(f"allocation {report.run_id}", {k: report.counts.get(k, 0) for k in shown}, report.status)
    raise typer.Exit(0 if report.status == "succeeded" else 1)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port", min=1, max=65535)] = 7071,
    load_samples: Annotated[bool, typer.Option("--load-samples", help="load the bundled sample projects, "
                                               "catalogue and engineering events first")] = False,
) -> None:
    """Everything in one process on the embedded store: the HTTP API, the
    allocation and SLA schedules, the outbox dispatcher and the inbox folders."""
    import logging

    from common.local.server import serve as run_server

    logging.getLogger("oms").setLevel(logging.INFO)
    run_server(host=host, port=port, samples=load_samples, say=lambda text: out.print(text, highlight=False))


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
        out.print_json(json.dumps(summary.to_json()))
    else:
        _print_simulation(summary, settings.sqlite_path)
    if summary.violations:
        for problem in summary.violations[:20]:
            err.print(f"invariant violated: {problem}", highlight=False)
        raise typer.Exit(1)


deadletters_app = typer.Typer(no_args_is_help=True, help="Event Hub batches the store could not take.")
app.add_typer(deadletters_app, name="deadletters")
app.add_typer(incidents_app, name="incidents")  # common/cli_incidents.py


@deadletters_app.command("list")
def deadletters_list(
    replayed: Annotated[bool, typer.Option("--replayed", help="list those replayed already")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table")] = False,
) -> None:
    """Dead-lettered batches waiting for a replay, oldest first."""
    from common.service.deadletters import list_dead_letters

    letters = list_dead_letters(_deps(), replayed=replayed)
    if as_json:
        for letter in letters:
            out.print_json(json.dumps(letter.to_json()))
        return
    table = Table(title=f"dead letters ({len(letters)}{' replayed' if replayed else ' waiting'})")
    for column in ("name", "source", "events", "dead-lettered", "error"):
        table.add_column(column, overflow="fold")
    for letter in letters:
        table.add_row(letter.name, letter.source, str(letter.count), letter.dead_lettered_at.isoformat("T", "seconds"),
                      f"{letter.error.get('type')}: {letter.error.get('message')}")
    out.print(table)


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
    table = Table(title=f"replayed {sum(r.status == 'replayed' for r in results)} of {len(results)}")
    for column in ("name", "status", "job", "counts / error"):
        table.add_column(column, overflow="fold")
    for r in results:
        detail = r.error or ", ".join(f"{k}={v}" for k, v in sorted(r.counts.items()) if v)
        table.add_row(r.name, r.status, r.job_id or "", detail)
    out.print(table)
    raise typer.Exit(0 if all(r.status == "replayed" for r in results) else 1)


quarantine_app = typer.Typer(no_args_is_help=True, help="Quarantined inputs: list, reprocess, confirm.")
app.add_typer(quarantine_app, name="quarantine")


@quarantine_app.command("list")
def quarantine_list(
    status: Annotated[str | None, typer.Option(help="open | reprocessed | discarded")] = "open",
    limit: Annotated[int, typer.Option(min=1, max=1000, help="at most this many")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table")] = False,
) -> None:
    """Quarantined inputs with their reasons, newest first."""
    if status not in (None, "open", "reprocessed", "discarded"):
        raise CliError(f"--status must be open, reprocessed or discarded, not {status!r}", 2)
    page = _deps().store.list_quarantine(status, limit)
    if as_json:
        for record in page.items:
            out.print_json(record.model_dump_json())
        return
    table = Table(title=f"quarantine ({len(page.items)}{'+' if page.continuation else ''})")
    table.add_column("id", no_wrap=True)  # copied into `oms quarantine confirm|reprocess ID`
    for column in ("source", "received", "event", "reason"):
        table.add_column(column, overflow="fold")
    for r in page.items:
        table.add_row(r.id, r.source, r.received_at.isoformat(timespec="seconds"), r.event_id or "",
                      r.reasons[0].msg if r.reasons else "")
    out.print(table)


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
        out.print_json(json.dumps(item, default=str))
    out.print(f"quarantine {result.record.id}: {result.record.status}")
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
    _print_counts(f"{run.job} {run.job_id}", run.counts, run.status)
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
        out.print(f"{settings.cosmos_database}/{name}: {'created' if name in created else 'exists'}", highlight=False)


def _print_simulation(summary: Any, path: str) -> None:
    table = Table(title=f"simulation {summary.tag}: {summary.projects} projects, {summary.days} days, "
                        f"seed {summary.seed}")
    table.add_column("what")
    table.add_column("value", justify="right")
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
        ("invariants", "all hold" if not summary.violations else f"{len(summary.violations)} violated"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    out.print(table)
    out.print(f"data left in {path}: `oms serve` shows it at /api/dashboard", highlight=False)


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
    try:
        code = app(args=argv, standalone_mode=False)
        # Without standalone mode click returns a command's typer.Exit code instead of exiting.
        if isinstance(code, int) and code:
            sys.exit(code)
    except CliError as error:
        _fail(str(error), error.code)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except (typer.BadParameter, typer.Abort) as error:
        _fail(str(error), 2)
    except Exception as error:
        # Typer raises its own vendored click's exceptions, not `click`'s: go by
        # their shape. A usage error's exit_code is 2, any other click error's 1.
        exit_code, message = getattr(error, "exit_code", None), getattr(error, "format_message", None)
        if isinstance(exit_code, int) and callable(message):
            if type(error).__name__ == "NoArgsIsHelpError":  # the help is on stdout already
                _fail("a command is required (see the help above)", 2)
            _fail(str(message()), exit_code)
        _fail(f"{type(error).__name__}: {error}", 1)


def _fail(reason: str, code: int) -> NoReturn:
    """The one-line reason (never wrapped to the console's width) and the exit status."""
    err.print(f"oms: {' '.join(reason.split())}", highlight=False, soft_wrap=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
