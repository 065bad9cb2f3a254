"""`ringwatch query list | show NAME | run NAME|--file F`: the Cypher investigation library.

Queries run in a READ session: a statement that writes (a library query marked
`@writes: true`, or anything the planner sees writing) is refused unless `--write` is
given. Parameters (`--param name=value`, typed by the query's header) always travel as
Cypher parameters. Rows stream from the server to the output one at a time: CSV
(formula-safe cells) or JSON (one list of row objects), to `--out FILE` or stdout.

Errors the user can act on are one line on stderr and exit status 1.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import typer
from neo4j.exceptions import ClientError, DatabaseError, TransientError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from graph.library import catalog as library
from ringwatch.errors import fail, first_line

query_app = typer.Typer(no_args_is_help=True, help="The Cypher investigation library: list, show and run queries.")

console = Console()
err = Console(stderr=True)
FORMATS = ("table", "csv", "json")
CELL_WIDTH = 40  # characters of a cell shown by --format table


@contextmanager
def output(out: Path | None) -> Iterator[IO[str]]:
    """stdout, or `out` written through a temporary file renamed into place on success."""
    if out is None:
        yield sys.stdout
        return
    tmp = out.with_name(out.name + ".part")
    try:
        with tmp.open("w", encoding="utf-8", newline="") as fh:
            yield fh
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)


@query_app.command("list")
def list_cmd() -> None:
    """Every query of the library with its parameters."""
    try:
        queries = library.list_queries()
    except library.LibraryError as e:
        fail(str(e))
    table = Table(title=Text(f"query library ({library.library_dir()})"), show_lines=True)
    table.add_column("name", no_wrap=True)
    table.add_column("answers")
    table.add_column("parameters")
    table.add_column("writes")
    for q in queries:
        table.add_row(
            Text(q.name),
            Text(q.summary),
            Text("\n".join(p.signature() for p in q.params.values()) or "-"),
            "yes" if q.writes else "no",
        )
    console.print(table)


@query_app.command("show")
def show_cmd(name: str = typer.Argument(..., help="Query name (see `ringwatch query list`).")) -> None:
    """A query's description, parameters, columns and Cypher text."""
    try:
        q = library.load(name)
    except library.LibraryError as e:
        fail(str(e))
    print(f"{q.name}  ({q.path})")
    print()
    print(q.description)
    print()
    print("parameters:")
    for p in q.params.values():
        print(f"  {p.signature():40s} {p.help}")
    if not q.params:
        print("  (none)")
    print(f"returns: {', '.join(q.returns) or '?'}")
    print(f"writes:  {'yes' if q.writes else 'no'}")
    print()
    print(q.text)


@query_app.command("run")
def run_cmd(
    name: str = typer.Argument(None, help="Library query to run (or give --file)."),
    params: list[str] = typer.Option(None, "--param", "-p", help="NAME=VALUE, typed by the query header; repeat."),
    file: Path = typer.Option(None, "--file", "-f", help="Run this Cypher file instead of a library query."),
    fmt: str = typer.Option(None, "--format", help="table, csv or json (default: by --out suffix, else table)."),
    out: Path = typer.Option(None, "--out", "-o", help="Write the rows here instead of stdout."),
    allow_write: bool = typer.Option(False, "--write", help="Allow a query that changes the graph."),
    max_rows: int = typer.Option(200, "--max-rows", min=1, help="Rows shown by --format table."),
) -> None:
    """Run a query with typed parameters; rows stream to stdout or --out."""
    from graph.db.connection import open_driver, session

    if (name is None) == (file is None):
        fail("give a query name or --file FILE (one of them)")
    fmt = resolve_format(fmt, out)
    if out is not None and not out.parent.is_dir():
        fail(f"folder {out.parent} does not exist")
    try:
        query = library.load(name) if file is None else library.load_file(file)
        values = library.bind(query, params or [], strict=file is None)
    except library.LibraryError as e:
        fail(str(e))
    driver = open_driver()
    try:
        with session(driver, write=allow_write) as s:
            keys, rows = library.stream(s, query, values, allow_write=allow_write)
            with output(out) as fh:
                if fmt == "csv":
                    n = library.write_csv(keys, rows, fh)
                elif fmt == "json":
                    n = library.write_json(keys, rows, fh)
                else:
                    n = write_table(query.name, keys, rows, fh, max_rows, to_terminal=out is None)
    except library.LibraryError as e:
        fail(str(e))
    except (ClientError, DatabaseError, TransientError) as e:
        fail(f"query {query.name} failed: {first_line(e)}")
    finally:
        driver.close()
    if out is not None:
        err.print(f"{n:,} rows -> {out}", highlight=False, soft_wrap=True)


def resolve_format(fmt: str | None, out: Path | None) -> str:
    """The output format: --format, else the --out suffix, else a table."""
    if fmt is None:
        if out is not None and out.suffix.lower() in (".csv", ".json"):
            return out.suffix.lower()[1:]
        return "csv" if out is not None else "table"
    if fmt not in FORMATS:
        fail(f"--format must be table, csv or json, not {fmt!r}")
    return fmt


def write_table(
    title: str, keys: list[str], rows: Iterator[dict], fh: IO[str], max_rows: int, to_terminal: bool
) -> int:
    """A table of the first `max_rows` rows, long cells cut; the rest are counted, not kept."""
    table = Table(title=Text(title))
    for k in keys:  # long cells are cut (CELL_WIDTH); --format csv|json give every character
        table.add_column(Text(k), overflow="fold", min_width=min(len(k), 8))
    n = 0
    for row in rows:
        if n < max_rows:
            table.add_row(*[_text(row[k]) for k in keys])
        n += 1
    target = console if to_terminal else Console(file=fh, width=200, force_terminal=False)
    target.print(table)
    more = f" (showing {max_rows}; use --format csv|json --out FILE for all)" if n > max_rows else ""
    if to_terminal or more:
        err.print(f"{n:,} rows{more}", highlight=False, soft_wrap=True)
    return n


def _text(value: object) -> Text:
    """A cell shown as plain text (never read as rich markup), cut to CELL_WIDTH characters."""
    if value is None:
        return Text("")
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, list | dict) else str(value)
    return Text(text if len(text) <= CELL_WIDTH else text[: CELL_WIDTH - 1] + "…")
