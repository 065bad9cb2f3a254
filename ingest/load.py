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
import logging
import queue
import threading
import time
import zlib
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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

from graph.db.connection import read, session, write
from graph.db.schema import ensure_schema
from ingest.contract import FILES, Checked, kind_of, validate

DEFAULT_BATCH_SIZE = 10_000
DEFAULT_WRITERS = 2

# Concurrent writers must not lock the same nodes, or they queue behind each other's locks
# (and can deadlock). Each chunk is split into parts by the node its rows link to (or the
# account they create), and part q of chunk i is written at step i + q: the transactions of
# one step hold different parts, so they never share that node, and a part's rows are
# still applied in file order, which "the last non-empty value wins" needs. ip_intel links
# every chunk to the same few ASN and Proxy nodes, so it keeps one part and one writer.
PARTITION_KEY: dict[str, str] = {
    "accounts": "account_id",
    "payment_methods": "payment_fingerprint",
    "ip_sightings": "ip",
    "prompt_templates": "template_hash",
}

# One statement per file kind; every value is a parameter.
#
# A batch travels as columns (`$col[i]` is row i's value) rather than a list of maps: less
# to pack and unpack on both sides. The nodes a batch links to are looked up (or merged)
# once each, in a subquery that collects them into a list, and each row names its nodes by
# position in those lists ($a[i], $t[i]); a 10,000-row batch of prompt_templates names
# about 1,500 accounts and 3,000 templates, so this replaces 20,000 index seeks with 4,500.
# Measured on 300,000 template rows: 43 -> 30 µs of server CPU per row (see README).
#
# The subqueries return one row even for an empty list, so an empty lookup list never
# swallows the batch. Account lookups use OPTIONAL MATCH and collect `[a]` so a missing
# account (validation checks, but another writer could delete one) keeps every position
# in place and only drops its own rows.
ACCOUNTS_BY_POSITION = """
CALL { UNWIND $accounts AS id OPTIONAL MATCH (a:Account {id: id}) RETURN collect([a]) AS accounts }
"""
WRITE: dict[str, str] = {
    "accounts": """
        UNWIND range(0, size($account_id) - 1) AS i
        MERGE (a:Account {id: $account_id[i]})
        SET a.created_at = datetime({epochMillis: $created_at[i]}),
            a.country = coalesce($country[i], a.country),
            a.email_domain = coalesce($email_domain[i], a.email_domain),
            a.plan = coalesce($plan[i], a.plan)
    """,
    "ip_intel": """
        CALL {
            UNWIND range(0, size($asns) - 1) AS j
            MERGE (n:ASN {number: $asns[j]})
            SET n.org = coalesce($asn_orgs[j], n.org)
            RETURN collect(n) AS asns
        }
        CALL { UNWIND $proxies AS name MERGE (p:Proxy {name: name}) RETURN collect(p) AS proxies }
        UNWIND range(0, size($ip) - 1) AS i
        MERGE (ip:IP {address: $ip[i]})
        SET ip.asn = coalesce($asn[i], ip.asn),
            ip.as_org = coalesce($as_org[i], ip.as_org),
            ip.ip_type = coalesce($ip_type[i], ip.ip_type),
            ip.proxy_provider = coalesce($proxy_provider[i], ip.proxy_provider)
        FOREACH (n IN CASE WHEN $asn_at[i] IS NULL THEN [] ELSE [asns[$asn_at[i]]] END |
            MERGE (ip)-[:IN_ASN]->(n))
        FOREACH (p IN CASE WHEN $proxy_at[i] IS NULL THEN [] ELSE [proxies[$proxy_at[i]]] END |
            MERGE (ip)-[:EXIT_OF]->(p))
    """,
    "payment_methods": ACCOUNTS_BY_POSITION + """
        CALL {
            UNWIND range(0, size($fingerprints) - 1) AS j
            MERGE (p:PaymentMethod {fingerprint: $fingerprints[j]})
            SET p.method_type = coalesce($pm_method_type[j], p.method_type),
                p.bin = coalesce($pm_bin[j], p.bin),
                p.issuer_country = coalesce($pm_issuer_country[j], p.issuer_country)
            RETURN collect(p) AS methods
        }
        UNWIND range(0, size($a) - 1) AS i
        WITH accounts[$a[i]][0] AS a, methods[$t[i]] AS p, i,
             CASE WHEN $first_seen[i] IS NULL THEN null ELSE datetime({epochMillis: $first_seen[i]}) END AS seen
        WHERE a IS NOT NULL
        MERGE (a)-[e:PAID_WITH]->(p)
        ON CREATE SET e += {method_type: $method_type[i], first_seen: seen}
        ON MATCH SET e.method_type = coalesce($method_type[i], e.method_type),
            e.first_seen = CASE WHEN e.first_seen IS NULL OR seen < e.first_seen
                                THEN coalesce(seen, e.first_seen) ELSE e.first_seen END
    """,
    "ip_sightings": ACCOUNTS_BY_POSITION + """
        CALL { UNWIND $ips AS address MERGE (ip:IP {address: address}) RETURN collect(ip) AS ips }
        UNWIND range(0, size($a) - 1) AS i
        WITH accounts[$a[i]][0] AS a, ips[$t[i]] AS ip, i,
             datetime({epochMillis: $first_seen[i]}) AS first, datetime({epochMillis: $last_seen[i]}) AS last
        WHERE a IS NOT NULL
        MERGE (a)-[e:USED_IP]->(ip)
        ON CREATE SET e += {requests: $requests[i], first_seen: first, last_seen: last}
        ON MATCH SET e.requests = e.requests + $requests[i],
            e.first_seen = CASE WHEN first < e.first_seen THEN first ELSE e.first_seen END,
            e.last_seen = CASE WHEN last > e.last_seen THEN last ELSE e.last_seen END
    """,
    "prompt_templates": ACCOUNTS_BY_POSITION + """
        CALL {
            UNWIND range(0, size($templates) - 1) AS j
            MERGE (t:PromptTemplate {hash: $templates[j]})
            // the newest non-empty capability wins
            SET t.capability = coalesce($template_capability[j], t.capability)
            RETURN collect(t) AS templates
        }
        UNWIND range(0, size($a) - 1) AS i
        WITH accounts[$a[i]][0] AS a, templates[$t[i]] AS t, i,
             datetime({epochMillis: $first_seen[i]}) AS first, datetime({epochMillis: $last_seen[i]}) AS last
        WHERE a IS NOT NULL
        MERGE (a)-[e:USED_TEMPLATE]->(t)
        ON CREATE SET e += {requests: $requests[i], first_seen: first, last_seen: last,
                            capability: $capability[i]}
        ON MATCH SET e.requests = e.requests + $requests[i],
            e.first_seen = CASE WHEN first < e.first_seen THEN first ELSE e.first_seen END,
            e.last_seen = CASE WHEN last > e.last_seen THEN last ELSE e.last_seen END,
            e.capability = coalesce($capability[i], e.capability)
    """,
}


def _column(frame: pd.DataFrame, name: str) -> list:
    """A column as a list for Bolt, None where empty (never NaN)."""
    col = frame[name]
    return col.astype(object).where(col.notna(), None).tolist()


def _positions(keys: pd.Series) -> tuple[list, list[int]]:
    """(the distinct keys in first-seen order, each row's position among them)."""
    codes, distinct = pd.factorize(keys)
    return distinct.tolist(), codes.tolist()


def _last_known(frame: pd.DataFrame, key: str, columns: list[str], distinct: list) -> dict[str, list]:
    """Per distinct key, the last non-empty value of each column in the batch (row order)."""
    last = frame.groupby(key, sort=False)[columns].last().reindex(distinct)
    return {c: _column(last, c) for c in columns}


def batch_parameters(kind: str, frame: pd.DataFrame) -> dict:
    """The parameters of WRITE[kind] for a batch of validated rows."""
    if kind == "accounts":
        return {c: _column(frame, c) for c in FILES[kind].columns}
    if kind == "ip_intel":
        asns = frame[["asn", "as_org"]].dropna(subset=["asn"])
        asn_list = pd.unique(asns["asn"]).tolist()
        orgs = _last_known(asns, "asn", ["as_org"], asn_list)["as_org"]
        proxies = pd.unique(frame["proxy_provider"].dropna()).tolist()
        asn_at, proxy_at = ({v: i for i, v in enumerate(vals)} for vals in (asn_list, proxies))
        out = {c: _column(frame, c) for c in FILES[kind].columns}
        return out | {
            "asns": asn_list, "asn_orgs": orgs, "proxies": proxies,
            "asn_at": [asn_at.get(v) for v in out["asn"]],
            "proxy_at": [proxy_at.get(v) for v in out["proxy_provider"]],
        }
    accounts, a = _positions(frame["account_id"])
    out = {"accounts": accounts, "a": a}
    if kind == "payment_methods":
        methods, out["t"] = _positions(frame["payment_fingerprint"])
        pm = _last_known(frame, "payment_fingerprint", ["method_type", "bin", "issuer_country"], methods)
        out |= {"fingerprints": methods} | {f"pm_{c}": v for c, v in pm.items()}
        return out | {c: _column(frame, c) for c in ("method_type", "first_seen")}
    if kind == "ip_sightings":
        out["ips"], out["t"] = _positions(frame["ip"])
        return out | {c: _column(frame, c) for c in ("first_seen", "last_seen", "requests")}
    if kind == "prompt_templates":
        out["templates"], out["t"] = _positions(frame["template_hash"])
        caps = _last_known(frame, "template_hash", ["capability"], out["templates"])["capability"]
        out["template_capability"] = caps
        return out | {c: _column(frame, c) for c in ("first_seen", "last_seen", "requests", "capability")}
    raise ValueError(f"unknown file kind {kind!r}")


FILE_STATE = """
MATCH (f:IngestFile {sha256: $sha})
RETURN f.status AS status, f.batch_size AS batch_size, coalesce(f.partitions, 1) AS partitions
"""
BEGIN_FILE = """
MERGE (f:IngestFile {sha256: $sha})
ON CREATE SET f.batch_size = $batch_size, f.partitions = $partitions, f.started_at = datetime(),
              f.status = 'loading'
SET f.name = $name, f.kind = $kind
RETURN f.batch_size AS batch_size, coalesce(f.partitions, 1) AS partitions
"""
DONE_BATCHES = "MATCH (b:IngestBatch) WHERE b.key STARTS WITH $prefix RETURN b.key AS key"
CLAIM_BATCH = "MERGE (b:IngestBatch {key: $key}) ON CREATE SET b.rows = $rows, b.at = datetime()"
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
    seconds: float = 0.0
    retried: int = 0  # transactions Neo4j made us retry (lock waits that became deadlocks)

    def as_dict(self) -> dict:
        out = {
            "read": self.read,
            "loaded": self.loaded,
            "quarantined": self.quarantined,
            "reasons": dict(self.reasons),
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.read / self.seconds, 1) if self.read and self.seconds else None,
            "retried_transactions": self.retried,
        }
        if self.status == "checked":  # a check loads nothing; these rows would load
            out["valid"] = self.read - self.quarantined
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


def partition_of(keys: pd.Series, parts: int) -> pd.Series:
    """Each key's part in 0..parts-1: CRC-32 of its text, so every run splits alike."""
    if parts == 1:
        return pd.Series(0, index=keys.index)
    return keys.map(lambda k: zlib.crc32(str(k).encode()) % parts)


def load_file(
    driver: neo4j.Driver,
    kind: str,
    path: Path,
    quarantine_dir: Path,
    batch_size: int,
    progress: Progress | None = None,
    writers: int = DEFAULT_WRITERS,
) -> FileReport:
    report = FileReport()
    sha, approx_rows = fingerprint(path)
    state = read(driver, FILE_STATE, sha=sha)
    if state and state[0]["status"] == "complete":
        report.status = "already loaded"
        return report
    # Chunk boundaries and parts are fixed at the first attempt, so a resumed load names
    # the same batches whatever --batch-size or --writers it is given.
    if not state:
        parts = writers if kind in PARTITION_KEY else 1  # ip_intel: one part
        state = write(driver, BEGIN_FILE, sha=sha, batch_size=batch_size, partitions=parts,
                      name=path.name, kind=kind)
    batch_size, parts = int(state[0]["batch_size"] or batch_size), int(state[0]["partitions"])
    done = {r["key"] for r in read(driver, DONE_BATCHES, prefix=f"{sha}:")}
    if done:
        report.status = "resumed"

    def known_accounts(ids: list[str]) -> set[str]:
        return set(read(driver, KNOWN_ACCOUNTS, ids=ids)[0]["ids"])

    task = progress.add_task(path.name, total=approx_rows or None) if progress else None
    quarantine_path = _fresh_quarantine(quarantine_dir, path)

    def checked_chunks() -> Iterator[tuple[pd.DataFrame, Checked, list[tuple[dict, int]]]]:
        for raw in read_chunks(path, batch_size):
            checked = validate(kind, raw, known_accounts if kind != "accounts" else None)
            valid = checked.valid
            part = partition_of(valid[PARTITION_KEY[kind]], parts) if parts > 1 else None
            split = [valid] if part is None else [valid[part == p] for p in range(parts)]
            yield raw, checked, [(batch_parameters(kind, f), len(f)) for f in split]

    def batch_key(index: int, part: int) -> str:
        return f"{sha}:{index}" if parts == 1 else f"{sha}:{index}:{part}"

    def write_one(parameters: dict, rows: int, key: str) -> None:
        with session(driver, write=True) as s:
            s.execute_write(_write_batch, WRITE[kind], parameters, rows, key)

    def write_step(step: int, chunks: deque) -> None:
        # part q of chunk i is written at step i + q (see PARTITION_KEY)
        jobs = []
        for index, split, _ in chunks:
            part = step - index
            if 0 <= part < parts and batch_key(index, part) not in done:
                jobs.append(pool.submit(write_one, *split[part], batch_key(index, part)))
        for job in jobs:
            job.result()

    def finish_written(step: int, chunks: deque) -> None:
        while chunks and chunks[0][0] + parts - 1 <= step:
            if progress is not None:
                progress.update(task, advance=chunks[0][2])
            chunks.popleft()

    # Reading and validating the next chunks overlaps with writing (prefetch thread).
    in_flight: deque = deque()  # (index, parts' parameters, rows read) of chunks not yet written
    step = -1
    with ThreadPoolExecutor(min(writers, parts), thread_name_prefix="ingest-writer") as pool, \
            _counting_retries() as retries, closing(prefetch(checked_chunks(), depth=parts + 1)) as validated:
        for step, (raw, checked, split) in enumerate(validated):
            _tally(report, kind, raw, checked, quarantine_path, path.name)
            report.loaded += len(checked.valid)
            in_flight.append((step, split, len(raw)))
            write_step(step, in_flight)
            finish_written(step, in_flight)
        for last in range(step + 1, step + parts):
            write_step(last, in_flight)
            finish_written(last, in_flight)
        report.retried = retries.count
    write(
        driver, FINISH_FILE, sha=sha, rows=report.read, loaded=report.loaded,
        quarantined=report.quarantined,
    )
    return report


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

    def known_accounts(ids: list[str]) -> set[str]:
        elsewhere = [i for i in ids if i not in delivered]
        in_graph = set(read(driver, KNOWN_ACCOUNTS, ids=elsewhere)[0]["ids"]) if elsewhere else set()
        return {i for i in ids if i in delivered} | in_graph

    task = progress.add_task(path.name, total=approx_rows or None) if progress else None
    quarantine_path = _fresh_quarantine(quarantine_dir, path)
    for raw in read_chunks(path, batch_size):
        checked = validate(kind, raw, known_accounts if kind != "accounts" else None)
        _tally(report, kind, raw, checked, quarantine_path, path.name)
        if kind == "accounts":
            delivered.update(checked.valid["account_id"].tolist())
        if progress is not None:
            progress.update(task, advance=len(raw))
    return report


def _fresh_quarantine(quarantine_dir: Path, path: Path) -> Path:
    """The quarantine CSV of `path`, emptied: every run rewrites a file's invalid rows in full."""
    quarantine_path = quarantine_dir / f"{path.name.split('.')[0]}.csv"
    quarantine_path.unlink(missing_ok=True)
    return quarantine_path


def _tally(
    report: FileReport, kind: str, raw: pd.DataFrame, checked: Checked, quarantine_path: Path, name: str
) -> None:
    """Count a validated chunk and append its invalid rows, whole, to the file's quarantine CSV."""
    if report.read == 0:  # the first chunk names the file's columns
        report.extra_columns = [c for c in raw.columns if c not in FILES[kind].columns]
    report.read += len(raw)
    report.quarantined += len(checked.invalid)
    report.reasons.update(checked.invalid["_reason"].tolist())
    if len(checked.invalid):
        quarantine_path.parent.mkdir(parents=True, exist_ok=True)
        header = not quarantine_path.exists()
        checked.invalid.insert(0, "_file", name)
        checked.invalid.to_csv(quarantine_path, mode="a", header=header, index=False)


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


@contextmanager
def _counting_retries() -> Iterator[_RetryCounter]:
    counter, logger = _RetryCounter(), logging.getLogger("neo4j.pool")
    logger.addFilter(counter)
    try:
        yield counter
    finally:
        logger.removeFilter(counter)


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


def _write_batch(
    tx: neo4j.ManagedTransaction, statement: str, parameters: dict, rows: int, key: str
) -> None:
    # The batch's marker commits in the same transaction as its rows: all or nothing. When a
    # connection drops during COMMIT the driver retries without knowing whether it landed;
    # a retry that finds the marker already there writes nothing twice.
    if tx.run(CLAIM_BATCH, key=key, rows=rows).consume().counters.nodes_created == 0:
        return
    if rows:
        tx.run(statement, parameters).consume()


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
    them, and the database is only read (to know accounts delivered earlier).
    """
    files = delivery_files(folder)
    report_path = report_path or Path("ingest-report.json")
    quarantine_dir = report_path.parent / f"{report_path.stem}-quarantine"
    console = console or Console(stderr=True)
    if not check:
        ensure_schema(driver)
    delivered: set[str] = set()
    started = time.monotonic()
    reports: dict[str, FileReport] = {}
    columns = (
        TextColumn("{task.description:<24}"), BarColumn(), MofNCompleteColumn(), _RateColumn(),
        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as progress:
        for kind, path in files:
            began = time.monotonic()
            if check:
                reports[path.name] = check_file(driver, kind, path, quarantine_dir, batch_size, delivered, progress)
            else:
                reports[path.name] = load_file(
                    driver, kind, path, quarantine_dir, batch_size, progress, writers=writers
                )
            reports[path.name].seconds = time.monotonic() - began
    elapsed = time.monotonic() - started
    total_read = sum(r.read for r in reports.values())
    result = {
        "check_only": check,
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
    check = result.get("check_only", False)
    what = "check (nothing written)" if check else "ingest"
    table = Table(title=f"{what}: {result['elapsed_seconds']:.1f} s, {rate:,.0f} rows/s")
    good = "valid" if check else "loaded"
    numeric = ("read", good, "quarantined", "seconds", "rows/s")
    for col in ("file", "status", *numeric, "reasons"):
        table.add_column(col, justify="right" if col in numeric else "left")
    for name, r in result["files"].items():
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(r["reasons"].items()))
        counts = (f"{r['read']:,}", f"{r[good]:,}", f"{r['quarantined']:,}", f"{r['seconds']:.1f}",
                  f"{r['rows_per_second']:,.0f}" if r["rows_per_second"] else "")
        table.add_row(name, r["status"], *counts, reasons)
    return table
