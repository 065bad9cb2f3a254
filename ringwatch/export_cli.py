"""`ringwatch export` (block list as CSV/JSON, or rings as a STIX 2.1 bundle) and
`ringwatch indicators import` (a partner lab's STIX bundle, matched and flagged locally).

The share key for keyed hashes comes from `--share-key` or, better (it stays out of the
shell history), the environment variable RINGWATCH_SHARE_KEY.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from graph.vocabulary import RING_STATUSES
from ringwatch.errors import fail

EXPORT_FORMATS = ("csv", "json", "stix")
KEY_ENV = "RINGWATCH_SHARE_KEY"

console = Console()
err = Console(stderr=True)

indicators_app = typer.Typer(no_args_is_help=True, help="Share ring indicators with partner labs (STIX 2.1).")


def export_cmd(
    out: Path = typer.Option(..., "--out", "-o", help="File to write."),
    fmt: str = typer.Option("csv", "--format", help="csv or json (the block list), or stix (a STIX 2.1 bundle)."),
    status: list[str] = typer.Option(
        None, "--status",
        help="Status to include; repeat (default: blocked). awaiting: members of decided rings no decision covers yet.",
    ),
    min_score: float = typer.Option(None, "--min-score", help="Only rings scoring at least this much."),
    share_key: str = typer.Option(None, "--share-key", envvar=KEY_ENV, show_envvar=True,
                                  help="Key for the keyed hashes of payment and template indicators (stix)."),
    producer: str = typer.Option("ringwatch", "--producer", help="Producer identity named in a STIX bundle."),
) -> None:
    """Export the block list (default: blocked rings) as CSV or JSON, or the rings as a STIX bundle."""
    from graph.db.connection import open_driver
    from graph.library.export import block_list, record_export, write_block_list
    from graph.review.actors import cli_actor
    from graph.sharing.indicators import IndicatorError, export_bundle

    statuses = list(dict.fromkeys(status or ["blocked"]))
    allowed = (*RING_STATUSES, "awaiting")
    bad = [s for s in statuses if s not in allowed]
    if bad:
        fail(f"--status must be one of {', '.join(allowed)}, not {bad[0]!r}")
    if fmt not in EXPORT_FORMATS:
        fail(f"--format must be csv, json or stix, not {fmt!r}")
    if not out.parent.exists():
        fail(f"folder {out.parent} does not exist")
    driver = open_driver()
    try:
        if fmt == "stix":
            try:
                counts = export_bundle(driver, out, statuses, min_score, share_key, producer)
            except IndicatorError as e:
                fail(str(e))
            err.print(", ".join(f"{v:,} {k}" for k, v in counts.items()) + f" -> {out}", highlight=False,
                      soft_wrap=True)
            return
        try:
            frame = block_list(driver, statuses, min_score)
        except ValueError as e:
            fail(str(e))
        sha = write_block_list(frame, out, fmt)
        record_export(driver, cli_actor(), statuses, frame, fmt, sha, str(out.resolve()))
    finally:
        driver.close()
    rings = frame["ring_id"].nunique()
    err.print(f"{len(frame):,} accounts of {rings:,} ring{'' if rings == 1 else 's'} ({', '.join(statuses)}) -> {out}",
              highlight=False, soft_wrap=True)


@indicators_app.command("import")
def import_cmd(
    bundle: Path = typer.Argument(..., help="The partner's STIX 2.1 bundle (JSON)."),
    source: str = typer.Option(..., "--source", help="The partner's name, stored in partner_flags."),
    share_key: str = typer.Option(None, "--share-key", envvar=KEY_ENV, show_envvar=True,
                                  help="Key agreed with the partner, to match keyed hashes."),
) -> None:
    """Match a partner's indicators to local IPs, payment methods, templates and proxies; flag them."""
    from graph.db.connection import open_driver
    from graph.sharing.indicators import IndicatorError, import_bundle

    driver = open_driver()
    try:
        summary = import_bundle(driver, bundle, source, share_key)
    except IndicatorError as e:
        fail(str(e))
    finally:
        driver.close()
    table = Table(title=Text(f"indicators from {source} ({bundle.name})"))
    for col in ("kind", "indicators", "matched", "entities flagged"):
        table.add_column(col, justify="left" if col == "kind" else "right")
    for kind in ("ip", "payment", "template", "proxy"):
        k = summary[kind]
        table.add_row(kind, f"{k['indicators']:,}", f"{k['matched']:,}", f"{k['entities']:,}")
    console.print(table)
    notes = [f"{summary['changes']:,} changes to the graph"]
    if summary["unsupported"]:
        notes.append(f"{summary['unsupported']:,} indicators with patterns ringwatch cannot match")
    if summary["key_mismatch"]:
        notes.append(f"{summary['key_mismatch']:,} keyed indicators were made with another share key")
    err.print("; ".join(notes), highlight=False, soft_wrap=True)


@indicators_app.command("forget")
def forget_cmd(source: str = typer.Option(..., "--source", help="The partner whose flags to remove.")) -> None:
    """Remove every flag a partner's imports set (its indicators and partner_flags entries)."""
    from graph.db.connection import open_driver
    from graph.sharing.indicators import clear_flags

    driver = open_driver()
    try:
        n = clear_flags(driver, source)
    finally:
        driver.close()
    err.print(f"removed {n:,} indicators of {source}", highlight=False, soft_wrap=True)
