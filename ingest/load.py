"""Load a delivery folder into the graph, exactly once, quarantining what breaks the contract.

How a file is loaded:
1. Its SHA-256 identifies it. A file whose (:IngestFile {sha256}) is `complete` is skipped.
2. It is looked over before anything is written (ingest.reader): a file that is not what its
   name says (a truncated gzip, a Parquet file that does not decode, binary junk, no
   header, a header without a required column) is refused. It is marked `failed` with the
   reason, the other files still load, and the run ends with one `error:` line naming the
   file and the fix. The same command after fixing the file loads it.
3. It is read in chunks of `batch_size` lines (CSV) or rows (Parquet), so the process's
   memory does not grow with the file. A line that cannot be split into the header's
   columns (not UTF-8, a NUL byte, over 1 MB, a stray quote, too many or too few fields)
   and a row that breaks a rule of the contract (ingest.contract) go to the file's
   quarantine (ingest.quarantine) with their line number and reason; the rest loads.
4. The valid rows of chunk i are written in one transaction with UNWIND, together with
   (:IngestBatch {key: sha256:i}). A rerun after a crash skips the chunks whose marker is
   committed, so every row is applied exactly once; the batch size is recorded on the
   file's node at first attempt and reused on resume, so chunk boundaries never move.

Accounts and IP intelligence load before the relationship files that need them.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import zlib
from collections import deque
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import neo4j
import pandas as pd
from rich.console import Console
from rich.progress import Progress

from graph.db.connection import DatabaseUnavailable, read, session, write
from graph.db.schema import ensure_schema
from ingest.contract import FILES, Checked, kind_of, validate
from ingest.quarantine import Quarantine
from ingest.reader import Chunk, FileRejected, Source, fingerprint, open_source
from ingest.report import FileReport, failure_line, file_progress_columns, load_result, summary_table
from ingest.writes import (
    BEGIN_FILE,
    DONE_BATCHES,
    FAIL_FILE,
    FILE_STATE,
    FINISH_FILE,
    KNOWN_ACCOUNTS,
    NEXT_DELIVERY,
    PARTITION_KEY,
    WRITE,
    batch_parameters,
    write_batch,
)

DEFAULT_BATCH_SIZE = 10_000
DEFAULT_WRITERS = 2

# Errors of the database, not of the file: they end the run (the file stays `loading`, and
# the same command resumes it once the database is back).
DATABASE_ERRORS = (neo4j.exceptions.Neo4jError, neo4j.exceptions.DriverError, DatabaseUnavailable)


class IngestError(RuntimeError):
    """The delivery cannot be read at all (no such folder, no contract files), or some of its
    files failed; `result` is the report when the run got that far."""

    def __init__(self, message: str, result: dict | None = None) -> None:
        super().__init__(message)
        self.result = result


def delivery_files(folder: Path) -> list[tuple[str, Path]]:
    """(kind, path) for every contract file in `folder`, in load order."""
    if not folder.is_dir():
        raise IngestError(f"{folder} is not a folder")
    found = [(kind_of(p.name), p) for p in sorted(folder.iterdir()) if p.is_file()]
    found = [(k, p) for k, p in found if k]
    if not found:
        raise IngestError(
            f"no contract files in {folder} (expected accounts, payment_methods, ip_sightings, "
            "ip_intel, prompt_templates as .csv, .csv.gz or .parquet)"
        )
    order = list(FILES)
    return sorted(found, key=lambda kp: (order.index(kp[0]), kp[1].name))


def partition_of(keys: pd.Series, parts: int) -> pd.Series:
    """Each key's part in 0..parts-1: CRC-32 of its text, so every run splits alike."""
    if parts == 1:
        return pd.Series(0, index=keys.index)
    return keys.map(lambda k: zlib.crc32(str(k).encode()) % parts)


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:300]


def _refused(report: FileReport, message: str, driver: neo4j.Driver | None = None, **file: Any) -> FileReport:
    """Mark the file failed (in the graph too when `driver` is given) with `message`."""
    report.status, report.error = "failed", message
    if driver is not None:
        write(driver, FAIL_FILE, error=message, **file)
    return report


def _advance(progress: Progress | None, task: Any, rows: int) -> None:
    if progress is not None:
        progress.update(task, advance=rows)


def _tally(report: FileReport, chunk: Chunk, checked: Checked, quarantine: Quarantine) -> None:
    """Count a validated chunk and append what it quarantines to the file's quarantine."""
    report.read += chunk.records
    report.quarantined += len(checked.invalid) + len(chunk.bad)
    report.reasons.update(checked.invalid["_reason"].tolist())
    report.reasons.update(b.reason for b in chunk.bad)
    quarantine.add(chunk, checked)


def _open(kind: str, path: Path, report: FileReport, quarantine_dir: Path) -> tuple[Source, Quarantine]:
    """The file's source and its (emptied) quarantine; FileRejected when it cannot be loaded."""
    quarantine = Quarantine(quarantine_dir, path.name)
    source = open_source(kind, path)
    quarantine.columns = source.columns
    report.extra_columns = [c for c in source.columns if c not in FILES[kind].columns]
    return source, quarantine


class Delivery:
    """This load's delivery number (ingest.writes.NEXT_DELIVERY), taken when a file first
    writes: a load that finds every file already loaded takes none, and leaves the graph as
    it was."""

    def __init__(self, driver: neo4j.Driver) -> None:
        self.driver = driver
        self._number: int | None = None

    @property
    def number(self) -> int:
        if self._number is None:
            self._number = int(write(self.driver, NEXT_DELIVERY)[0]["delivery"])
        return self._number


def load_file(
    driver: neo4j.Driver,
    kind: str,
    path: Path,
    quarantine_dir: Path,
    batch_size: int,
    progress: Progress | None = None,
    writers: int = DEFAULT_WRITERS,
    delivery: Delivery | None = None,
) -> FileReport:
    report = FileReport()
    delivery = delivery or Delivery(driver)
    sha, approx_rows = fingerprint(path)
    state = read(driver, FILE_STATE, sha=sha)
    if state and state[0]["status"] == "complete":
        report.status = "already loaded"
        return report
    file = {"sha": sha, "name": path.name, "kind": kind}
    try:
        source, quarantine = _open(kind, path, report, quarantine_dir)
    except FileRejected as e:
        return _refused(report, str(e), driver, **file)
    # Chunk boundaries and parts are fixed at the first attempt, so a resumed load names
    # the same batches whatever --batch-size or --writers it is given.
    parts = writers if kind in PARTITION_KEY else 1  # ip_intel: one part
    state = write(driver, BEGIN_FILE, batch_size=batch_size, partitions=parts, delivery=delivery.number, **file)
    batch_size, parts = int(state[0]["batch_size"] or batch_size), int(state[0]["partitions"])
    done = {r["key"] for r in read(driver, DONE_BATCHES, prefix=f"{sha}:")}
    if done:
        report.status = "resumed"
    task = progress.add_task(path.name, total=source.approx_rows or approx_rows or None) if progress else None
    writer = _Writer(driver, kind, sha, parts, done, delivery.number)
    try:
        with closing(_checked_chunks(driver, kind, source, batch_size, parts)) as chunks:
            for chunk, checked, split in chunks:
                _tally(report, chunk, checked, quarantine)
                report.loaded += len(checked.valid)
                for rows in writer.add(split, chunk.records):
                    _advance(progress, task, rows)
        for rows in writer.finish():
            _advance(progress, task, rows)
    except DATABASE_ERRORS:
        raise
    except Exception as e:  # the file, not the database: this file fails, the others load
        message = f"{path.name}: reading stopped ({_first_line(e)}): the chunks before it are loaded; rerun to resume"
        return _refused(report, message, driver, **file)
    finally:
        writer.close()
        report.retried = writer.retries.count
        report.quarantine = quarantine.paths
    write(driver, FINISH_FILE, sha=sha, rows=report.read, loaded=report.loaded, quarantined=report.quarantined)
    return report


def _checked_chunks(
    driver: neo4j.Driver, kind: str, source: Source, batch_size: int, parts: int
) -> Iterator[tuple[Chunk, Checked, list[tuple[dict, int]]]]:
    """Each chunk with its validation and its parts' write parameters, read ahead in a thread."""

    def known_accounts(ids: list[str]) -> set[str]:
        return set(read(driver, KNOWN_ACCOUNTS, ids=ids)[0]["ids"])

    seen: set[str] = set()

    def produce() -> Iterator[tuple[Chunk, Checked, list[tuple[dict, int]]]]:
        for chunk in source.chunks(batch_size):
            checked = validate(kind, chunk.frame, known_accounts if kind != "accounts" else None, seen)
            valid = checked.valid
            part = partition_of(valid[PARTITION_KEY[kind]], parts) if parts > 1 else None
            split = [valid] if part is None else [valid[part == p] for p in range(parts)]
            yield chunk, checked, [(batch_parameters(kind, f), len(f)) for f in split]

    # Reading and validating the next chunks overlaps with writing.
    with closing(prefetch(produce(), depth=parts + 1)) as validated:
        yield from validated


class _Writer:
    """Writes the parts of each chunk: one thread per part writes that part of every chunk,
    in file order, at its own pace (see PARTITION_KEY in ingest.writes: different parts never
    hold the same keyed node, so the threads do not wait on each other's locks, and a part's
    rows are applied in file order), skipping committed batches.

    Each part's thread takes its batches from a queue of at most PART_QUEUE chunks, so a
    part that runs behind holds the reader back and no more than that waits in memory. (Until
    2026-12-03 the parts of a step were written together and the next step waited for the
    slower one: at 1,000,000 accounts a quarter of the 2 cores sat idle.) Each chunk's records
    are split over its parts for the progress bar, which counts a part when it is written."""

    PART_QUEUE = 2

    def __init__(self, driver: neo4j.Driver, kind: str, sha: str, parts: int, done: set[str], delivery: int) -> None:
        self.driver, self.kind, self.sha, self.parts, self.done = driver, kind, sha, parts, done
        self.delivery = delivery
        self.index = -1
        self.written: deque[int] = deque()  # records of the parts written, not yet reported
        self.failure: BaseException | None = None  # the first write that failed; the threads skip the rest
        self.retries = _RetryCounter()
        logging.getLogger("neo4j.pool").addFilter(self.retries)
        self.queues = [queue.Queue(maxsize=self.PART_QUEUE) for _ in range(parts)]
        self.threads = [
            threading.Thread(target=self._write_part, args=(q,), daemon=True, name=f"ingest-writer-{q}")
            for q in range(parts)
        ]
        for thread in self.threads:
            thread.start()

    def key(self, index: int, part: int) -> str:
        return f"{self.sha}:{index}" if self.parts == 1 else f"{self.sha}:{index}:{part}"

    def _write_one(self, parameters: dict, rows: int, key: str) -> None:
        with session(self.driver, write=True) as s:
            s.execute_write(write_batch, WRITE[self.kind], {**parameters, "delivery": self.delivery}, rows, key)

    def _write_part(self, part: int) -> None:
        """Part `part` of each chunk queued, in order, until None; after a failure it only
        empties its queue (so the reader never waits on it)."""
        while (job := self.queues[part].get()) is not None:
            index, (parameters, rows), records = job
            if self.failure is not None:
                continue
            try:
                if self.key(index, part) not in self.done:
                    self._write_one(parameters, rows, self.key(index, part))
            except BaseException as e:  # re-raised by the reader's thread (add, finish)
                self.failure = self.failure or e
                continue
            self.written.append(records)

    def _reported(self) -> list[int]:
        if self.failure is not None:
            raise self.failure
        out = []
        while self.written:
            out.append(self.written.popleft())
        return out

    def add(self, split: list[tuple[dict, int]], records: int) -> list[int]:
        """Queue chunk `split` (its parts' parameters), of `records` source records; the records
        of the parts written since the last call."""
        self.index += 1
        for part, batch in enumerate(split):
            share = records * (part + 1) // self.parts - records * part // self.parts
            self.queues[part].put((self.index, batch, share))
        return self._reported()

    def finish(self) -> list[int]:
        """Wait for every part queued; the records not yet reported."""
        self._stop()
        return self._reported()

    def _stop(self) -> None:
        for q, thread in zip(self.queues, self.threads, strict=True):
            if thread.is_alive():
                q.put(None)
        for thread in self.threads:
            thread.join()

    def close(self) -> None:
        if any(thread.is_alive() for thread in self.threads):  # the reader failed: skip what is queued
            self.failure = self.failure or IngestError("ingest stopped")
            self._stop()
        logging.getLogger("neo4j.pool").removeFilter(self.retries)


def check_file(
    driver: neo4j.Driver,
    kind: str,
    path: Path,
    quarantine_dir: Path,
    batch_size: int,
    delivered: set[str],
    progress: Progress | None = None,
) -> FileReport:
    """Validate one file as `load_file` would and write its quarantine; write nothing to the graph.

    An account is known if this delivery's accounts file holds it (`delivered`, filled while
    the accounts file is checked, which comes first) or the graph does (read-only lookup).
    """
    report = FileReport(status="checked")
    _, approx_rows = fingerprint(path)
    try:
        source, quarantine = _open(kind, path, report, quarantine_dir)
    except FileRejected as e:
        return _refused(report, str(e))

    def known_accounts(ids: list[str]) -> set[str]:
        elsewhere = [i for i in ids if i not in delivered]
        in_graph = set(read(driver, KNOWN_ACCOUNTS, ids=elsewhere)[0]["ids"]) if elsewhere else set()
        return {i for i in ids if i in delivered} | in_graph

    task = progress.add_task(path.name, total=source.approx_rows or approx_rows or None) if progress else None
    seen: set[str] = set()
    try:
        for chunk in source.chunks(batch_size):
            checked = validate(kind, chunk.frame, known_accounts if kind != "accounts" else None, seen)
            _tally(report, chunk, checked, quarantine)
            if kind == "accounts":
                delivered.update(checked.valid["account_id"].tolist())
            if progress is not None:
                progress.update(task, advance=chunk.records)
    except DATABASE_ERRORS:
        raise
    except Exception as e:
        return _refused(report, f"{path.name}: reading stopped ({_first_line(e)})")
    finally:
        report.quarantine = quarantine.paths
    return report


class _RetryCounter(logging.Filter):
    """Counts (and keeps off the progress display) the driver's "will be retried" warnings."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage().startswith("Transaction failed and will be retried"):
            self.count += 1
            return False
        return True


def prefetch(items: Iterator, depth: int = 2) -> Iterator:
    """Iterate `items`, producing up to `depth` ahead in a background thread.

    Closing the iterator (as `closing()` does when the consumer fails) stops the producer
    after its current item and waits for it: a thread still inside pandas or Arrow when the
    interpreter exits aborts the process ("terminate called without an active exception").
    """
    done = object()
    stop = threading.Event()
    q: queue.Queue = queue.Queue(maxsize=depth)

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(done)
        except BaseException as e:  # re-raised in the consumer
            put(e)

    producer = threading.Thread(target=produce, daemon=True, name="ingest-prefetch")
    producer.start()
    try:
        while (item := q.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        producer.join()


def ingest(
    driver: neo4j.Driver,
    folder: Path,
    report_path: Path | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    console: Console | None = None,
    writers: int = DEFAULT_WRITERS,
    check: bool = False,
) -> dict:
    """Load every contract file of `folder`; returns (and writes) the JSON report.

    With `check`, validate only: the report and quarantine are written as a load would write
    them, and the database is only read (to know accounts delivered earlier). When a file
    failed, the report is written and IngestError says which file and what to do.
    """
    files = delivery_files(folder)
    report_path = report_path or Path("ingest-report.json")
    quarantine_dir = report_path.parent / f"{report_path.stem}-quarantine"
    console = console or Console(stderr=True)
    if not check:
        ensure_schema(driver)
    delivered: set[str] = set()
    delivery = Delivery(driver)
    started = time.monotonic()
    reports: dict[str, FileReport] = {}
    columns = file_progress_columns()
    with Progress(*columns, console=console) as progress:
        for kind, path in files:
            began = time.monotonic()
            if check:
                reports[path.name] = check_file(driver, kind, path, quarantine_dir, batch_size, delivered, progress)
            else:
                reports[path.name] = load_file(
                    driver, kind, path, quarantine_dir, batch_size, progress, writers=writers, delivery=delivery
                )
            reports[path.name].seconds = time.monotonic() - began
    result = load_result(reports, check, time.monotonic() - started, quarantine_dir)
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(result, indent=2))
    console.print(summary_table(result))
    failed = [r.error for r in reports.values() if r.error]
    if failed:
        raise IngestError(failure_line(failed, len(reports) - len(failed), check), result)
    return result
