"""The ingest report: per-file counts, the JSON written with `--report`, the summary table."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text


@dataclass
class FileReport:
    read: int = 0  # records: data lines of a CSV (blank lines not counted), rows of a Parquet file
    loaded: int = 0
    quarantined: int = 0
    reasons: Counter = field(default_factory=Counter)
    status: str = "loaded"  # loaded, resumed, already loaded, checked, failed
    extra_columns: list[str] = field(default_factory=list)
    seconds: float = 0.0
    retried: int = 0  # transactions Neo4j made us retry (lock waits that became deadlocks)
    error: str | None = None  # why a failed file was not loaded, and what to do
    quarantine: list[str] = field(default_factory=list)  # the file's quarantine files

    def as_dict(self) -> dict:
        out = {
            "read": self.read,
            "loaded": self.loaded,
            "quarantined": self.quarantined,
            "reasons": dict(self.reasons),
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.read / self.seconds, 1) if self.read and self.seconds else None,
            "retried_transactions": self.retried,
        }
        if self.status == "checked":  # a check loads nothing; these rows would load
            out["valid"] = self.read - self.quarantined
        if self.extra_columns:
            out["extra_columns"] = self.extra_columns
        if self.error:
            out["error"] = self.error
        if self.quarantine:
            out["quarantine"] = self.quarantine
        return out


class RateColumn(TextColumn):
    """rows/s of a task, from rich's own speed estimate."""

    def __init__(self) -> None:
        super().__init__("")

    def render(self, task):  # type: ignore[override]
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} rows/s" if speed else "", style="cyan")


def file_progress_columns() -> tuple[ProgressColumn, ...]:
    """The columns of the per-file progress bars, the same for an online and a bulk load."""
    return (
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )


def summary_table(result: dict) -> Table:
    rate = result["rows_per_second"] or 0
    check = result.get("check_only", False)
    what = "check (nothing written)" if check else "ingest"
    table = Table(title=f"{what}: {result['elapsed_seconds']:.1f} s, {rate:,.0f} rows/s")
    good = "valid" if check else "loaded"
    numeric = ("read", good, "quarantined", "seconds", "rows/s")
    for col in ("file", "status", *numeric, "reasons"):
        table.add_column(col, justify="right" if col in numeric else "left")
    for name, r in result["files"].items():
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(r["reasons"].items()))
        if r.get("error"):
            reasons = "not loaded: see the error line"
        counts = (
            f"{r['read']:,}",
            f"{r.get(good, 0):,}",
            f"{r['quarantined']:,}",
            f"{r['seconds']:.1f}",
            f"{r['rows_per_second']:,.0f}" if r["rows_per_second"] else "",
        )
        # Text, not markup: a file name or reason with [brackets] is shown as it is
        table.add_row(Text(name), r["status"], *counts, Text(reasons))
    return table


def failure_line(failed: list[str], others: int, check: bool) -> str:
    """One line: each failed file's message, and what became of the others."""
    head = "" if len(failed) == 1 else f"{len(failed)} files failed: "
    done = "checked" if check else "loaded"
    rest = f"; the other file was {done}" if others == 1 else f"; the other {others} files were {done}"
    return head + "; ".join(failed) + (rest if others else "")


def load_result(reports: dict[str, FileReport], check: bool, elapsed: float, quarantine_dir: Path) -> dict:
    """The report of a load or a check (`ingest --report`), online or in bulk: per file, failed files, rate."""
    total_read = sum(r.read for r in reports.values())
    return {
        "check_only": check,
        "files": {name: r.as_dict() for name, r in reports.items()},
        "failed": [name for name, r in reports.items() if r.status == "failed"],
        "elapsed_seconds": round(elapsed, 3),
        "rows_per_second": round(total_read / elapsed, 1) if elapsed > 0 else None,
        "quarantine_dir": str(quarantine_dir) if any(r.quarantined for r in reports.values()) else None,
    }
