"""`ringwatch ingest --bulk`: a first load through Neo4j's offline importer builds the online graph.

Each bulk load stops the session's server, imports and starts it again (about a minute), so
the tests share their loads: a generated world; a delivery of repeats, blanks, bad rows,
hostile text and a refused file; a file whose reading stops part way (resumed online); and
an import that fails (the database is left empty and running).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest
from delivery import graph_digest, small_delivery, write_delivery

from graph.db import server
from graph.db.connection import Target, open_driver, read
from ingest import bulk as bulk_module
from ingest.bulk import bulk_ingest, require_empty_local
from ingest.load import IngestError, ingest

# Every node but the load's bookkeeping, and every relationship, with each property's type.
NODES = """
MATCH (n) WHERE NOT n:IngestFile AND NOT n:IngestBatch
RETURN labels(n) AS labels, properties(n) AS props
"""
RELATIONSHIPS = """
MATCH (a)-[r]->(b)
RETURN type(r) AS type, [labels(a)[0], coalesce(a.id, a.address, a.hash, a.fingerprint, a.name, a.number)] AS a,
       [labels(b)[0], coalesce(b.id, b.address, b.hash, b.fingerprint, b.name, b.number)] AS b,
       properties(r) AS props
"""
FILES = """
MATCH (f:IngestFile)
RETURN f.name AS name, f.sha256 AS sha, f.kind AS kind, f.status AS status, f.rows AS rows, f.loaded AS loaded,
       f.quarantined AS quarantined, f.batch_size AS batch_size, f.partitions AS partitions, f.error AS error
ORDER BY name
"""


@pytest.fixture(autouse=True)
def patient_start(monkeypatch):
    """Each bulk load restarts the server; on a busy machine that may take longer than an
    interactive `ringwatch db start` waits (RINGWATCH_START_TIMEOUT, 180 s)."""
    monkeypatch.setattr(server, "START_TIMEOUT_S", max(server.START_TIMEOUT_S, 600.0))


def _typed(props: dict) -> tuple:
    return tuple(sorted((k, type(v).__name__, str(v)) for k, v in props.items()))


def snapshot() -> dict:
    """The whole graph (nodes, relationships, every property with its type), the digest of
    tests/delivery.py, and the records of the files loaded."""
    d = open_driver()
    try:
        nodes = sorted((tuple(r["labels"]), _typed(r["props"])) for r in read(d, NODES))
        rels = sorted((r["type"], str(r["a"]), str(r["b"]), _typed(r["props"])) for r in read(d, RELATIONSHIPS))
        return {"digest": graph_digest(d), "nodes": nodes, "relationships": rels, "files": read(d, FILES)}
    finally:
        d.close()


def run(load, folder: Path, report: Path, **kw) -> dict:
    """Run `load` (ingest or bulk_ingest) on a fresh driver; its report, also when files failed."""
    d = open_driver()
    try:
        return load(d, folder, report, **kw)
    except IngestError as e:
        if e.result is None:
            raise
        return e.result
    finally:
        d.close()


def same_reports(online: dict, bulk: dict) -> None:
    assert set(online["files"]) == set(bulk["files"])
    for name, o in online["files"].items():
        b = bulk["files"][name]
        keys = ("status", "read", "loaded", "quarantined", "reasons", "extra_columns", "error")
        assert {k: o.get(k) for k in keys} == {k: b.get(k) for k in keys}, name
    assert online["failed"] == bulk["failed"]
    assert bulk["check_only"] is False and bulk["rows_per_second"] > 0


def same_quarantine(online: Path, bulk: Path) -> None:
    names = sorted(p.name for p in online.iterdir()) if online.exists() else []
    assert names == (sorted(p.name for p in bulk.iterdir()) if bulk.exists() else [])
    for name in names:
        assert (online / name).read_bytes() == (bulk / name).read_bytes(), name


def bulk_load(folder: Path, report: Path, **kw) -> dict:
    d = open_driver()
    try:
        return bulk_ingest(d, folder, report, **kw)
    finally:
        d.close()


def online_then_bulk(folder: Path, tmp_path: Path, **kw) -> tuple[dict, dict, dict, dict]:
    server.reset()
    online = run(ingest, folder, tmp_path / "online.json", **kw)
    online_graph = snapshot()
    server.reset()
    report = run(bulk_ingest, folder, tmp_path / "bulk.json", **kw)
    return online, online_graph, report, snapshot()


def test_bulk_builds_the_online_graph_of_a_generated_world(neo4j_server, small_world, tmp_path):
    online, online_graph, report, bulk_graph = online_then_bulk(small_world, tmp_path)
    assert bulk_graph["digest"] == online_graph["digest"]
    assert bulk_graph["nodes"] == online_graph["nodes"]
    assert bulk_graph["relationships"] == online_graph["relationships"]
    assert bulk_graph["files"] == online_graph["files"]  # complete, with the online path's counts
    same_reports(online, report)
    assert set(report["bulk"]["phases"]) >= {"read and validate", "neo4j import", "start the server"}
    imported = {label: n for label, n in report["bulk"]["nodes"].items() if not label.startswith("Ingest")}
    assert sum(imported.values()) == len(bulk_graph["nodes"])
    assert sum(report["bulk"]["relationships"].values()) == len(bulk_graph["relationships"])
    again = run(ingest, small_world, tmp_path / "again.json")  # a later online load of the same files
    assert {f["status"] for f in again["files"].values()} == {"already loaded"}
    assert snapshot() == bulk_graph


HOSTILE = [
    "x'}) DETACH DELETE n //",
    '"; MATCH (n) DETACH DELETE n; //',
    '=HYPERLINK("http://evil.example","click")',
    "+cmd|' /C calc'!A0",
    "\u202eevil\u202c right-to-left",
    "名前 ✓ emoji 🧪 zero\u200bwidth",
    "a,b;c|d\\e",
    "carriage\rreturn",
    "L" * 10_000,
]
T1, T2 = "3F2A9C0B1D4E5F60718293A4B5C6D7E8", "00000000000000000000000000000abc"


def awkward_delivery(folder: Path) -> Path:
    """Two files of some kinds (csv, then parquet or csv.gz), pairs repeated within and across
    files and chunks, blank and disagreeing values, every kind of bad row, hostile text (a CR
    inside a CSV line, a newline inside a Parquet value), and a file the reader refuses."""
    t = "2026-03-0{}T1{}:00:00Z".format
    accounts = pd.DataFrame(
        [
            ["acct_1", t(1, 1), "DE", "Mail.Example", "pro"],
            ["acct_2", "2026-03-01T10:17:30+01:00", "DE", "x\ry", "free"],
            ["acct_3", "2026-03-01T09:20:00", "", "", ""],
            ["acct_1", t(2, 2), "", "", ""],  # duplicate account_id in file
            ["acct_bad", "01/03/2026", "US", "", "free"],  # malformed created_at
            *[[f"evil_{i}", t(3, 3), "", h.lower(), h] for i, h in enumerate(HOSTILE)],
        ],
        columns=["account_id", "created_at", "country", "email_domain", "plan"],
    )
    later = pd.DataFrame(
        {
            "account_id": ["acct_1", "acct_4", "acct_2"],
            "created_at": [t(4, 4), t(4, 5), t(4, 6)],
            "country": ["", "FR", None],
            "email_domain": [None, "b.example", ""],
            "plan": ["team", "multi\nline", None],
        }
    )
    intel = pd.DataFrame(
        [
            ["203.0.113.7", "AS64501", "Example Hosting", "Datacenter", "ShadeVPN"],
            ["2001:DB8:0:0::10", "64502", "Example Mobile", "mobile", ""],
            ["::ffff:203.0.113.7", "", "Renamed\rOrg", "", "Other VPN"],
            ["203.0.113.8", "as64501", "", "residential", ""],
            ["198.51.100.300", "", "", "", ""],  # bad ip address
            ["203.0.113.9", "AS99999999999", "", "", ""],  # malformed asn
        ],
        columns=["ip", "asn", "as_org", "ip_type", "proxy_provider"],
    )
    payments = pd.DataFrame(
        [
            ["acct_1", "pf_1", "Prepaid_Card", "411111", "US", t(1, 2)],
            ["acct_2", "pf_1", "", "", "", ""],
            ["acct_1", "pf_1", "", "422222", "", "2026-02-01T00:00:00Z"],
            ["acct_1", "pf_1", "virtual", "", "", t(5, 1)],
            ["acct_ghost", "pf_2", "card", "", "", ""],  # unknown account
            ["acct_4", 'pf,3"q', "card", "", "", ""],
            ["acct_bad", "pf_4", "card", "", "", ""],  # unknown account: its row was quarantined
            ["evil_0", "pf_1", "card", "", "", "2026-13-01T00:00:00Z"],  # malformed first_seen
        ],
        columns=["account_id", "payment_fingerprint", "method_type", "bin", "issuer_country", "first_seen"],
    )
    sightings = pd.DataFrame(
        [
            ["acct_1", "203.0.113.7", t(1, 2), t(3, 2), "412"],
            ["acct_2", "203.0.113.7", t(1, 3), t(3, 3), "398"],
            ["acct_1", "::ffff:203.0.113.7", "2026-02-28T07:00:00Z", t(2, 2), "+100"],
            ["acct_3", "198.51.100.20", t(2, 2), t(2, 3), "7"],  # an IP with no intel
            ["acct_1", "203.0.113.7", t(2, 1), t(6, 1), "5"],
            ["acct_3", "2001:db8::10", t(3, 1), t(2, 1), "5"],  # first_seen after last_seen
            ["acct_2", "198.51.100.20", t(2, 1), t(3, 1), "0"],  # not a positive integer
            ["evil_1", "203.0.113.8", t(2, 1), t(3, 1), "9007199254740992"],  # too large
            ["acct_ghost", "203.0.113.8", t(2, 1), t(3, 1), "1"],  # unknown account
        ],
        columns=["account_id", "ip", "first_seen", "last_seen", "requests"],
    )
    cols = ["account_id", "template_hash", "requests", "first_seen", "last_seen", "capability"]
    templates = pd.DataFrame(
        [
            ["acct_1", T1, "300", t(1, 3), t(7, 1), "Reasoning"],
            ["acct_2", T1.lower(), "290", t(1, 4), t(7, 2), "reasoning"],
            ["acct_1", T1.lower(), "10", "2026-02-27T00:00:00Z", t(2, 1), ""],
            ["acct_3", "not-a-hash", "10", t(2, 1), t(2, 2), "chat"],  # malformed template_hash
            ["acct_4", T2, "1", t(2, 1), t(2, 2), ""],
        ],
        columns=cols,
    )
    more = pd.DataFrame(
        [["acct_1", T1, "1", t(8, 1), t(8, 2), "tool_use"], ["acct_4", T2.upper(), "2", t(1, 1), t(9, 1), "coding"]],
        columns=cols,
    )
    folder.mkdir(parents=True)
    accounts.to_csv(folder / "accounts.csv", index=False)
    later.to_parquet(folder / "accounts.parquet", index=False)
    intel.to_csv(folder / "ip_intel.csv", index=False)
    payments.to_csv(folder / "payment_methods.csv", index=False)
    sightings.to_csv(folder / "ip_sightings.csv", index=False)
    (folder / "ip_sightings.parquet").write_text("account_id,ip\nnot,parquet\n")  # refused
    templates.to_csv(folder / "prompt_templates.csv", index=False)
    with gzip.open(folder / "prompt_templates.csv.gz", "wt", encoding="utf-8", newline="") as f:
        more.to_csv(f, index=False)
    return folder


def test_bulk_folds_repeats_blanks_bad_rows_and_hostile_text_as_online(neo4j_server, tmp_path):
    folder = awkward_delivery(tmp_path / "d")
    online, online_graph, report, bulk_graph = online_then_bulk(folder, tmp_path, batch_size=3)
    assert online["failed"] == ["ip_sightings.parquet"]  # refused by the reader, the rest loads
    assert bulk_graph["nodes"] == online_graph["nodes"]
    assert bulk_graph["relationships"] == online_graph["relationships"]
    assert bulk_graph["digest"] == online_graph["digest"]
    assert bulk_graph["files"] == online_graph["files"]  # incl. the refused file, failed with its reason
    same_reports(online, report)
    same_quarantine(tmp_path / "online-quarantine", tmp_path / "bulk-quarantine")
    d = open_driver()
    try:  # a few values spelled out (the comparison above would pass if both paths lost them)
        plans = {r["id"]: r["plan"] for r in read(d, "MATCH (a:Account) RETURN a.id AS id, a.plan AS plan")}
        used = read(
            d, "MATCH (:Account {id: 'acct_1'})-[e:USED_IP]->(:IP {address: '203.0.113.7'}) RETURN e.requests AS n"
        )
        org = read(d, "MATCH (i:IP {address: '203.0.113.7'}) RETURN i.as_org AS org, i.asn AS asn")[0]
    finally:
        d.close()
    assert [plans[f"evil_{i}"] for i in range(len(HOSTILE))] == [h.strip() for h in HOSTILE]
    assert plans["acct_4"] == "multi\nline" and plans["acct_1"] == "team" and plans["acct_2"] == "free"
    assert used == [{"n": 517}] and org == {"org": "Renamed\rOrg", "asn": 64501}


class _StopsReading:
    """A source whose chunks end in a disk error after `after` chunks."""

    def __init__(self, source, after: int) -> None:
        self.source, self.after = source, after
        self.columns, self.approx_rows = source.columns, source.approx_rows

    def chunks(self, batch_size: int):
        for i, chunk in enumerate(self.source.chunks(batch_size)):
            if i == self.after:
                raise OSError("disk read error")
            yield chunk


def test_a_file_whose_reading_stops_resumes_online_and_a_full_database_is_refused(neo4j_server, tmp_path, monkeypatch):
    folder = write_delivery(small_delivery(100), tmp_path / "d")
    server.reset()
    run(ingest, folder, tmp_path / "reference.json")
    reference = snapshot()
    server.reset()
    real = bulk_module.open_source
    stop = lambda kind, path: _StopsReading(real(kind, path), 2) if kind == "ip_sightings" else real(kind, path)  # noqa: E731
    monkeypatch.setattr(bulk_module, "open_source", stop)
    with pytest.raises(IngestError) as failed:
        bulk_load(folder, tmp_path / "bulk.json", batch_size=50)
    assert str(failed.value).startswith("ip_sightings.csv: reading stopped (disk read error)")
    assert "\n" not in str(failed.value) and str(failed.value).endswith("the other 4 files were loaded")
    monkeypatch.undo()
    d = open_driver()
    try:
        marks = read(d, "MATCH (b:IngestBatch) RETURN b.key AS key, b.rows AS rows")
        assert len(marks) == 4 and sum(m["rows"] for m in marks) == 100  # 2 chunks x 2 parts
        assert graph_digest(d)["used_ip"] == 100
        resumed = ingest(d, folder, tmp_path / "resume.json")
    finally:
        d.close()
    assert resumed["files"]["ip_sightings.csv"]["status"] == "resumed"
    assert snapshot()["digest"] == reference["digest"]

    pid = server.running_pid()
    with pytest.raises(IngestError) as refused:
        bulk_load(folder, tmp_path / "again.json")
    message = str(refused.value)
    assert message.startswith("the database is not empty (") and "without --bulk" in message
    assert "\n" not in message and server.running_pid() == pid  # not stopped


def test_a_failed_import_leaves_the_database_empty_and_running(neo4j_server, tmp_path, monkeypatch):
    folder = write_delivery(small_delivery(30), tmp_path / "d")
    real = bulk_module.write_import_files

    def broken(graph, out, done=None):
        files = real(graph, out, done)
        with (out / "used_ip.csv").open("a") as f:
            f.write('"acct_nobody","198.51.100.1",1,"2026-01-01T00:00:00.000Z","2026-01-01T00:00:00.000Z"\n')
        return files

    monkeypatch.setattr(bulk_module, "write_import_files", broken)
    server.reset()
    with pytest.raises(IngestError) as failed:
        bulk_load(folder, tmp_path / "bulk.json")
    assert "the offline import failed" in str(failed.value)
    assert server.running_pid() is not None
    d = open_driver()
    try:
        assert read(d, "MATCH (n) RETURN count(n) AS n")[0]["n"] == 0
    finally:
        d.close()


def test_bulk_refuses_a_database_that_is_not_the_local_server():
    class Remote:
        _ringwatch_target = Target(uri="neo4j+s://example.databases.neo4j.io", user="u", password="p")

    with pytest.raises(IngestError, match="is not the local server: load the delivery without --bulk"):
        require_empty_local(Remote())  # type: ignore[arg-type]


def test_a_delivery_larger_than_the_memory_available_is_refused_before_the_server_stops(
    neo4j_server, tmp_path, monkeypatch
):
    folder = write_delivery(small_delivery(30), tmp_path / "d")
    server.reset()
    pid = server.running_pid()
    seen: list[int | None] = []

    def little(server_pid):
        seen.append(server_pid)
        return 64 << 20  # 64 MiB: below any estimate (its base alone is 600 MiB)

    monkeypatch.setattr(bulk_module, "available_memory", little)
    with pytest.raises(IngestError) as refused:
        bulk_load(folder, tmp_path / "bulk.json")
    message = str(refused.value)
    assert message.startswith("a bulk load of this delivery needs about ") and "64 MiB is available" in message
    assert "load it without --bulk" in message and "\n" not in message
    assert seen == [pid]  # the server's own memory counts: the load would free it
    assert server.running_pid() == pid  # not stopped
    d = open_driver()
    try:
        assert read(d, "MATCH (n) RETURN count(n) AS n")[0]["n"] == 0
    finally:
        d.close()
