"""Hostile deliveries against the real database: every bad line quarantined with its line
number and reason while the rest loads; a broken file fails alone, marked `failed`, in one
line, and loads once fixed; typed Parquet; the contract's edge values."""

from __future__ import annotations

import base64
import gzip
import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import run_cli
from delivery import graph_digest, small_delivery, write_delivery

from graph.db.connection import read
from ingest.load import IngestError, ingest

T1, T2 = "2026-01-10T00:00:00Z", "2026-02-10T00:00:00Z"

# (bad line, reason) for an ip_sightings file (5 columns); the first one starts with a
# formula, so the quarantine must neutralise it
BAD_SIGHTINGS = [
    (
        b'=HYPERLINK("http://evil.example";"x"),198.51.100.1,' + T1.encode() + b"," + T2.encode() + b",1,extra",
        "too many fields",
    ),
    (b"acct_7_000001,198.51.100.1", "too few fields"),
    (b"acct_7_\xff\xfe01,198.51.100.1," + T1.encode() + b"," + T2.encode() + b",3", "not UTF-8"),
    (b'"acct_7_000001,198.51.100.1,' + T1.encode() + b"," + T2.encode() + b",3", "unterminated quote"),
    (b"acct_7_000001,198.51.100.1\x00," + T1.encode() + b"," + T2.encode() + b",3", "NUL byte"),
    (b'"acct_7_000001"x,198.51.100.1,' + T1.encode() + b"," + T2.encode() + b",3", "bad quoting"),
    (
        b"acct_7_000001,198.51.100.1," + T1.encode() + b"," + T2.encode() + b"," + b"9" * (1 << 20),
        "line longer than 1 MB",
    ),
    (
        b"acct_7_000001,198.51.100.1," + T1.encode() + b"," + T2.encode() + b"," + str(2**63).encode(),
        "requests too large",
    ),
    (b"-2+3,198.51.100.1," + T1.encode() + b"," + T2.encode() + b",4", "unknown account"),
]


def csv_lines(frame: pd.DataFrame) -> list[bytes]:
    return frame.to_csv(index=False).encode().splitlines()


def interleave(lines: list[bytes], bad: list[tuple[bytes, str]]) -> tuple[bytes, dict[int, tuple[bytes, str]]]:
    """The file's lines with the bad lines spread among them; {line number: (bad line, reason)}."""
    out, where = [lines[0]], {}
    step = max(1, (len(lines) - 1) // (len(bad) + 1))
    rows, pending = lines[1:], list(bad)
    for i, row in enumerate(rows):
        out.append(row)
        if pending and (i + 1) % step == 0:
            out.append(pending[0][0])
            where[len(out)] = pending.pop(0)
    for line, why in pending:
        out.append(line)
        where[len(out)] = (line, why)
    return b"\r\n".join(out) + b"\r\n", where


def test_every_bad_line_is_quarantined_with_its_line_and_reason_and_the_rest_loads(empty_db, tmp_path):
    frames = small_delivery(200)
    folder = write_delivery({k: v for k, v in frames.items() if k != "ip_sightings"}, tmp_path / "d")
    body, where = interleave(csv_lines(frames["ip_sightings"]), BAD_SIGHTINGS)
    (folder / "ip_sightings.csv.gz").write_bytes(gzip.compress(b"\xef\xbb\xbf" + body))
    report = ingest(empty_db, folder, tmp_path / "r.json", batch_size=50)

    r = report["files"]["ip_sightings.csv.gz"]
    assert (r["read"], r["loaded"], r["quarantined"]) == (
        len(frames["ip_sightings"]) + len(where),
        len(frames["ip_sightings"]),
        len(where),
    )
    assert r["reasons"] == pd.Series([why for _, why in BAD_SIGHTINGS]).value_counts().to_dict()
    d = graph_digest(empty_db)  # every valid row is in the graph, nothing of a bad one
    assert d["used_ip"] == len(frames["ip_sightings"])
    assert d["ip_requests"] == frames["ip_sightings"]["requests"].astype(int).sum()

    table = pd.read_csv(tmp_path / "r-quarantine" / "ip_sightings.csv.gz.csv", dtype=str, keep_default_na=False)
    assert list(table.columns) == [
        "_file",
        "_line",
        "account_id",
        "ip",
        "first_seen",
        "last_seen",
        "requests",
        "_reason",
        "_raw",
    ]
    assert {int(n): why for n, why in zip(table["_line"], table["_reason"], strict=True)} == {
        n: why for n, (_, why) in where.items()
    }
    for column in table.columns:  # a spreadsheet runs none of it
        assert not table[column].str.match(r"^[=+\-@\t\r]").any(), column
    formula = table[table["_reason"] == "too many fields"]["_raw"].iloc[0]
    assert formula.startswith("'=HYPERLINK")
    assert table[table["_reason"] == "unknown account"]["account_id"].iloc[0] == "'-2+3"

    exact = [json.loads(line) for line in (tmp_path / "r-quarantine" / "ip_sightings.csv.gz.jsonl").open()]
    assert [e["line"] for e in exact] == sorted(where)
    for e in exact:  # the raw line, exact: nothing is lost
        line, why = where[e["line"]]
        assert e["reason"] == why
        if "raw_base64" in e:
            assert base64.b64decode(e["raw_base64"]) == line
        elif "length" in e:
            assert e["length"] == len(line) and line.startswith(e["raw"].encode())
        else:
            assert e["raw"].encode() == line


def _broken(folder, frames):
    """The delivery with three files that are not what their names say."""
    write_delivery({"accounts": frames["accounts"], "prompt_templates": frames["prompt_templates"]}, folder)
    intel = folder / "ip_intel.parquet"
    frames["ip_intel"].to_parquet(intel, index=False)
    intel.write_bytes(intel.read_bytes()[:-200])  # a truncated copy
    (folder / "payment_methods.csv").write_bytes(bytes(range(256)) * 64)  # binary junk
    sightings = gzip.compress(frames["ip_sightings"].to_csv(index=False).encode())
    (folder / "ip_sightings.csv.gz").write_bytes(sightings[: len(sightings) // 2])  # a cut download


def _fixed(folder, frames):
    (folder / "ip_intel.parquet").unlink()
    frames["ip_intel"].to_parquet(folder / "ip_intel.parquet", index=False)
    frames["payment_methods"].to_csv(folder / "payment_methods.csv", index=False)
    (folder / "ip_sightings.csv.gz").write_bytes(gzip.compress(frames["ip_sightings"].to_csv(index=False).encode()))


FILE_STATUS = "MATCH (f:IngestFile) RETURN f.name AS name, f.status AS status, f.error AS error"


def test_a_broken_file_fails_alone_in_one_line_and_loads_once_fixed(empty_db, tmp_path):
    frames = small_delivery(150, seed=21)
    folder = tmp_path / "d"
    _broken(folder, frames)
    size = "MATCH (n) RETURN count(n) AS nodes"
    before = read(empty_db, size)
    checked = run_cli("ingest", str(folder), "--check", "--report", str(tmp_path / "check.json"))
    assert checked.returncode == 1 and "Traceback" not in checked.stderr
    assert read(empty_db, size) == before  # a check writes nothing, not even the failure

    result = run_cli("ingest", str(folder), "--report", str(tmp_path / "r1.json"))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    last = [line for line in result.stderr.splitlines() if line.strip()][-1]
    assert last.startswith("error: 3 files failed: ")
    for name, fix in (("ip_intel.parquet", "again"), ("payment_methods.csv", "CSV"), ("ip_sightings.csv.gz", "again")):
        assert name in last and fix in last
    statuses = {r["name"]: r for r in read(empty_db, FILE_STATUS)}
    assert {n: r["status"] for n, r in statuses.items()} == {
        "accounts.csv": "complete",
        "prompt_templates.csv": "complete",
        "ip_intel.parquet": "failed",
        "payment_methods.csv": "failed",
        "ip_sightings.csv.gz": "failed",
    }
    assert "truncated" in statuses["ip_sightings.csv.gz"]["error"]
    report = json.loads((tmp_path / "r1.json").read_text())
    assert sorted(report["failed"]) == ["ip_intel.parquet", "ip_sightings.csv.gz", "payment_methods.csv"]
    partial = graph_digest(empty_db)
    assert partial["accounts"] == 150 and partial["used_template"] == len(frames["prompt_templates"])
    assert partial["used_ip"] == partial["paid_with"] == partial["ips"] == 0

    _fixed(folder, frames)
    again = run_cli("ingest", str(folder), "--report", str(tmp_path / "r2.json"))
    assert again.returncode == 0, again.stderr
    complete = {r["name"] for r in read(empty_db, FILE_STATUS) if r["status"] == "complete"}
    assert complete == set(statuses)  # the fixed files are new bytes: new records, loaded
    recovered = graph_digest(empty_db)

    from graph.db import server

    server.reset()
    ingest(empty_db, folder, tmp_path / "clean.json")
    assert recovered == graph_digest(empty_db)  # the graph of one clean load


def test_a_header_without_a_required_column_fails_that_file_only(empty_db, tmp_path):
    frames = small_delivery(40)
    frames["ip_sightings"] = frames["ip_sightings"].drop(columns="first_seen")
    folder = write_delivery(frames, tmp_path / "d")
    with pytest.raises(IngestError) as e:
        ingest(empty_db, folder, tmp_path / "r.json")
    message = str(e.value)
    assert message.startswith("ip_sightings.csv: the header has no column first_seen") and "\n" not in message
    assert e.value.result["files"]["prompt_templates.csv"]["loaded"] == len(frames["prompt_templates"])
    assert graph_digest(empty_db)["used_ip"] == 0


def test_two_files_of_one_kind_keep_both_quarantines(empty_db, tmp_path):
    frames = small_delivery(30)
    folder = write_delivery({"accounts": frames["accounts"]}, tmp_path / "d")
    more = pd.DataFrame({"account_id": ["acct_x1", "acct_x2"], "created_at": [T1, "yesterday"]})
    more.to_parquet(folder / "accounts.parquet", index=False)
    with (folder / "accounts.csv").open("a") as f:
        f.write("acct_x3,not a time,,,\n")
    report = ingest(empty_db, folder, tmp_path / "r.json")
    q = tmp_path / "r-quarantine"
    assert report["files"]["accounts.csv"]["quarantined"] == report["files"]["accounts.parquet"]["quarantined"] == 1
    assert pd.read_csv(q / "accounts.csv")["account_id"].tolist() == ["acct_x3"]
    assert pd.read_csv(q / "accounts.parquet.csv")["account_id"].tolist() == ["acct_x2"]
    assert pd.read_csv(q / "accounts.parquet.csv")["_line"].tolist() == [2]


def test_duplicates_across_chunks_huge_counts_and_integer_asns(empty_db, tmp_path):
    frames = small_delivery(60)
    repeat = frames["accounts"].iloc[[3]].assign(created_at="2026-01-30T00:00:00Z")
    frames["accounts"] = pd.concat([frames["accounts"], repeat], ignore_index=True)  # 57 rows after the first
    huge = frames["ip_sightings"].iloc[[0, 1]].assign(requests=[str(2**63), str(2**64 + 1)])
    frames["ip_sightings"] = pd.concat([frames["ip_sightings"], huge], ignore_index=True)
    frames["ip_intel"]["asn"] = ["" if i % 3 == 0 else f"AS{64500 + i % 7}" for i in range(len(frames["ip_intel"]))]
    report = ingest(empty_db, write_delivery(frames, tmp_path / "d"), tmp_path / "r.json", batch_size=7)
    assert report["files"]["accounts.csv"]["reasons"] == {"duplicate account_id in file": 1}
    assert report["files"]["ip_sightings.csv"]["reasons"] == {"requests too large": 2}
    created = read(
        empty_db, "MATCH (a:Account {id: $id}) RETURN toString(a.created_at) AS t", id=repeat["account_id"].iloc[0]
    )
    assert created[0]["t"].startswith(frames["accounts"]["created_at"].iloc[3][:10])  # the first row's value
    assert read(empty_db, "MATCH ()-[e:USED_IP]->() RETURN min(e.requests) AS low")[0]["low"] >= 1
    types = read(
        empty_db,
        """MATCH (i:IP) WHERE i.asn IS NOT NULL
                              RETURN collect(DISTINCT valueType(i.asn)) AS ip,
                                     COLLECT { MATCH (n:ASN) RETURN DISTINCT valueType(n.number) } AS asn""",
    )[0]
    assert types == {"ip": ["INTEGER NOT NULL"], "asn": ["INTEGER NOT NULL"]}


def _snapshot(driver) -> tuple:
    """The digest, every PAID_WITH first_seen and every IP's asn."""
    paid = read(driver, "MATCH (a)-[e:PAID_WITH]->(p) RETURN [a.id, p.fingerprint, toString(e.first_seen)] AS v")
    asns = read(driver, "MATCH (i:IP) RETURN [i.address, i.asn] AS v")
    return graph_digest(driver), sorted(map(str, (r["v"] for r in paid))), sorted(map(str, (r["v"] for r in asns)))


def _typed(frame: pd.DataFrame, kind: str) -> pa.Table:
    """The frame with real Parquet types: timestamps with and without a zone, int64 counts,
    and a timestamp and an integer column with nulls (read as floats and refused before)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)

    def put(column: str, values: pa.Array) -> None:
        nonlocal table
        table = table.set_column(table.schema.get_field_index(column), column, values)

    if kind in ("ip_sightings", "prompt_templates"):
        put(
            "first_seen",
            pa.array(pd.to_datetime(frame["first_seen"], utc=True).dt.tz_localize(None), pa.timestamp("ms")),
        )
        put("last_seen", pa.array(pd.to_datetime(frame["last_seen"], utc=True), pa.timestamp("us", "UTC")))
        put("requests", pa.array(frame["requests"].astype(int), pa.int64()))
    if kind == "payment_methods":
        put(
            "first_seen",
            pa.array(pd.to_datetime(frame["first_seen"].replace("", None), utc=True), pa.timestamp("s", "UTC")),
        )
    if kind == "ip_intel":
        put("asn", pa.array(pd.to_numeric(frame["asn"].replace("", None)).astype("Int64"), pa.int64()))
    return table


def test_typed_parquet_loads_like_csv(empty_db, tmp_path):
    frames = small_delivery(80, seed=4)
    n_pay, n_ips = len(frames["payment_methods"]), len(frames["ip_intel"])
    frames["payment_methods"]["first_seen"] = [
        "" if i % 4 == 0 else f"2026-01-{1 + i % 27:02d}T08:30:00Z" for i in range(n_pay)
    ]
    frames["ip_intel"]["asn"] = ["" if i % 5 == 0 else str(64500 + i % 7) for i in range(n_ips)]
    ingest(empty_db, write_delivery(frames, tmp_path / "csv"), tmp_path / "csv.json")
    expected = _snapshot(empty_db)

    from graph.db import server

    server.reset()
    typed = tmp_path / "parquet"
    typed.mkdir()
    for kind, frame in frames.items():
        pq.write_table(_typed(frame, kind), typed / f"{kind}.parquet")
    report = ingest(empty_db, typed, tmp_path / "parquet.json")
    assert all(r["quarantined"] == 0 for r in report["files"].values()), report
    assert _snapshot(empty_db) == expected
