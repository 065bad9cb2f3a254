"""The `ringwatch` command line.

Each command is a thin layer over a module of `graph/` or `ingest/`; errors the user can
act on (database down, bad arguments, bad files) print one line and exit non-zero.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from enum import StrEnum
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from neo4j.exceptions import AuthError, ServiceUnavailable, SessionExpired
from rich.console import Console
from rich.table import Table

from graph.db import server
from graph.db.connection import DatabaseUnavailable, resolve_target, unavailable_message
from ringwatch.detect_cli import calibrate_cmd
from ringwatch.errors import fail, print_error
from ringwatch.export_cli import export_cmd, indicators_app
from ringwatch.query_cli import query_app
from ringwatch.review_cli import audit_app, case_app, register_review_commands, users_app
from ringwatch.taxii_cli import taxii_app
from ringwatch.watch_cli import watch_cmd

if TYPE_CHECKING:  # pandas loads only with the commands that need it
    import pandas as pd

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__, pretty_exceptions_enable=False)
db_app = typer.Typer(no_args_is_help=True, help="Run the local Neo4j + GDS, or inspect the configured one.")
app.add_typer(db_app, name="db")
app.add_typer(query_app, name="query")
app.add_typer(indicators_app, name="indicators")
app.command("export")(export_cmd)
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")
app.add_typer(case_app, name="case")
app.add_typer(taxii_app, name="taxii")
register_review_commands(app)
app.command("watch")(watch_cmd)
app.command("calibrate")(calibrate_cmd)

console = Console()
err = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        print(f"ringwatch {version('ringwatch')}")
        raise typer.Exit()


@app.callback()
def _main_options(
    show_version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Find fake-account rings in Neo4j; decide on them; export the block list.

    Example: ringwatch db start && ringwatch detect
    """


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
    for key in (
        "uri",
        "neo4j",
        "edition",
        "gds",
        "nodes",
        "relationships",
        "pid",
        "state",
        "heap",
        "pagecache",
        "memory",
        "store",
        "pagecache hit ratio",
    ):
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
def db_reset(
    yes: bool = typer.Option(False, "--yes", help="Really delete everything."),
    remote: str = typer.Option(
        None,
        "--i-mean-remote",
        metavar="NAME",
        help="Needed when NEO4J_URI points at a database that is not the local server: repeat its name.",
    ),
) -> None:
    """Delete every node and relationship of the configured database (needs --yes).

    A database other than the local server is only emptied when --i-mean-remote repeats
    its name (the NEO4J_DATABASE, or "neo4j").

    Example: ringwatch db reset --yes
    """
    target = resolve_target()
    if not yes:
        fail(f"refusing to empty {target.describe()} without --yes (this deletes every node and relationship)")
    if not target.local:
        name = target.database or "neo4j"
        if remote != name:
            fail(f"{target.describe()} is not the local server: to empty it, add --i-mean-remote {name}")
    console.print(f"deleted {server.reset()} nodes")


@app.command("ingest")
def ingest_cmd(
    folder: Path = typer.Argument(..., help="Delivery folder (contract files: .csv, .csv.gz, .parquet)."),
    report: Path = typer.Option(Path("ingest-report.json"), "--report", help="JSON report to write."),
    batch_size: int = typer.Option(10_000, "--batch-size", min=1, help="Rows per chunk of a file."),
    writers: int = typer.Option(
        2,
        "--writers",
        min=1,
        max=16,
        help="Concurrent write transactions (each chunk is split so they lock different nodes).",
    ),
    check: bool = typer.Option(
        False,
        "--check",
        help="Validate only: write the report and quarantine, change nothing in the database "
        "(it is read to know accounts delivered earlier).",
    ),
    bulk: bool = typer.Option(
        False,
        "--bulk",
        help="First load of an empty local database through Neo4j's offline importer (stops and restarts "
        "the server; later deliveries load without --bulk).",
    ),
) -> None:
    """Validate and load a delivery; invalid rows go to quarantine with their reason.

    Example: ringwatch ingest delivery/ --report out/ingest.json   (first load: add --bulk)
    """
    from graph.db.connection import open_driver
    from ingest.load import IngestError, ingest

    if bulk and check:
        fail("--bulk and --check do not go together: check a delivery with --check, then load it with --bulk")
    driver = open_driver()
    try:
        if bulk:
            from ingest.bulk import bulk_ingest

            bulk_ingest(driver, folder, report, batch_size, console=err, writers=writers)
        else:
            ingest(driver, folder, report, batch_size, console=err, writers=writers, check=check)
    except IngestError as e:
        fail(str(e))
    finally:
        driver.close()
    err.print(f"report: {report}")


class Backend(StrEnum):
    auto = "auto"
    gds = "gds"
    gds_session = "gds-session"
    networkx = "networkx"


class FileFormat(StrEnum):
    csv = "csv"
    csv_gz = "csv.gz"
    parquet = "parquet"


@app.command("generate")
def generate_cmd(
    out: Path = typer.Argument(..., help="Folder to write the delivery (and truth/) into."),
    accounts: int = typer.Option(25_000, "--accounts", min=500, help="How many accounts (500 or more)."),
    seed: int = typer.Option(1, "--seed", help="Random seed (same seed, same world)."),
    fmt: FileFormat = typer.Option(FileFormat.csv, "--format", help="File format of the delivery."),
    difficulty: float = typer.Option(
        0.0, "--difficulty", min=0.0, max=1.0, help="How hard the farms are to find: 0 (easy, default) to 1."
    ),
) -> None:
    """Write a synthetic world with planted farms and benign look-alikes (truth in OUT/truth/).

    Example: ringwatch generate world --accounts 100000 --seed 7 --format parquet
    """
    from ingest.generate import generate_world

    try:
        counts = generate_world(out, accounts=accounts, seed=seed, fmt=fmt.value, progress=True, difficulty=difficulty)
    except ValueError as e:
        fail(str(e))
    table = Table(title=f"world: {accounts:,} accounts, seed {seed}, difficulty {difficulty:g} -> {out}")
    table.add_column("file")
    table.add_column("rows", justify="right")
    for name, n in counts.items():
        table.add_row(name, f"{n:,}" if isinstance(n, int) else str(n))
    err.print(table)


@app.command("hash-prompts")
def hash_prompts_cmd(
    log: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="Raw request log: CSV or JSONL with account_id, ts, ip, prompt."
    ),
    out: Path = typer.Option(..., "--out", help="Folder for ip_sightings and prompt_templates files."),
    fmt: FileFormat = typer.Option(FileFormat.csv, "--format", help="File format to write."),
) -> None:
    """Turn a raw request log into contract files; raw prompts are written nowhere.

    Example: ringwatch hash-prompts requests.jsonl --out delivery/
    """
    from ingest.prompts import hash_prompt_log

    try:
        counts = hash_prompt_log(log, out, fmt=fmt.value)
    except ValueError as e:
        fail(str(e))
    err.print(", ".join(f"{k}: {v:,}" if isinstance(v, int) else f"{k}: {v}" for k, v in counts.items()))


@app.command("detect")
def detect_cmd(
    backend: Backend = typer.Option(
        Backend.auto,
        "--backend",
        help="Community detection (auto: GDS when present; gds-session: an Aura GDS session, see README).",
    ),
    threshold: float = typer.Option(None, "--threshold", help="Ring score from which a ring is suspected."),
    top: int = typer.Option(10, "--top", help="How many top rings to print."),
    wait: float = typer.Option(
        0, "--wait", min=0, metavar="SECONDS", help="If another detection run is in progress, wait this long for it."
    ),
    incremental: bool = typer.Option(
        False,
        "--incremental/--full",
        help="Detect again only the region the deliveries since the last run touched (default: the whole graph).",
    ),
) -> None:
    """Find rings: community detection over shared entities, scored and explained, persisted.

    With --incremental, after a small delivery only the region it touched is detected again,
    when that can be trusted (the first line says which kind of run and why); its flagged
    set can differ from a full run's by a few accounts at a ring's edge (see the README).
    One run at a time: a second run exits with a message (or waits, with --wait).

    Example: ringwatch detect --top 20
    """
    from graph.db.connection import open_driver
    from graph.db.gds_session import GdsSessionError, session_config
    from graph.db.locks import LockBusy
    from graph.detection.communities import MemoryTooSmall
    from graph.detection.detect import detect
    from graph.detection.scoring import DEFAULT_THRESHOLD

    try:
        if backend is Backend.gds_session:
            session_config()  # missing credentials: say so before connecting or reading anything
        with open_driver() as driver:
            result = detect(
                driver,
                backend=backend.value,
                threshold=DEFAULT_THRESHOLD if threshold is None else threshold,
                log=lambda line: err.print(line, highlight=False),
                wait_s=wait,
                incremental=incremental,
            )
    except LockBusy as e:
        fail(f"{e}: wait for it, or run again with --wait SECONDS")
    except (GdsSessionError, MemoryTooSmall) as e:
        fail(str(e))
    where = " in the region it re-detected" if result.plan.get("kind") == "incremental" else ""
    console.print(rings_table(result.flagged_rings.head(top), f"top rings{where} (run {result.run_id})"))


def rings_table(rings: pd.DataFrame, title: str) -> Table:
    """The top rings as a rich table."""
    table = Table(title=title, show_lines=True)
    for col, just in (("ring", "left"), ("score", "right"), ("size", "right"), ("status", "left"), ("reason", "left")):
        table.add_column(col, justify=just, overflow="fold")
    for _, r in rings.iterrows():
        table.add_row(
            str(r.get("id", r["community"])),
            f"{r['score']:.2f}",
            str(int(r["size"])),
            str(r.get("status", "")),
            r["reason"],
        )
    return table


@app.command("evaluate")
def evaluate_cmd(
    truth_dir: Path = typer.Argument(..., help="The truth/ folder of a generated world."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    baselines: bool = typer.Option(True, "--baselines/--no-baselines", help="Also score the two baselines."),
) -> None:
    """Precision, recall, F1, ring recovery and benign false positives of the flagged rings."""
    from graph.db.connection import open_driver
    from graph.detection.evaluate import (
        baseline_p2p_rules,
        baseline_wcc_cards_ips,
        flagged_accounts,
        quality,
        read_truth,
    )
    from graph.detection.evidence import read_evidence

    try:
        truth = read_truth(truth_dir)
    except FileNotFoundError as e:
        fail(str(e))
    driver = open_driver()
    try:
        results = {"ringwatch": quality(truth, flagged_accounts(driver))}
        if baselines:
            ev = read_evidence(driver)
            results["p2p_rules"] = quality(truth, baseline_p2p_rules(ev))
            results["wcc_cards_ips"] = quality(truth, baseline_wcc_cards_ips(ev))
    finally:
        driver.close()
    if as_json:
        print(json.dumps(results, indent=2))
        return
    table = Table(title=f"detection quality vs {truth_dir}")
    for col in ("method", "flagged", "precision", "recall", "F1", "worst benign category"):
        table.add_column(col, justify="left" if col in ("method", "worst benign category") else "right")
    for name, q in results.items():
        worst = max(q["benign_flagged"].items(), key=lambda kv: kv[1]["rate"], default=("-", {"rate": 0}))
        table.add_row(
            name,
            f"{q['flagged']:,}",
            f"{q['precision']:.3f}",
            f"{q['recall']:.3f}",
            f"{q['f1']:.3f}",
            f"{worst[0]} {100 * worst[1]['rate']:.2f}%" if worst[1]["rate"] else "none (0.00%)",
        )
    console.print(table)
    q = results["ringwatch"]
    cats = Table(title="ringwatch: benign accounts flagged, by category")
    for col in ("category", "accounts", "flagged", "rate"):
        cats.add_column(col, justify="left" if col == "category" else "right")
    for cat, v in q["benign_flagged"].items():
        cats.add_row(cat, f"{v['accounts']:,}", f"{v['flagged']:,}", f"{100 * v['rate']:.2f}%")
    console.print(cats)
    styles = Table(title="ringwatch: recall by farm style")
    styles.add_column("style")
    styles.add_column("accounts", justify="right")
    styles.add_column("recall", justify="right")
    for style, v in q["recall_by_style"].items():
        styles.add_row(style, f"{v['accounts']:,}", f"{v['recall']:.3f}")
    console.print(styles)
    console.print(f"ring recovery: mean best Jaccard {q['mean_best_jaccard']}")


@app.command("app")
def app_cmd(port: int = typer.Option(8501, "--port", min=1, max=65535, help="Port on 127.0.0.1.")) -> None:
    """Serve the investigator app (Streamlit) on 127.0.0.1:PORT.

    Example: ringwatch app --port 8502
    """
    from ringwatch import webapp

    script = Path(webapp.__file__).resolve().parent / "main.py"  # found through the package: works installed
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(script),
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "minimal",
    ]
    err.print(f"serving the app on http://127.0.0.1:{port} (Ctrl-C stops it)")
    sys.stderr.flush()
    os.execv(sys.executable, cmd)  # streamlit takes over this process (signals reach it directly)


def _route_driver_logs() -> None:
    """Keep the driver's own log lines (connection resets, retry warnings) off stderr.

    The CLI reports a lost database itself, in one line; RINGWATCH_DRIVER_LOG=debug (or
    info, warning, error) shows the driver's lines too, for diagnosing a connection.
    """
    logger = logging.getLogger("neo4j")
    level = os.environ.get("RINGWATCH_DRIVER_LOG", "").strip().upper()
    if level in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(level)
    else:
        logger.addHandler(logging.NullHandler())  # stops Python's last-resort handler printing them


def main() -> None:
    """The `ringwatch` entry point: every failure a user can act on ends in one line."""
    _route_driver_logs()
    try:
        app(standalone_mode=False)
    except (DatabaseUnavailable, server.ServerError) as e:
        print_error(str(e))
        sys.exit(1)
    except (ServiceUnavailable, SessionExpired, AuthError) as e:
        print_error(unavailable_message(_safe_target(), e))
        sys.exit(1)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        err.print("aborted")
        sys.exit(130)
    except Exception as e:  # usage errors (bad option values) come through here in non-standalone mode
        import click

        # typer >= 0.20 raises its own vendored click's exceptions; older ones raise click's
        if isinstance(e, click.ClickException | typer.exceptions.TyperException) and hasattr(e, "show"):
            e.show()
            sys.exit(e.exit_code)
        raise


def _safe_target():
    try:
        return resolve_target()
    except DatabaseUnavailable:
        from graph.db.connection import Target

        return Target(uri="(unconfigured)", user="", password="", local=True)


if __name__ == "__main__":
    main()
