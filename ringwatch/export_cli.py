"""`ringwatch export` (block list as CSV/JSON, or rings as a STIX 2.1 bundle) and
`ringwatch indicators import` (a partner lab's STIX bundle, matched and flagged locally).

The share key for keyed hashes comes from the environment variable RINGWATCH_SHARE_KEY
or from `--share-key-file PATH` (a file only its owner can read), never from the command
line, where `ps` and the shell history would show it (graph.sharing.keys).
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
KEY_ON_COMMAND_LINE = (
    "--share-key no longer takes the key on the command line, where `ps` and the shell history show it: "
    f"set {KEY_ENV} or give --share-key-file PATH (a file only you can read)"
)

console = Console()
err = Console(stderr=True)

indicators_app = typer.Typer(no_args_is_help=True, help="Share ring indicators with partner labs (STIX 2.1).")

KEY_FILE_HELP = (
    f"File holding the share key agreed with the partner (at least 32 bytes; mode 600). Default: ${KEY_ENV}."
)


def share_key_option() -> object:
    """The --share-key-file option (a fresh one per command: typer options are not shared)."""
    return typer.Option(None, "--share-key-file", help=KEY_FILE_HELP)


def refused_key_option() -> object:
    """`--share-key VALUE`, kept only to say where the key goes now."""
    return typer.Option(None, "--share-key", hidden=True)


def load_key(share_key_file: Path | None, share_key: str | None) -> bytes | None:
    """The share key from --share-key-file or RINGWATCH_SHARE_KEY; one-line errors otherwise."""
    from graph.sharing.errors import IndicatorError
    from graph.sharing.keys import load_share_key

    if share_key is not None:
        fail(KEY_ON_COMMAND_LINE)
    try:
        return load_share_key(share_key_file)
    except IndicatorError as e:
        fail(str(e))


def export_cmd(
    out: Path = typer.Option(..., "--out", "-o", help="File to write."),
    fmt: str = typer.Option("csv", "--format", help="csv or json (the block list), or stix (a STIX 2.1 bundle)."),
    status: list[str] = typer.Option(
        None,
        "--status",
        help="Status to include; repeat (default: blocked). awaiting: members of decided rings no decision covers yet.",
    ),
    min_score: float = typer.Option(None, "--min-score", help="Only rings scoring at least this much."),
    share_key_file: Path = share_key_option(),
    share_key: str = refused_key_option(),
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
    key = load_key(share_key_file, share_key) if fmt == "stix" else None
    driver = open_driver()
    try:
        if fmt == "stix":
            try:
                counts = export_bundle(driver, out, statuses, min_score, key, producer, actor=cli_actor())
            except IndicatorError as e:
                fail(str(e))
            err.print(
                ", ".join(f"{v:,} {k}" for k, v in counts.items()) + f" -> {out}",
                highlight=False,
                soft_wrap=True,
                markup=False,
            )
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
    err.print(
        f"{len(frame):,} accounts of {rings:,} ring{'' if rings == 1 else 's'} ({', '.join(statuses)}) -> {out}",
        highlight=False,
        soft_wrap=True,
    )


@indicators_app.command("import")
def import_cmd(
    bundle: Path = typer.Argument(..., help="The partner's STIX 2.1 bundle (JSON, at most 50 MB)."),
    source: str = typer.Option(..., "--source", help="The partner's name, stored in partner_flags."),
    share_key_file: Path = share_key_option(),
    share_key: str = refused_key_option(),
) -> None:
    """Match a partner's indicators in force to local IPs, payment methods, templates and proxies; flag them."""
    from graph.db.connection import open_driver
    from graph.review.actors import cli_actor
    from graph.sharing.indicators import IndicatorError, import_bundle

    key = load_key(share_key_file, share_key)
    driver = open_driver()
    try:
        summary = import_bundle(driver, bundle, source, key, actor=cli_actor())
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
    err.print(import_notes(summary), highlight=False, soft_wrap=True, markup=False)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n:,} {reason}" for reason, n in counts.items() if n)


def import_notes(summary: dict) -> str:
    """The line under the import table: changes, then whatever did not count and why."""
    notes = [f"{summary['changes']:,} changes to the graph"]
    if any(summary["skipped"].values()):
        notes.append(f"skipped {_counts(summary['skipped'])}")
    if summary["withdrawn"]:
        notes.append(f"{summary['withdrawn']:,} indicators imported before no longer count")
    if summary["rejected"]:
        notes.append(f"rejected {_counts(summary['rejected'])}")
    if summary["unsupported"]:
        notes.append(f"{summary['unsupported']:,} indicators with patterns ringwatch cannot match")
    if summary["key_mismatch"]:
        notes.append(f"{summary['key_mismatch']:,} keyed indicators were made with another share key")
    return "; ".join(notes)


@indicators_app.command("forget")
def forget_cmd(source: str = typer.Option(..., "--source", help="The partner whose flags to remove.")) -> None:
    """Remove every flag a partner's imports set (its indicators and partner_flags entries)."""
    from graph.db.connection import open_driver
    from graph.review.actors import cli_actor
    from graph.sharing.indicators import clear_flags

    driver = open_driver()
    try:
        n = clear_flags(driver, source, actor=cli_actor())
    finally:
        driver.close()
    err.print(f"removed {n:,} indicators of {source}", highlight=False, soft_wrap=True, markup=False)
