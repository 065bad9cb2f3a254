"""`ringwatch ingest DIR --bulk`: the first load of an empty database through Neo4j's offline importer.

The online path (ingest.load) merges rows in transactions; a first load into an empty
database does not need that, and Neo4j's offline importer (`neo4j-admin database import
full`) writes the store files directly, many times faster. A bulk load:

1. Refuses unless the database is the local server (`ringwatch db start`) and holds no node
   at all: the importer replaces the whole store. Later deliveries load online. Refuses a
   delivery whose rows would not fit in this machine's memory (ingest.bulk_memory). Then stops
   the server, in the background while the delivery is read: nothing can write to it after
   the check, and an empty database has nothing to serve.
2. Reads and validates every file exactly as the online path does, with the same reader
   (ingest.reader), rules (ingest.contract.validate), quarantine (ingest.quarantine) and
   report (ingest.report): an account is known when this delivery's accounts file holds it,
   which in an empty database is what the online path's lookup finds.
3. Folds the valid rows as the online writes do (ingest.bulk_files) and writes one CSV per
   label and relationship type, in the importer's header format, to a temporary folder in
   the state directory, with each file's `(:IngestFile)` record (so the store never holds the
   rows without the record that they are loaded).
4. Runs the importer on the stopped server's store (graph.db.server.import_offline) and starts
   the server again, whatever happened; then creates the schema and sets each file's record
   with the online path's own statements, so loading the same files again says `already
   loaded`.

A file the reader refuses, and one whose reading stops part way, end as they do online
(`failed`, the other files load, the run ends with one `error:` line); the chunks read
before a stop are loaded and marked, so the same command without --bulk resumes the file.
"""

from __future__ import annotations

import json
import re
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import neo4j
import pandas as pd
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from graph.db import server
from graph.db.connection import open_driver, read, state_dir, write
from graph.db.schema import ensure_schema
from ingest.bulk_files import BY_NAME, FIRST_DELIVERY, ImportFiles, compact, fold, write_import_files
from ingest.bulk_memory import available_memory, memory_problem, peak_memory
from ingest.contract import FILES, validate
from ingest.load import DEFAULT_BATCH_SIZE, DEFAULT_WRITERS, IngestError, delivery_files, partition_of, prefetch
from ingest.quarantine import Quarantine
from ingest.reader import FileRejected, fingerprint, open_source
from ingest.report import FileReport, failure_line, file_progress_columns, load_result, summary_table
from ingest.writes import BEGIN_FILE, FAIL_FILE, FINISH_FILE, PARTITION_KEY

# The markers of the chunks a load committed (ingest.writes.CLAIM_BATCH, one per batch).
MARK_BATCHES = """
UNWIND $batches AS b
MERGE (m:IngestBatch {key: b.key}) ON CREATE SET m.rows = b.rows, m.at = datetime()
"""
NODE_COUNT = "MATCH (n) RETURN count(n) AS n"
LABELS = "CALL db.labels() YIELD label RETURN label"


@dataclass
class FileRead:
    """One delivered file, read and validated: its report and its valid rows, chunk by chunk."""

    kind: str
    path: Path
    sha: str
    report: FileReport
    valid: list[pd.DataFrame] = field(default_factory=list)  # one compact frame per chunk read whole
    refused: bool = False  # the reader refused it: nothing of it loads
    stopped: bool = False  # reading stopped part way: the chunks before load


# --------------------------------------------------------------------------- the database


def _label_counts(driver: neo4j.Driver) -> str:
    """'User: 2, AuditEvent: 1' (from the count store, so it is quick on a large graph)."""
    counts = []
    for row in read(driver, LABELS):
        label = row["label"].replace("`", "``")
        n = read(driver, f"MATCH (n:`{label}`) RETURN count(n) AS n")[0]["n"]  # noqa: S608 - a label the database named
        if n:
            counts.append((n, row["label"]))
    return ", ".join(f"{label}: {n:,}" for n, label in sorted(counts, reverse=True)[:5])


def require_empty_local(driver: neo4j.Driver) -> str:
    """The database name to import into; IngestError (one line) unless the database is the local
    server's, run by `ringwatch db start`, and holds no node."""
    target = getattr(driver, "_ringwatch_target", None)
    if target is None or not target.local:
        where = target.describe() if target else "the configured database"
        raise IngestError(
            f"--bulk writes the local server's store offline, and {where} is not the local server: "
            "load the delivery without --bulk"
        )
    if server.running_pid() is None:
        raise IngestError(
            f"the Neo4j answering on {target.uri} was not started by `ringwatch db start` from "
            f"{state_dir()}: --bulk needs that server (or load without --bulk)"
        )
    nodes = read(driver, NODE_COUNT)[0]["n"]
    if nodes:
        raise IngestError(
            f"the database is not empty ({nodes:,} nodes; {_label_counts(driver)}): --bulk only makes the "
            "first load into an empty database; load this delivery without --bulk (`ringwatch ingest DIR`)"
        )
    return target.database or "neo4j"


def _record_files(driver: neo4j.Driver, reads: list[FileRead], batch_size: int, writers: int) -> None:
    """Each file's (:IngestFile) set by the online path's own statements (ingest.writes), as a
    load leaves it: complete, failed, or failed part way with its loaded chunks marked, so that
    loading the file again skips or resumes it. (They were imported already, see _records; this
    makes them what the online statements make, whatever those become.)"""
    for r in reads:
        file = {"sha": r.sha, "name": r.path.name, "kind": r.kind}
        if r.report.status == "already loaded":
            continue
        if r.refused:
            write(driver, FAIL_FILE, error=r.report.error, **file)
            continue
        parts = writers if r.kind in PARTITION_KEY else 1
        write(driver, BEGIN_FILE, batch_size=batch_size, partitions=parts, delivery=FIRST_DELIVERY, **file)
        if r.stopped:
            write(driver, MARK_BATCHES, batches=_batch_markers(r, parts))
            write(driver, FAIL_FILE, error=r.report.error, **file)
        else:
            rep = r.report
            write(driver, FINISH_FILE, sha=r.sha, rows=rep.read, loaded=rep.loaded, quarantined=rep.quarantined)


def _records(reads: list[FileRead], batch_size: int, writers: int, started_ms: int) -> dict[str, pd.DataFrame]:
    """The (:IngestFile) and (:IngestBatch) nodes the online statements leave (BEGIN_FILE, then
    FINISH_FILE or FAIL_FILE; CLAIM_BATCH), as import rows: imported with the rows they describe,
    a store never holds a delivery's rows without the record that they are loaded."""
    now = int(time.time() * 1000)
    files, batches = [], []
    for r in reads:
        if r.report.status == "already loaded":
            continue
        row = {"sha256": r.sha, "name": r.path.name, "kind": r.kind, "started_at": started_ms}
        row["delivery"] = FIRST_DELIVERY
        parts = writers if r.kind in PARTITION_KEY else 1
        if not r.refused:
            row |= {"batch_size": batch_size, "partitions": parts}
        if r.refused or r.stopped:
            row |= {"status": "failed", "error": r.report.error, "failed_at": now}
        else:
            rep = r.report
            row |= {"status": "complete", "finished_at": now, "rows": rep.read, "loaded": rep.loaded}
            row |= {"quarantined": rep.quarantined}
        if r.stopped:
            batches += [m | {"at": now} for m in _batch_markers(r, parts)]
        files.append(row)
    numbers = [
        *("batch_size", "partitions", "rows", "loaded", "quarantined"),
        *("started_at", "finished_at", "failed_at", "delivery"),
    ]
    out = {}
    if files:
        columns = list(BY_NAME["IngestFile"].header)
        out["IngestFile"] = pd.DataFrame(files, columns=columns).astype(dict.fromkeys(numbers, "Int64"))
    if batches:
        out["IngestBatch"] = pd.DataFrame(batches, columns=["key", "rows", "at"]).astype(
            {"rows": "Int64", "at": "Int64"}
        )
    return out


def _batch_markers(r: FileRead, parts: int) -> list[dict]:
    """The (:IngestBatch) keys the online path would have committed for the chunks read."""
    if parts == 1:
        return [{"key": f"{r.sha}:{i}", "rows": len(frame)} for i, frame in enumerate(r.valid)]
    out = []
    for i, frame in enumerate(r.valid):
        sizes = partition_of(frame[PARTITION_KEY[r.kind]], parts).value_counts()
        out += [{"key": f"{r.sha}:{i}:{q}", "rows": int(sizes.get(q, 0))} for q in range(parts)]
    return out


# --------------------------------------------------------------------------- reading


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:300]


def read_file(
    r: FileRead,
    approx_rows: int,
    quarantine_dir: Path,
    batch_size: int,
    delivered: set[str],
    progress: Progress | None = None,
) -> FileRead:
    """Read and validate one file (`r`, its SHA-256 known) as the online path does: the same
    reader, rules and quarantine; its valid rows are kept, and an accounts file's accounts join
    `delivered`, the accounts this delivery makes known."""
    kind, path = r.kind, r.path
    quarantine = Quarantine(quarantine_dir, path.name)
    try:
        source = open_source(kind, path)
    except FileRejected as e:
        r.refused, r.report.status, r.report.error = True, "failed", str(e)
        return r
    quarantine.columns = source.columns
    r.report.extra_columns = [c for c in source.columns if c not in FILES[kind].columns]
    known = None if kind == "accounts" else (lambda ids: {i for i in ids if i in delivered})
    seen: set[str] = set()
    task = progress.add_task(path.name, total=source.approx_rows or approx_rows or None) if progress else None
    try:
        with closing(prefetch(source.chunks(batch_size), depth=2)) as chunks:
            for chunk in chunks:
                checked = validate(kind, chunk.frame, known, seen)
                _tally(r.report, chunk, checked, quarantine)
                r.valid.append(compact(checked.valid))
                if kind == "accounts":
                    delivered.update(checked.valid["account_id"].tolist())
                if progress is not None:
                    progress.update(task, advance=chunk.records)
    except Exception as e:  # the file, not the database: as online, the chunks before it load
        r.stopped, r.report.status = True, "failed"
        r.report.error = (
            f"{path.name}: reading stopped ({_first_line(e)}): the chunks before it are loaded; "
            "rerun without --bulk to resume"
        )
    finally:
        r.report.quarantine = quarantine.paths
    return r


def _tally(report: FileReport, chunk, checked, quarantine: Quarantine) -> None:
    """Count a validated chunk and append what it quarantines (as ingest.load does)."""
    report.read += chunk.records
    report.loaded += len(checked.valid)
    report.quarantined += len(checked.invalid) + len(chunk.bad)
    report.reasons.update(checked.invalid["_reason"].tolist())
    report.reasons.update(b.reason for b in chunk.bad)
    quarantine.add(chunk, checked)


def read_delivery(
    files: list[tuple[str, Path]], quarantine_dir: Path, batch_size: int, console: Console
) -> list[FileRead]:
    """Read and validate every file in load order, with the online path's progress display."""
    columns = file_progress_columns()
    delivered: set[str] = set()
    complete: set[str] = set()
    reads = []
    with Progress(*columns, console=console) as progress:
        for kind, path in files:
            began = time.monotonic()
            sha, approx_rows = fingerprint(path)
            if sha in complete:  # the same bytes twice in one delivery: as online, the second is skipped
                reads.append(FileRead(kind, path, sha, FileReport(status="already loaded")))
                continue
            r = FileRead(kind, path, sha, FileReport())
            read_file(r, approx_rows, quarantine_dir, batch_size, delivered, progress)
            r.report.seconds = time.monotonic() - began
            if not (r.refused or r.stopped):
                complete.add(r.sha)
            reads.append(r)
    return reads


# --------------------------------------------------------------------------- the import

STAGE = re.compile(r"^\((\d+)/(\d+)\) (.+?) \d{4}-\d{2}-\d{2} ")
PERCENT = re.compile(r"(\d+)% ∆")


class _ImporterProgress:
    """Turns the importer's output (stages `(1/4) Node import ...`, then `5% ∆...` lines) into a
    progress bar of 100 steps per stage."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task = progress.add_task("neo4j import", total=400)
        self.stage, self.stages = 0, 4

    def __call__(self, line: str) -> None:
        if m := STAGE.match(line):
            self.stage, self.stages = int(m.group(1)) - 1, int(m.group(2))
            self.progress.update(
                self.task,
                total=100 * self.stages,
                completed=100 * self.stage,
                description=f"neo4j import: {m.group(3)}",
            )
        elif m := PERCENT.search(line):
            self.progress.update(self.task, completed=100 * self.stage + int(m.group(1)))

    def done(self) -> None:
        self.progress.update(self.task, completed=100 * self.stages, description="neo4j import")


@contextmanager
def _phase(progress: Progress, name: str, phases: dict[str, float]) -> Iterator[None]:
    """A step shown as a one-step bar, its seconds noted in `phases` when it succeeds."""
    task = progress.add_task(name, total=1)
    began = time.monotonic()
    yield
    phases[name] = round(time.monotonic() - began, 3)
    progress.update(task, completed=1)


def _write_files(
    reads: list[FileRead], folder: Path, records: dict[str, pd.DataFrame], progress: Progress, phases: dict[str, float]
) -> ImportFiles:
    """Fold every kind's valid rows and write them, with the load's `records`, as import files;
    the rows are let go once folded (a file whose reading stopped keeps them for its markers)."""
    valid: dict[str, list[pd.DataFrame]] = {}
    for r in reads:
        valid.setdefault(r.kind, []).extend(r.valid)
        r.valid = r.valid if r.stopped else []
    with _phase(progress, "fold rows, write import files", phases):
        graph = fold(valid)
        valid.clear()
        return write_import_files(graph | records, folder)


def _start_again(imported: bool) -> None:
    try:
        server.start(timeout_s=server.START_TIMEOUT_S)
    except server.ServerError as e:
        then = (
            ", then run `ringwatch ingest DIR` once without --bulk (every file says already loaded, and the "
            "indexes are created)"
            if imported
            else ""
        )
        raise IngestError(
            f"the server did not start again ({_first_line(e)}): start it with `ringwatch db start`{then}"
        ) from e


class _Stopping:
    """`server.stop()` in a thread: the server is stopped as soon as the database is known to be
    empty (so nothing can write to it any more), while the delivery is read."""

    def __init__(self) -> None:
        self.began = time.monotonic()
        self.seconds: float | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._stop, name="bulk-stop-server", daemon=True)
        self.thread.start()

    def _stop(self) -> None:
        try:
            server.stop()
        except BaseException as e:  # re-raised by wait()
            self.error = e
        finally:
            self.seconds = round(time.monotonic() - self.began, 3)

    def wait(self) -> None:
        self.thread.join()
        if self.error is not None:
            raise self.error


def import_delivery(
    reads: list[FileRead], records: dict[str, pd.DataFrame], stopping: _Stopping, database: str, console: Console
) -> dict:
    """Write the import files and, the server stopped, replace the empty store with them; the
    server is started again whatever happens. Returns the rows imported per label and type, and
    the phases' seconds."""
    columns = (TextColumn("{task.description:<40}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn())
    phases: dict[str, float] = {}
    imported = False
    with (
        Progress(*columns, console=console) as progress,
        tempfile.TemporaryDirectory(prefix="bulk-", dir=state_dir()) as tmp,
    ):
        try:
            files = _write_files(reads, Path(tmp), records, progress, phases)
            with _phase(progress, "wait for the server to stop", phases):
                stopping.wait()
            if files.rows.keys() - {"IngestFile"}:  # else no file loads: the store stays as it is
                watcher = _ImporterProgress(progress)
                began = time.monotonic()
                server.import_offline(Path(tmp), files.arguments(), database, on_line=watcher)
                imported = True
                watcher.done()
                phases["neo4j import"] = round(time.monotonic() - began, 3)
        except server.ServerError as e:
            raise IngestError(str(e)) from e
        finally:
            stopping.thread.join()
            with _phase(progress, "start the server", phases):
                _start_again(imported)
    phases["stop the server (while reading)"] = stopping.seconds or 0.0
    return {
        "phases": phases,
        "nodes": _rows(files.nodes, files.rows),
        "relationships": _rows(files.relationships, files.rows),
    }


def _rows(entries: list[tuple[str, str]], rows: dict[str, int]) -> dict[str, int]:
    return {name: rows[name] for name, _ in entries}


def _result(reads: list[FileRead], elapsed: float, quarantine_dir: Path, bulk: dict) -> dict:
    """The online path's report (ingest.report.load_result), plus what the bulk load imported and its phases."""
    return {**load_result({r.path.name: r.report for r in reads}, False, elapsed, quarantine_dir), "bulk": bulk}


def bulk_ingest(
    driver: neo4j.Driver,
    folder: Path,
    report_path: Path | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    console: Console | None = None,
    writers: int = DEFAULT_WRITERS,
) -> dict:
    """Load `folder` into the empty local database through the offline importer; returns (and
    writes) the report, as ingest.load.ingest does. IngestError (one line) when the database is
    not the local server or not empty, or when files failed (the others are loaded).

    `driver` must point at the local server; the server is restarted, so `driver`'s open
    connections go stale (the driver reconnects). `writers` is recorded with each file, as
    online, so that a file whose reading stopped resumes on the same batches without --bulk.
    """
    files = delivery_files(folder)
    report_path = report_path or Path("ingest-report.json")
    quarantine_dir = report_path.parent / f"{report_path.stem}-quarantine"
    console = console or Console(stderr=True)
    database = require_empty_local(driver)
    # Before the server stops: a load the kernel would kill part way is refused now, in one line.
    problem = memory_problem(peak_memory([p for _, p in files]), available_memory(server.running_pid()))
    if problem:
        raise IngestError(problem)
    started, started_ms = time.monotonic(), int(time.time() * 1000)
    stopping = _Stopping()
    try:
        reads = read_delivery(files, quarantine_dir, batch_size, console)
        records = _records(reads, batch_size, writers, started_ms)
    except BaseException:  # the server goes back up as it was, empty
        stopping.thread.join()
        _start_again(imported=False)
        raise
    read_seconds = time.monotonic() - started
    bulk = import_delivery(reads, records, stopping, database, console)
    bulk["phases"] = {"read and validate": round(read_seconds, 3), **bulk["phases"]}
    began = time.monotonic()
    fresh = open_driver(driver._ringwatch_target)  # type: ignore[attr-defined]
    try:
        ensure_schema(fresh)
        _record_files(fresh, reads, batch_size, writers)
    finally:
        fresh.close()
    bulk["phases"]["schema and file records"] = round(time.monotonic() - began, 3)
    result = _result(reads, time.monotonic() - started, quarantine_dir, bulk)
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(result, indent=2))
    console.print(summary_table(result))
    console.print("bulk: " + ", ".join(f"{name} {s:.1f} s" for name, s in bulk["phases"].items()))
    failed = [r.report.error for r in reads if r.report.error]
    if failed:
        raise IngestError(failure_line(failed, len(reads) - len(failed), check=False), result)
    return result
