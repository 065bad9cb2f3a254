"""`ringwatch calibrate`: fit the score's behaviour weights on analysts' decisions.

A thin layer over graph.detection.calibrate: it reads the rings analysts confirmed,
blocked or dismissed, fits and cross-validates a logistic model of the behaviours, prints
its coefficients and how it compares with the default weights on rings it did not see,
and writes it as the detection parameters (a `DetectionParams` node) that the next
`ringwatch detect` uses. Below the minimum number of decisions it writes nothing and exits
with status 1, saying how many more are needed.
"""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from graph.db.connection import open_driver
from graph.detection import calibrate as cal
from graph.review.actors import cli_actor
from ringwatch.errors import fail

__all__ = ["calibrate_cmd"]

console = Console()
err = Console(stderr=True)


def _coefficients(result: cal.Calibration) -> Table:
    table = Table(title=f"behaviour model: sigmoid(intercept + sum(coef x feature)), penalty {result.penalty}")
    table.add_column("term")
    table.add_column("coefficient", justify="right")
    table.add_column("default (as a coefficient)", justify="right")
    table.add_row("intercept", f"{result.intercept:+.3f}", f"{-cal.STEEPNESS / 2:+.3f}")
    for (name, value), prior in zip(result.coef.items(), cal.prior_coef(), strict=True):
        table.add_row(name, f"{value:+.3f}", f"{prior:+.3f}")
    return table


def _validation(result: cal.Calibration) -> Table:
    table = Table(title=f"{result.cv['folds']}-fold cross-validation, threshold 0.5 (rings not seen in fitting)")
    for col in ("weights", "log-loss", "precision", "recall", "F1"):
        table.add_column(col, justify="left" if col == "weights" else "right")
    for name in ("calibrated", "default"):
        m = result.cv[name]
        table.add_row(name, f"{m['log_loss']:.3f}", f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}")
    return table


def _curve(result: cal.Calibration, points: int = 8) -> Table:
    table = Table(title="precision-recall curve (out-of-fold)")
    for col in ("threshold", "precision", "recall"):
        table.add_column(col, justify="right")
    curve = result.pr_curve
    step = max(1, len(curve) // points)
    for point in curve[::step]:
        table.add_row(f"{point['threshold']:.3f}", f"{point['precision']:.3f}", f"{point['recall']:.3f}")
    return table


def _changes(result: cal.Calibration, shown: int = 10) -> None:
    up = [c for c in result.changes if c["flagged"]]
    down = [c for c in result.changes if not c["flagged"]]
    for rows, verb in ((up, "would now flag"), (down, "would no longer flag")):
        if not rows:
            continue
        accounts = sum(c["size"] for c in rows)
        lines = ", ".join(
            f"{c['ring']} ({c['size']:,}: {c['score']:.2f} -> {c['new_score']:.2f})" for c in rows[:shown]
        )
        more = f" and {len(rows) - shown} more" if len(rows) > shown else ""
        err.print(
            f"the new weights {verb} {len(rows)} undecided ring(s), {accounts:,} accounts: {lines}{more}",
            highlight=False,
        )
    if not result.changes:
        err.print("the new weights move no undecided ring across the threshold", highlight=False)


def _show(result: cal.Calibration) -> None:
    console.print(_coefficients(result))
    console.print(_validation(result))
    console.print(_curve(result))
    _changes(result)
    if result.suggested_threshold is None:
        err.print(
            f"no threshold reaches precision {result.target_precision} on these decisions: the model flags at 0.5",
            highlight=False,
        )
    else:
        err.print(
            f"threshold for precision >= {result.target_precision}: {result.suggested_threshold:.4f}; detection "
            "puts the model's scores on the score's scale, where it shows as 0.5",
            highlight=False,
        )
    err.print(
        "a ring's score is the larger of the default weights' and the model's: the model adds rings, "
        "takes none off that the default weights flag",
        highlight=False,
    )


def calibrate_cmd(
    min_per_class: int = typer.Option(
        cal.MIN_PER_CLASS, "--min-per-class", min=2, help="Decided rings needed of each class (farm, dismissed)."
    ),
    target_precision: float = typer.Option(
        cal.TARGET_PRECISION, "--target-precision", min=0.0, max=1.0, help="Precision the suggested threshold reaches."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Fit and show; write nothing."),
    reset: bool = typer.Option(False, "--reset", help="Go back to the default weights (recorded, not deleted)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Fit the score's behaviour weights on the rings analysts confirmed/blocked vs dismissed.

    The next `ringwatch detect` uses the fitted model (and says so); below the minimum
    number of decisions nothing changes.

    Example: ringwatch calibrate --dry-run
    """
    actor = cli_actor()
    with open_driver() as driver:
        if reset:
            node = cal.reset(driver, actor)
            err.print(f"detection goes back to the default weights ({node})", highlight=False)
            return
        result = cal.calibrate(driver, min_per_class, target_precision, store=not dry_run, actor=actor)
    if as_json:
        print(json.dumps(cal.as_dict(result), indent=2))
    if not result.fitted:
        fail(result.message)
    if not as_json:
        _show(result)
    where = f"written as detection parameters {result.written}" if result.written else "not written (--dry-run)"
    err.print(f"{result.message}; {where}", highlight=False)
