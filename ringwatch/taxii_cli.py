"""`ringwatch taxii push|pull`: share indicators through a TAXII 2.1 collection (thin layer over graph.sharing.taxii).

The server's password comes from RINGWATCH_TAXII_PASSWORD, the share key from
RINGWATCH_SHARE_KEY: neither is ever a command-line argument.
"""

from __future__ import annotations

import os

import typer
from rich.console import Console

from graph.db.connection import open_driver
from graph.review.actors import cli_actor
from graph.sharing.indicators import IndicatorError
from graph.sharing.taxii import TaxiiError, pull, push
from graph.vocabulary import RING_STATUSES
from ringwatch.errors import fail

err = Console(stderr=True)
taxii_app = typer.Typer(no_args_is_help=True, help="Share indicators through a TAXII 2.1 server.")


def _secrets() -> tuple[str | None, str | None]:
    return os.environ.get("RINGWATCH_TAXII_PASSWORD") or None, os.environ.get("RINGWATCH_SHARE_KEY") or None


@taxii_app.command("push")
def push_cmd(
    collection: str = typer.Argument(..., help="The collection's URL: https://host/api-root/collections/ID/"),
    user: str = typer.Option(None, "--user", help="TAXII user (password: RINGWATCH_TAXII_PASSWORD)."),
    status: list[str] = typer.Option(None, "--status", help="Ring statuses to share; repeat (default: blocked)."),
    producer: str = typer.Option("ringwatch", "--producer", help="Producer identity named in the bundle."),
) -> None:
    """Add the indicators of decided rings to a TAXII collection.

    Example: RINGWATCH_TAXII_PASSWORD=... ringwatch taxii push https://taxii.example/api1/collections/ID/ --user lab1
    """
    statuses = list(dict.fromkeys(status or ["blocked"]))
    bad = [s for s in statuses if s not in RING_STATUSES]
    if bad:
        fail(f"--status must be one of {', '.join(RING_STATUSES)}, not {bad[0]!r}")
    password, key = _secrets()
    with open_driver() as driver:
        try:
            result = push(driver, cli_actor(), collection, statuses, key, user, password, producer)
        except (TaxiiError, IndicatorError) as e:
            fail(str(e))
    err.print(f"pushed {result['objects']:,} objects: {result['status']}", highlight=False, soft_wrap=True)


@taxii_app.command("pull")
def pull_cmd(
    collection: str = typer.Argument(..., help="The collection's URL: https://host/api-root/collections/ID/"),
    source: str = typer.Option(..., "--source", help="The partner's name, stored with its flags."),
    user: str = typer.Option(None, "--user", help="TAXII user (password: RINGWATCH_TAXII_PASSWORD)."),
    added_after: str = typer.Option(None, "--added-after", help="Only objects added after this time (ISO-8601)."),
) -> None:
    """Import a TAXII collection's indicators as a partner's (the same rules as `indicators import`).

    Example: ringwatch taxii pull https://taxii.example/api1/collections/ID/ --source lab-two --user lab1
    """
    password, key = _secrets()
    with open_driver() as driver:
        try:
            summary = pull(driver, cli_actor(), collection, source, key, user, password, added_after)
        except (TaxiiError, IndicatorError) as e:
            fail(str(e))
    matched = sum(v.get("matched", 0) for v in summary.values() if isinstance(v, dict))
    err.print(
        f"pulled {summary['objects']:,} objects from {source}: {matched:,} indicators matched",
        highlight=False,
        soft_wrap=True,
    )
