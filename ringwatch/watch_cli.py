"""`ringwatch watch`: continuous ingest, detection and webhook alerts (a thin layer over ingest.watch)."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.console import Console

from graph.db.connection import open_driver
from ingest.watch import parse_interval, watch
from ringwatch.errors import fail

err = Console(stderr=True)


def watch_cmd(
    drop_dir: Path = typer.Argument(..., exists=True, file_okay=False, help="Folder where deliveries appear."),
    every: str = typer.Option("1h", "--every", help="Time between cycles: 90s, 15m, 1h, 1d."),
    webhook: list[str] = typer.Option(
        None,
        "--webhook",
        envvar="RINGWATCH_WEBHOOKS",
        show_envvar=True,
        help="URL to POST alerts to; repeat (or a comma-separated RINGWATCH_WEBHOOKS).",
    ),
    once: bool = typer.Option(False, "--once", help="Run one cycle and exit (for cron or a systemd timer)."),
    reports: Path = typer.Option(Path("watch-reports"), "--reports", help="Folder for the ingest reports."),
) -> None:
    """Ingest new deliveries from DROP_DIR, re-detect, and POST signed alerts (new, grown, awaiting review).

    Each delivery is a sub-folder of DROP_DIR (names starting with . or _ are skipped until
    renamed). Alerts are signed with RINGWATCH_WEBHOOK_SECRET and never sent twice.

    Example: RINGWATCH_WEBHOOK_SECRET=... ringwatch watch /srv/drops --every 1h --webhook https://hooks.example/rw
    """
    try:
        every_s = parse_interval(every)
    except ValueError as e:
        fail(str(e))
    urls = [u.strip() for w in (webhook or []) for u in w.split(",") if u.strip()]
    secret = os.environ.get("RINGWATCH_WEBHOOK_SECRET", "").encode()
    if urls and len(secret) < 16:
        fail("set RINGWATCH_WEBHOOK_SECRET (16 characters or more) to sign the alerts")

    def show(cycle: dict) -> None:
        sent = ", ".join(f"{v} {k}" for k, v in cycle["sent"].items() if v) or "no webhooks"
        run = f"run {cycle['run']}" if cycle["run"] else "no new rows, no detection"
        err.print(
            f"watch: {cycle['loaded']:,} rows loaded; {run}; {cycle['alerts']} alert(s): {sent}",
            highlight=False,
            soft_wrap=True,
        )

    with open_driver() as driver:
        try:
            watch(driver, drop_dir, reports, urls, secret, every_s, show, cycles=1 if once else None, console=err)
        except ValueError as e:
            fail(str(e))
