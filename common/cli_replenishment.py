"""`oms replenishment list|evaluate` and `oms allocate --what-if FILE`
(docs/replenishment.md, docs/allocation.md).

Exit status as every `oms` command: 0 done, 1 refused (a what-if naming
orders or projects that do not exist), 2 a usage error (a file that is not
JSON or not a what-if).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.table import Table

from common.service.bootstrap import Deps, get_deps

replenishment_app = typer.Typer(no_args_is_help=True, help="Replenishment requests by reorder thresholds.")
out = Console()
err = Console(stderr=True)
SHOWN = 25  # orders listed per what-if line


class Status(StrEnum):
    open = "open"
    fulfilled = "fulfilled"
    all = "all"


def _fail(message: str, code: int) -> Exception:
    from common.cli import CliError  # the one-line reason and exit status of `oms` (not at import: cli imports us)

    return CliError(message, code)


def _json(document: BaseModel) -> None:
    out.file.write(document.model_dump_json() + "\n")
    out.file.flush()


def _ids(ids: list[str] | None) -> str:
    if ids is None:
        return "-"
    return ", ".join(ids[:SHOWN]) + (f" (+{len(ids) - SHOWN})" if len(ids) > SHOWN else "")


@replenishment_app.command("list")
def list_requests(
    status: Annotated[Status, typer.Option(help="open | fulfilled | all")] = Status.open,
    warehouse: Annotated[str | None, typer.Option("--warehouse", help="only this warehouse")] = None,
    sku: Annotated[str | None, typer.Option(help="only this SKU")] = None,
    unblock: Annotated[bool, typer.Option(help="run a what-if per open request: the orders it would unblock")]
    = True,
    as_json: Annotated[bool, typer.Option("--json", help="the list as JSON (as the API answers it)")] = False,
) -> None:
    """Replenishment requests: quantity, position, due date, and the orders each open one would unblock."""
    from common.service.handlers.replenishment_view import list_replenishment

    listing = list_replenishment(get_deps(), status=None if status == Status.all else status.value,
                                 warehouse_id=warehouse,
                                 sku=sku, unblock=unblock)
    if as_json:
        _json(listing)
        return
    table = Table(title=f"replenishment requests ({status.value}): {listing.open} open")
    for column in ("request_id", "status", "qty", "position", "point/target", "due", "short orders",
                   "would unblock"):
        table.add_column(column, overflow="fold")
    for item in listing.items:
        due = item.due_at.date().isoformat() + (" OVERDUE" if item.overdue else "")
        if item.status != "open":
            due = f"closed after {(item.duration_seconds or 0) / 3600:.1f} h"
        table.add_row(item.request_id, item.status, str(item.quantity), str(item.position.get("projected")),
                      f"{item.reorder_point}/{item.target_level}", due, _ids(item.short_orders),
                      _ids(item.would_unblock))
    out.print(table)
    for note in listing.notes:
        err.print(f"note: {note}", highlight=False)


@replenishment_app.command("evaluate")
def evaluate() -> None:
    """Evaluate the reorder thresholds now, as the sweep timer does."""
    from common.service.commands import EvaluateReplenishment
    from common.service.handlers.replenishment import evaluate_replenishment

    report = evaluate_replenishment(get_deps(), EvaluateReplenishment("manual"))
    counts = report.counts()
    out.print(", ".join(f"{name} {value}" for name, value in counts.items()), highlight=False)


# ----------------------------------------------------------------- what-if
def read_what_if(path: Path) -> Any:
    """The what-if of a JSON file (the body of POST /api/allocation/simulations)."""
    from common.service.handlers.whatif import WhatIf

    if not path.is_file():
        raise _fail(f"{path}: no such file", 2)
    try:
        return WhatIf.model_validate_json(path.read_bytes())
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "(file)"
        raise _fail(f"{path.name} is not a what-if: {where}: {first['msg']} "
                    f"({error.error_count()} problem{'s' if error.error_count() > 1 else ''})", 2) from error


def run_what_if_file(deps: Deps, path: Path, mode: str | None, as_json: bool) -> int:
    """`oms allocate --what-if FILE`: the plan with the file's overrides and
    its difference from the plain plan; writes nothing."""
    from common.domain.errors import InvalidInput
    from common.service.handlers.whatif import run_what_if

    what = read_what_if(path)
    if mode is not None:
        what = what.model_copy(update={"mode": mode})
    try:
        report = run_what_if(deps, what)
    except InvalidInput as refused:
        reasons = "; ".join(f"{'.'.join(map(str, r.loc[1:]))}: {r.msg}" for r in refused.reasons)
        raise _fail(f"{path.name}: {reasons or refused.message}", 1) from refused
    if as_json:
        _json(report)
        return 0
    diff = report.difference
    out.print(f"what-if ({report.mode}, nothing written): {len(report.plan.allocated)} orders allocated, "
              f"{len(report.baseline.allocated)} without the overrides", highlight=False)
    out.print(f"moved in  ({len(diff.moved_in)}): {_ids(diff.moved_in)}", highlight=False)
    out.print(f"moved out ({len(diff.moved_out)}): {_ids(diff.moved_out)}", highlight=False)
    table = Table(title="allocated per priority class")
    for column in ("priority", "gated", "without", "with", "change"):
        table.add_column(column, justify="right")
    for w in diff.weight:
        table.add_row(str(w.national_priority or "-"), "yes" if w.gated else "no", str(w.baseline), str(w.what_if),
                      f"{w.delta:+d}")
    out.print(table)
    for note in report.notes:
        err.print(f"note: {note}", highlight=False)
    return 0
