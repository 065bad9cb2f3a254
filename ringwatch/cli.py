"""The `ringwatch` command line.

Each command is a thin layer over a module of `graph/` or `ingest/`; errors the user can
act on (database down, bad arguments, bad files) print one line and exit non-zero.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from neo4j.exceptions import AuthError, ServiceUnavailable, SessionExpired
from rich.console import Console
from rich.table import Table

from graph import server
from graph.connection import DatabaseUnavailable, resolve_target, unavailable_message

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
db_app = typer.Typer(no_args_is_help=True, help="Run the local Neo4j + GDS, or inspect the configured one.")
app.add_typer(db_app, name="db")

console = Console()
err = Console(stderr=True)


class UserError(Exception):
    """An error to show as one line, without a traceback."""


@db_app.command("start")
def db_start() -> None:
    """Start the local Neo4j (building it with Maven on first use) and wait until it answers."""
    console.print(server.start())


@db_app.command("stop")
def db_stop() -> None:
    """Shut the local Neo4j down cleanly."""
    console.print(server.stop())


@db_app.command("status")
def db_status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """URI, Neo4j and GDS versions, node and relationship counts."""
    info = server.status()
    if as_json:
        print(json.dumps(info, indent=2, default=str))
        return
    table = Table(show_header=False, box=None)
    for key in ("uri", "neo4j", "edition", "gds", "nodes", "relationships", "pid", "state"):
        if key in info:
            table.add_row(key, str(info[key]))
    console.print(table)


@db_app.command("logs")
def db_logs(
    lines: int = typer.Option(50, "-n", "--lines", help="How many lines."),
    debug: bool = typer.Option(False, "--debug", help="Neo4j's debug.log instead of the console log."),
) -> None:
    """The tail of the local server's log."""
    p = server.paths()
    sys.stdout.write(server.tail(p.debug_log if debug else p.out, lines))


@db_app.command("reset")
def db_reset(yes: bool = typer.Option(False, "--yes", help="Really delete everything.")) -> None:
    """Delete every node and relationship of the configured database (needs --yes)."""
    if not yes:
        raise UserError(
            f"refusing to empty {resolve_target().describe()} without --yes "
            "(this deletes every node and relationship)"
        )
    console.print(f"deleted {server.reset()} nodes")


@app.command("ingest")
def ingest_cmd(
    folder: Path = typer.Argument(..., help="Delivery folder (contract files: .csv, .csv.gz, .parquet)."),
    report: Path = typer.Option(Path("ingest-report.json"), "--report", help="JSON report to write."),
    batch_size: int = typer.Option(10_000, "--batch-size", min=1, help="Rows per transaction."),
) -> None:
    """Validate and load a delivery; invalid rows go to quarantine with their reason."""
    from graph.connection import open_driver
    from ingest.load import IngestError, ingest

    driver = open_driver()
    try:
        ingest(driver, folder, report, batch_size, console=err)
    except IngestError as e:
        raise UserError(str(e)) from e
    finally:
        driver.close()
    err.print(f"report: {report}")


@app.command("generate")
def generate_cmd(
    out: Path = typer.Argument(..., help="Folder to write the delivery (and truth/) into."),
    accounts: int = typer.Option(25_000, "--accounts", min=100, help="How many accounts."),
    seed: int = typer.Option(1, "--seed", help="Random seed (same seed, same world)."),
    fmt: str = typer.Option("csv", "--format", help="csv, csv.gz or parquet."),
) -> None:
    """Write a synthetic world with planted farms and benign look-alikes (truth in OUT/truth/)."""
    from ingest.generate import generate_world

    if fmt not in ("csv", "csv.gz", "parquet"):
        raise UserError(f"--format must be csv, csv.gz or parquet, not {fmt!r}")
    counts = generate_world(out, accounts=accounts, seed=seed, fmt=fmt, progress=True)
    table = Table(title=f"world: {accounts:,} accounts, seed {seed} -> {out}")
    table.add_column("file")
    table.add_column("rows", justify="right")
    for name, n in counts.items():
        table.add_row(name, f"{n:,}" if isinstance(n, int) else str(n))
    err.print(table)


@app.command("hash-prompts")
def hash_prompts_cmd(
    log: Path = typer.Argument(..., help="Raw request log: CSV or JSONL with account_id, ts, ip, prompt."),
    out: Path = typer.Option(..., "--out", help="Folder for ip_sightings and prompt_templates files."),
    fmt: str = typer.Option("csv", "--format", help="csv, csv.gz or parquet."),
) -> None:
    """Turn a raw request log into contract files; raw prompts are written nowhere."""
    from ingest.prompts import hash_prompt_log

    if not log.exists():
        raise UserError(f"{log} does not exist")
    counts = hash_prompt_log(log, out, fmt=fmt)
    err.print(", ".join(f"{k}: {v:,}" if isinstance(v, int) else f"{k}: {v}" for k, v in counts.items()))


def main() -> None:
    try:
        app(standalone_mode=False)
    except (DatabaseUnavailable, server.ServerError, UserError) as e:
        err.print(f"[red]error:[/red] {e}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except (ServiceUnavailable, SessionExpired, AuthError) as e:
        err.print(f"[red]error:[/red] {unavailable_message(_safe_target(), e)}", highlight=False)
        sys.exit(1)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        err.print("aborted")
        sys.exit(130)
    except Exception as e:  # click usage errors come through here in non-standalone mode
        import click

        if isinstance(e, click.ClickException):
            e.show()
            sys.exit(e.exit_code)
        raise


def _safe_target():
    try:
        return resolve_target()
    except DatabaseUnavailable:
        from graph.connection import Target

        return Target(uri="(unconfigured)", user="", password="", local=True)


if __name__ == "__main__":
    main()


