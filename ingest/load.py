"""Load a delivery folder into the graph, exactly once, quarantining what breaks the contract.

How a file is loaded:
1. Its SHA-256 identifies it. A file whose (:IngestFile {sha256}) is `complete` is skipped.
2. It is read in chunks of `batch_size` rows (pandas; parquet by record batches), so the
   process's memory does not grow with the file.
3. Each chunk is validated (ingest.contract); invalid rows go, whole and unchanged, to
   `<quarantine>/<file>.csv` with a `_reason` column.
4. The valid rows of chunk i are written in one transaction with UNWIND, together with
   (:IngestBatch {key: sha256:i}). A rerun after a crash skips the chunks whose marker is
   committed, so every row is applied exactly once; the batch size is recorded on the
   file's node at first attempt and reused on resume, so chunk boundaries never move.

Accounts and IP intelligence load before the relationship files that need them.
"""

from __future__ import annotations

import hashlib
import json
import queue
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import neo4j
import pandas as pd
import pyarrow.parquet as pq
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from graph.connection import read, session, write
from graph.schema import ensure_schema
from ingest.contract import FILES, Checked, FileSpec, kind_of, validate

DEFAULT_BATCH_SIZE = 10_000

# One statement per file kind. `r` is one cleaned row; every value is a parameter.
WRITE: dict[str, str] = {
    "accounts": """
        UNWIND $rows AS r
        MERGE (a:Account {id: r.account_id})
        SET a.created_at = datetime({epochMillis: r.created_at}),
            a.country = coalesce(r.country, a.country),
            a.email_domain = coalesce(r.email_domain, a.email_domain),
            a.plan = coalesce(r.plan, a.plan)
    """,
    "ip_intel": """
        UNWIND $rows AS r
        MERGE (i:IP {address: r.ip})
        SET i.asn = coalesce(r.asn, i.asn),
            i.as_org = coalesce(r.as_org, i.as_org),
            i.ip_type = coalesce(r.ip_type, i.ip_type),
            i.proxy_provider = coalesce(r.proxy_provider, i.proxy_provider)
        FOREACH (_ IN CASE WHEN r.asn IS NULL THEN [] ELSE [1] END |
            MERGE (n:ASN {number: r.asn})
            SET n.org = coalesce(r.as_org, n.org)
            MERGE (i)-[:IN_ASN]->(n))
        FOREACH (_ IN CASE WHEN r.proxy_provider IS NULL THEN [] ELSE [1] END |
            MERGE (p:Proxy {name: r.proxy_provider})
            MERGE (i)-[:EXIT_OF]->(p))
    """,
    "payment_methods": """
        UNWIND $rows AS r
        MATCH (a:Account {id: r.account_id})
        MERGE (p:PaymentMethod {fingerprint: r.payment_fingerprint})
        SET p.method_type = coalesce(r.method_type, p.method_type),
            p.bin = coalesce(r.bin, p.bin),
            p.issuer_country = coalesce(r.issuer_country, p.issuer_country)
        MERGE (a)-[e:PAID_WITH]->(p)
        WITH e, r, CASE WHEN r.first_seen IS NULL THEN null ELSE datetime({epochMillis: r.first_seen}) END AS seen
        SET e.method_type = coalesce(r.method_type, e.method_type),
            e.first_seen = CASE WHEN e.first_seen IS NULL OR seen < e.first_seen
                                THEN coalesce(seen, e.first_seen) ELSE e.first_seen END
    """,
    "ip_sightings": """
        UNWIND $rows AS r
        MATCH (a:Account {id: r.account_id})
        MERGE (i:IP {address: r.ip})
        MERGE (a)-[e:USED_IP]->(i)
        WITH e, r, datetime({epochMillis: r.first_seen}) AS first, datetime({epochMillis: r.last_seen}) AS last
        SET e.requests = coalesce(e.requests, 0) + r.requests,
            e.first_seen = CASE WHEN e.first_seen IS NULL OR first < e.first_seen
                                THEN first ELSE e.first_seen END,
            e.last_seen = CASE WHEN e.last_seen IS NULL OR last > e.last_seen
                               THEN last ELSE e.last_seen END
    """,
    "prompt_templates": """
        UNWIND $rows AS r
        MATCH (a:Account {id: r.account_id})
        MERGE (t:PromptTemplate {hash: r.template_hash})
        MERGE (a)-[e:USED_TEMPLATE]->(t)
        // newest non-empty capability wins; FOREACH writes without reading (no Eager)
        FOREACH (_ IN CASE WHEN r.capability IS NULL THEN [] ELSE [1] END |
            SET t.capability = r.capability, e.capability = r.capability)
        WITH e, r, datetime({epochMillis: r.first_seen}) AS first, datetime({epochMillis: r.last_seen}) AS last
        SET e.requests = coalesce(e.requests, 0) + r.requests,
            e.first_seen = CASE WHEN e.first_seen IS NULL OR first < e.first_seen
                                THEN first ELSE e.first_seen END,
            e.last_seen = CASE WHEN e.last_seen IS NULL OR last > e.last_seen
                               THEN last ELSE e.last_seen END
    """,
}

FILE_STATE = "MATCH (f:IngestFile {sha256: $sha}) RETURN f.status AS status, f.batch_size AS batch_size"
BEGIN_FILE = """
MERGE (f:IngestFile {sha256: $sha})
ON CREATE SET f.batch_size = $batch_size, f.started_at = datetime(), f.status = 'loading'
SET f.name = $name, f.kind = $kind
RETURN f.batch_size AS batch_size
"""
DONE_BATCHES = "MATCH (b:IngestBatch) WHERE b.key STARTS WITH $prefix RETURN b.key AS key"
MARK_BATCH = "CREATE (:IngestBatch {key: $key, rows: $rows, at: datetime()})"
FINISH_FILE = """
MATCH (f:IngestFile {sha256: $sha})
SET f.status = 'complete', f.finished_at = datetime(), f.rows = $rows, f.loaded = $loaded,
    f.quarantined = $quarantined
"""
KNOWN_ACCOUNTS = "UNWIND $ids AS id MATCH (a:Account {id: id}) RETURN collect(a.id) AS ids"


@dataclass
class FileReport:
    read: int = 0
    loaded: int = 0
    quarantined: int = 0
    reasons: Counter = field(default_factory=Counter)
    status: str = "loaded"
    extra_columns: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        out = {
            "read": self.read,
            "loaded": self.loaded,
            "quarantined": self.quarantined,
            "reasons": dict(self.reasons),
            "status": self.status,
        }
        if self.extra_columns:
            out["extra_columns"] = self.extra_columns
        return out


class IngestError(RuntimeError):
    """The delivery cannot be read at all (no such folder, no contract files)."""


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


def fingerprint(path: Path) -> tuple[str, int]:
    """(SHA-256 of the bytes, approximate row count) in one streaming pass."""
    digest, lines = hashlib.sha256(), 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            lines += chunk.count(b"\n")
    if path.suffix == ".parquet":
        rows = pq.ParquetFile(path).metadata.num_rows
    elif path.name.endswith(".gz"):
        rows = 0  # unknown without decompressing; the progress bar shows counts only
    else:
        rows = max(lines - 1, 0)
    return digest.hexdigest(), rows


def read_chunks(path: Path, batch_size: int) -> Iterator[pd.DataFrame]:
    """The file as text DataFrames of `batch_size` rows (empty cells as '')."""
    if path.suffix == ".parquet":
        for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_size):
            frame = batch.to_pandas()
            yield frame.astype(object).where(frame.notna(), "").astype(str)
        return
    reader = pd.read_csv(
        path, dtype=str, keep_default_na=False, na_filter=False, chunksize=batch_size,
        encoding="utf-8", compression="infer",
    )
    yield from reader


def _records(frame: pd.DataFrame) -> list[dict]:
    frame = frame.astype(object).where(frame.notna(), None)
    return frame.to_dict("records")


def load_file(
    driver: neo4j.Driver,
    kind: str,
    path: Path,
    quarantine_dir: Path,
    batch_size: int,
    progress: Progress | None = None,
) -> FileReport:
    spec: FileSpec = FILES[kind]
    report = FileReport()
    sha, approx_rows = fingerprint(path)
    state = read(driver, FILE_STATE, sha=sha)
    if state and state[0]["status"] == "complete":
        report.status = "already loaded"
        return report
    if state:
        batch_size = int(state[0]["batch_size"] or batch_size)
    else:
        began = write(driver, BEGIN_FILE, sha=sha, batch_size=batch_size, name=path.name, kind=kind)
        batch_size = int(began[0]["batch_size"])
    done = {r["key"] for r in read(driver, DONE_BATCHES, prefix=f"{sha}:")}
    if done:
        report.status = "resumed"

    def known_accounts(ids: list[str]) -> set[str]:
        return set(read(driver, KNOWN_ACCOUNTS, ids=ids)[0]["ids"])

    task = progress.add_task(path.name, total=approx_rows or None) if progress else None
    quarantine_path = quarantine_dir / f"{path.name.split('.')[0]}.csv"
    quarantine_path.unlink(missing_ok=True)  # every run rewrites the file's invalid rows in full
    wrote_header = False
    def checked_chunks() -> Iterator[tuple[pd.DataFrame, Checked, list[dict]]]:
        for raw in read_chunks(path, batch_size):
            checked = validate(kind, raw, known_accounts if kind != "accounts" else None)
            yield raw, checked, _records(checked.valid[list(spec.columns)])

    # Reading and validating chunk i+1 overlaps with writing chunk i (2 threads, 2 cores).
    for index, (raw, checked, rows) in enumerate(prefetch(checked_chunks())):
        if index == 0:
            report.extra_columns = [c for c in raw.columns if c not in spec.columns]
        report.read += len(raw)
        report.quarantined += len(checked.invalid)
        report.reasons.update(checked.invalid["_reason"].tolist())
        if len(checked.invalid):
            quarantine_dir.mkdir(parents=True, exist_ok=True)
            checked.invalid.insert(0, "_file", path.name)
            checked.invalid.to_csv(quarantine_path, mode="a", header=not wrote_header, index=False)
            wrote_header = True
        key = f"{sha}:{index}"
        if key not in done:
            with session(driver, write=True) as s:
                s.execute_write(_write_batch, WRITE[kind], rows, key)
        report.loaded += len(checked.valid)
        if progress is not None:
            progress.update(task, advance=len(raw))
    write(
        driver, FINISH_FILE, sha=sha, rows=report.read, loaded=report.loaded,
        quarantined=report.quarantined,
    )
    return report


def prefetch(items: Iterator, depth: int = 2) -> Iterator:
    """Iterate `items`, producing up to `depth` ahead in a background thread."""
    done = object()
    q: queue.Queue = queue.Queue(maxsize=depth)

    def produce() -> None:
        try:
            for item in items:
                q.put(item)
            q.put(done)
        except BaseException as e:  # re-raised in the consumer
            q.put(e)

    threading.Thread(target=produce, daemon=True, name="ingest-prefetch").start()
    while (item := q.get()) is not done:
        if isinstance(item, BaseException):
            raise item
        yield item


def _write_batch(tx: neo4j.ManagedTransaction, statement: str, rows: list[dict], key: str) -> None:
    # The batch's marker commits in the same transaction as its rows: all or nothing.
    if rows:
        tx.run(statement, rows=rows).consume()
    tx.run(MARK_BATCH, key=key, rows=len(rows)).consume()


def ingest(
    driver: neo4j.Driver,
    folder: Path,
    report_path: Path | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    console: Console | None = None,
) -> dict:
    """Load every contract file of `folder`; returns (and writes) the JSON report."""
    files = delivery_files(folder)
    report_path = report_path or Path("ingest-report.json")
    quarantine_dir = report_path.parent / f"{report_path.stem}-quarantine"
    console = console or Console(stderr=True)
    ensure_schema(driver)
    started = time.monotonic()
    reports: dict[str, FileReport] = {}
    columns = (
        TextColumn("{task.description:<24}"), BarColumn(), MofNCompleteColumn(), _RateColumn(),
        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as progress:
        for kind, path in files:
            reports[path.name] = load_file(driver, kind, path, quarantine_dir, batch_size, progress)
    elapsed = time.monotonic() - started
    total_read = sum(r.read for r in reports.values())
    result = {
        "files": {name: r.as_dict() for name, r in reports.items()},
        "elapsed_seconds": round(elapsed, 3),
        "rows_per_second": round(total_read / elapsed, 1) if elapsed > 0 else None,
        "quarantine_dir": str(quarantine_dir) if any(r.quarantined for r in reports.values()) else None,
    }
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(result, indent=2))
    console.print(summary_table(result))
    return result


class _RateColumn(TextColumn):
    """rows/s of a task, from rich's own speed estimate."""

    def __init__(self) -> None:
        super().__init__("")

    def render(self, task):  # type: ignore[override]
        from rich.text import Text

        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} rows/s" if speed else "", style="cyan")


def summary_table(result: dict) -> Table:
    rate = result["rows_per_second"] or 0
    table = Table(title=f"ingest: {result['elapsed_seconds']:.1f} s, {rate:,.0f} rows/s")
    for col in ("file", "status", "read", "loaded", "quarantined", "reasons"):
        table.add_column(col, justify="right" if col in ("read", "loaded", "quarantined") else "left")
    for name, r in result["files"].items():
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(r["reasons"].items()))
        counts = (f"{r['read']:,}", f"{r['loaded']:,}", f"{r['quarantined']:,}")
        table.add_row(name, r["status"], *counts, reasons)
    return table
