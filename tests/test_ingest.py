"""Ingest against the real database: counts, idempotence, crash safety, quarantine, formats."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import closing

import pandas as pd
import pytest
from conftest import ROOT, run_cli
from delivery import graph_digest, small_delivery, write_delivery

from graph.db.connection import read, resolve_target, session
from ingest.contract import validate
from ingest.load import ingest, prefetch
from ingest.writes import WRITE, batch_parameters, write_batch


def load(driver, folder, tmp_path, name="report.json", batch_size=10_000):
    return ingest(driver, folder, tmp_path / name, batch_size=batch_size)


def test_counts_equal_the_valid_rows(empty_db, tmp_path):
    frames = small_delivery(200)
    report = load(empty_db, write_delivery(frames, tmp_path / "d"), tmp_path)
    d = graph_digest(empty_db)
    assert d["accounts"] == 200
    assert d["paid_with"] == len(frames["payment_methods"])
    assert d["payment_methods"] == frames["payment_methods"]["payment_fingerprint"].nunique()
    assert d["used_ip"] == len(frames["ip_sightings"])
    assert d["used_template"] == len(frames["prompt_templates"])
    assert d["templates"] == frames["prompt_templates"]["template_hash"].nunique()
    assert d["ips"] == len(frames["ip_intel"])
    assert d["proxies"] == 1 and d["exit_of"] == (frames["ip_intel"]["proxy_provider"] != "").sum()
    assert d["asns"] == 7 and d["in_asn"] == len(frames["ip_intel"])
    assert d["ip_requests"] == frames["ip_sightings"]["requests"].astype(int).sum()
    for r in report["files"].values():
        assert r["quarantined"] == 0 and r["read"] == r["loaded"]


def test_second_load_changes_nothing(empty_db, tmp_path):
    folder = write_delivery(small_delivery(150), tmp_path / "d")
    load(empty_db, folder, tmp_path)
    first = graph_digest(empty_db)
    report = load(empty_db, folder, tmp_path, "again.json")
    assert graph_digest(empty_db) == first
    assert {r["status"] for r in report["files"].values()} == {"already loaded"}


def test_new_file_adds_counts_and_widens_times(empty_db, tmp_path):
    frames = small_delivery(50)
    load(empty_db, write_delivery(frames, tmp_path / "d1"), tmp_path)
    later = frames["prompt_templates"].copy()
    later["first_seen"], later["last_seen"] = "2025-12-01T00:00:00Z", "2026-03-01T00:00:00Z"
    write_delivery({"prompt_templates": later}, tmp_path / "d2")
    load(empty_db, tmp_path / "d2", tmp_path, "r2.json")
    row = read(
        empty_db,
        """
        MATCH ()-[e:USED_TEMPLATE]->() RETURN sum(e.requests) AS total,
               toString(min(e.first_seen)) AS first, toString(max(e.last_seen)) AS last""",
    )[0]
    assert row["total"] == 2 * frames["prompt_templates"]["requests"].astype(int).sum()
    assert row["first"].startswith("2025-12-01") and row["last"].startswith("2026-03-01")


def test_killed_load_resumes_to_the_same_graph(empty_db, tmp_path):
    folder = write_delivery(small_delivery(3000, seed=11), tmp_path / "big")
    load(empty_db, folder, tmp_path, "clean.json", batch_size=300)
    clean = graph_digest(empty_db)
    from graph.db import server

    server.reset()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ringwatch.cli",
            "ingest",
            str(folder),
            "--report",
            str(tmp_path / "k.json"),
            "--batch-size",
            "300",
        ],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    # kill once the relationship files are partly in: some batches of ip_sightings committed
    while time.monotonic() < deadline:
        n = read(empty_db, "MATCH ()-[e:USED_IP]->() RETURN count(e) AS n")[0]["n"]
        if n > 1000:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = graph_digest(empty_db)
    assert partial != clean, "the load finished before it could be killed"
    # resumed with other settings: the batches recorded at the first attempt are kept
    result = run_cli(
        "ingest", str(folder), "--report", str(tmp_path / "resume.json"), "--batch-size", "70", "--writers", "1"
    )
    assert result.returncode == 0, result.stderr
    assert graph_digest(empty_db) == clean
    statuses = {r["status"] for r in json.loads((tmp_path / "resume.json").read_text())["files"].values()}
    assert "resumed" in statuses


def test_a_retry_after_a_lost_commit_writes_nothing_twice(empty_db, tmp_path):
    """The driver retries a batch whose COMMIT reply was lost; the batch had landed."""
    frames = small_delivery(60)
    load(empty_db, write_delivery(frames, tmp_path / "d"), tmp_path)
    checked = validate("prompt_templates", frames["prompt_templates"].astype(str), lambda ids: set(ids))
    parameters = {**batch_parameters("prompt_templates", checked.valid), "delivery": 2}
    with session(empty_db, write=True) as s:  # the first attempt: rows and marker commit
        s.execute_write(write_batch, WRITE["prompt_templates"], parameters, len(checked.valid), "retry:0")
    once = graph_digest(empty_db)
    with session(empty_db, write=True) as s:  # the retry: finds the marker, adds nothing
        s.execute_write(write_batch, WRITE["prompt_templates"], parameters, len(checked.valid), "retry:0")
    assert graph_digest(empty_db) == once


def test_prefetch_stops_its_thread_when_the_consumer_fails():
    """A producer left running inside pandas/Arrow at exit aborts the process (SIGABRT)."""
    produced = []

    def slow():
        for i in range(200):
            time.sleep(0.01)
            produced.append(i)
            yield i

    with pytest.raises(RuntimeError), closing(prefetch(slow(), depth=2)) as items:
        for i in items:
            if i == 3:
                raise RuntimeError("a writer failed")
    assert not [t for t in threading.enumerate() if t.name == "ingest-prefetch" and t.is_alive()]
    assert len(produced) < 10  # stopped after its current item, not run to the end


class CuttableRelay:
    """A TCP relay to the test database that can be cut, as a crashed server or a lost network is."""

    def __init__(self, port: int) -> None:
        self.target, self.sockets = port, []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # the listener was closed: the relay is cut
                return
            server = socket.create_connection(("127.0.0.1", self.target))
            for s in (client, server):  # Bolt is request/response: Nagle would stall every reply
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sockets += [client, server]
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass

    def cut(self) -> None:
        # shutdown wakes the thread blocked in accept() (close alone would not, on Linux);
        # new connections are refused from now on
        self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        for s in self.sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


def test_database_lost_mid_load_is_one_line_and_resumable(empty_db, tmp_path, neo4j_server):
    folder = write_delivery(small_delivery(3000, seed=12), tmp_path / "d")
    relay = CuttableRelay(int(neo4j_server["RINGWATCH_BOLT_PORT"]))
    local = resolve_target()
    env = {
        **os.environ,
        "NEO4J_URI": f"bolt://127.0.0.1:{relay.port}",
        "NEO4J_USER": local.user,
        "NEO4J_PASSWORD": local.password,
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ringwatch.cli",
            "ingest",
            str(folder),
            "--report",
            str(tmp_path / "cut.json"),
            "--batch-size",
            "300",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if read(empty_db, "MATCH ()-[e:USED_IP]->() RETURN count(e) AS n")[0]["n"] > 1000:
            break
        time.sleep(0.05)
    relay.cut()
    started = time.monotonic()
    _, stderr = proc.communicate(timeout=120)
    waited = time.monotonic() - started
    assert proc.returncode == 1, stderr
    assert "Traceback" not in stderr and "[#" not in stderr  # no driver log lines either
    last = [line for line in stderr.splitlines() if line.strip()][-1]
    assert last.startswith("error: cannot reach Neo4j at bolt://127.0.0.1:") and last.endswith("server is up")
    assert waited < 60, f"the CLI took {waited:.0f} s to give up"
    # the batches that committed before the cut stay; a second run completes the load
    result = run_cli("ingest", str(folder), "--report", str(tmp_path / "after.json"))
    assert result.returncode == 0, result.stderr
    resumed = graph_digest(empty_db)
    from graph.db import server

    server.reset()
    load(empty_db, folder, tmp_path, "clean.json", batch_size=300)
    assert resumed == graph_digest(empty_db)


BAD_ROWS = {
    "accounts": [
        ({"account_id": "", "created_at": "2026-01-01T00:00:00Z"}, "missing account_id"),
        ({"account_id": "acct_x1", "created_at": "yesterday"}, "malformed created_at"),
        ({"account_id": "x" * 129, "created_at": "2026-01-01T00:00:00Z"}, "malformed account_id"),
        ({"account_id": "acct_7_000000", "created_at": "2026-01-02T00:00:00Z"}, "duplicate account_id in file"),
    ],
    "ip_sightings": [
        (
            {
                "account_id": "ghost",
                "ip": "198.51.100.1",
                "first_seen": "2026-01-01T00:00:00Z",
                "last_seen": "2026-01-02T00:00:00Z",
                "requests": "3",
            },
            "unknown account",
        ),
        (
            {
                "account_id": "acct_7_000001",
                "ip": "300.1.1.1",
                "first_seen": "2026-01-01T00:00:00Z",
                "last_seen": "2026-01-02T00:00:00Z",
                "requests": "3",
            },
            "bad ip address",
        ),
        (
            {
                "account_id": "acct_7_000001",
                "ip": "198.51.100.1",
                "first_seen": "2026-01-01T00:00:00Z",
                "last_seen": "2026-01-02T00:00:00Z",
                "requests": "0",
            },
            "requests not a positive integer",
        ),
        (
            {
                "account_id": "acct_7_000001",
                "ip": "198.51.100.1",
                "first_seen": "2026-01-01T00:00:00Z",
                "last_seen": "2026-01-02T00:00:00Z",
                "requests": "-4",
            },
            "requests not a positive integer",
        ),
        (
            {
                "account_id": "acct_7_000001",
                "ip": "198.51.100.1",
                "first_seen": "2026-01-05T00:00:00Z",
                "last_seen": "2026-01-02T00:00:00Z",
                "requests": "3",
            },
            "first_seen after last_seen",
        ),
        (
            {
                "account_id": "acct_7_000001",
                "ip": "198.51.100.1",
                "first_seen": "",
                "last_seen": "2026-01-02T00:00:00Z",
                "requests": "3",
            },
            "missing first_seen",
        ),
    ],
    "prompt_templates": [
        (
            {
                "account_id": "acct_7_000002",
                "template_hash": "not-hex!",
                "requests": "1",
                "first_seen": "2026-01-01T00:00:00Z",
                "last_seen": "2026-01-01T00:00:00Z",
            },
            "malformed template_hash",
        ),
        (
            {
                "account_id": "acct_7_000002",
                "template_hash": "abc",
                "requests": "1",
                "first_seen": "2026-01-01T00:00:00Z",
                "last_seen": "2026-01-01T00:00:00Z",
            },
            "malformed template_hash",
        ),
        (
            {
                "account_id": "acct_7_000002",
                "template_hash": "a" * 32,
                "requests": "1.5",
                "first_seen": "2026-01-01T00:00:00Z",
                "last_seen": "2026-01-01T00:00:00Z",
            },
            "requests not a positive integer",
        ),
    ],
    "payment_methods": [
        ({"account_id": "acct_7_000003", "payment_fingerprint": ""}, "missing payment_fingerprint"),
        ({"account_id": "nobody", "payment_fingerprint": "fpX"}, "unknown account"),
    ],
    "ip_intel": [({"ip": "not an ip", "asn": "1"}, "bad ip address")],
}


def with_bad_rows(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """`frames` with every BAD_ROWS row appended to its file."""
    return frames | {
        kind: pd.concat([frames[kind], pd.DataFrame([r for r, _ in rows])], ignore_index=True)
        for kind, rows in BAD_ROWS.items()
    }


def test_every_kind_of_bad_row_is_quarantined_and_the_rest_loads(empty_db, tmp_path):
    frames = small_delivery(100)
    good = {k: len(v) for k, v in frames.items()}
    frames = with_bad_rows(frames)
    frames["accounts"]["referrer"] = "extra column"
    report = load(empty_db, write_delivery(frames, tmp_path / "d"), tmp_path)
    for kind, rows in BAD_ROWS.items():
        r = report["files"][f"{kind}.csv"]
        assert r["loaded"] == good[kind], kind
        assert r["quarantined"] == len(rows), kind
        expected = pd.Series([why for _, why in rows]).value_counts().to_dict()
        assert r["reasons"] == expected, kind
    assert report["files"]["accounts.csv"]["extra_columns"] == ["referrer"]
    quarantined = pd.read_csv(tmp_path / "report-quarantine" / "ip_sightings.csv", dtype=str, keep_default_na=False)
    assert set(quarantined["_reason"]) == {why for _, why in BAD_ROWS["ip_sightings"]}
    assert "300.1.1.1" in set(quarantined["ip"])  # written whole and unchanged
    assert graph_digest(empty_db)["accounts"] == 100


def test_check_reports_what_a_load_would_and_writes_nothing(empty_db, tmp_path):
    earlier = small_delivery(30, seed=5)  # accounts of an earlier delivery, known only to the graph
    load(empty_db, write_delivery({"accounts": earlier["accounts"]}, tmp_path / "earlier"), tmp_path, "earlier.json")
    frames = small_delivery(100)
    frames = with_bad_rows(frames)
    returning = frames["ip_sightings"].iloc[[0]].assign(account_id=earlier["accounts"]["account_id"].iloc[0])
    frames["ip_sightings"] = pd.concat([frames["ip_sightings"], returning], ignore_index=True)
    folder = write_delivery(frames, tmp_path / "d")
    size = "MATCH (n) RETURN count(n) AS nodes, COUNT { MATCH ()-[e]->() } AS relationships"
    before = read(empty_db, size)
    result = run_cli("ingest", str(folder), "--check", "--report", str(tmp_path / "check.json"))
    assert result.returncode == 0, result.stderr
    assert "check (nothing written)" in result.stderr
    assert read(empty_db, size) == before  # not even a record of the file
    checked = json.loads((tmp_path / "check.json").read_text())
    assert checked["check_only"] is True
    loaded = load(empty_db, folder, tmp_path, "load.json")
    assert set(checked["files"]) == set(loaded["files"])
    for name, c in checked["files"].items():
        got = loaded["files"][name]
        assert c["status"] == "checked" and c["loaded"] == 0, name
        assert (c["read"], c["valid"], c["quarantined"], c["reasons"]) == (
            got["read"],
            got["loaded"],
            got["quarantined"],
            got["reasons"],
        ), name
    assert checked["files"]["ip_sightings.csv"]["reasons"]["unknown account"] == 1  # ghost, not the earlier account
    check_q, load_q = tmp_path / "check-quarantine", tmp_path / "load-quarantine"
    assert sorted(f.name for f in check_q.iterdir()) == sorted(f.name for f in load_q.iterdir())
    for f in check_q.iterdir():
        assert f.read_text() == (load_q / f.name).read_text(), f.name


HOSTILE = [
    "x'}) DETACH DELETE n //",
    '"; MATCH (n) DETACH DELETE n; //',
    '=HYPERLINK("http://evil.example","click")',
    "+cmd|' /C calc'!A0",
    "\u202eevil\u202c right-to-left",
    "名前 ✓ emoji 🧪 zero\u200bwidth",
    "L" * 10_000,
]


def test_hostile_text_is_stored_verbatim_never_executed(empty_db, tmp_path):
    frames = small_delivery(20)
    hostile = pd.DataFrame(
        {
            "account_id": [f"evil_{i}" for i in range(len(HOSTILE))],
            "created_at": "2026-01-01T00:00:00Z",
            "email_domain": [h.lower() for h in HOSTILE],
            "plan": HOSTILE,
        }
    )
    frames["accounts"] = pd.concat([frames["accounts"], hostile], ignore_index=True)
    load(empty_db, write_delivery(frames, tmp_path / "d"), tmp_path)
    stored = read(empty_db, "MATCH (a:Account) WHERE a.id STARTS WITH 'evil_' RETURN a.id AS id, a.plan AS plan")
    assert {r["id"]: r["plan"] for r in stored} == {f"evil_{i}": h.strip() for i, h in enumerate(HOSTILE)}
    assert graph_digest(empty_db)["accounts"] == 20 + len(HOSTILE)  # nothing deleted


@pytest.mark.parametrize("fmt", ["csv.gz", "parquet"])
def test_formats_give_the_same_graph(empty_db, tmp_path, fmt):
    frames = small_delivery(120, seed=3)
    load(empty_db, write_delivery(frames, tmp_path / "csv"), tmp_path)
    expected = graph_digest(empty_db)
    from graph.db import server

    server.reset()
    load(empty_db, write_delivery(frames, tmp_path / fmt, fmt=fmt), tmp_path, "other.json")
    assert graph_digest(empty_db) == expected


def test_missing_folder_is_one_line(neo4j_server, tmp_path):
    result = run_cli("ingest", str(tmp_path / "nope"))
    assert result.returncode == 1
    assert "is not a folder" in result.stderr and "Traceback" not in result.stderr


def _ms(text: pd.Series) -> pd.Series:
    return pd.to_datetime(text, utc=True, format="ISO8601").astype("int64") // 1_000_000


def _last_non_empty(frame: pd.DataFrame, keys: list[str], column: str) -> dict:
    known = frame[frame[column].fillna("") != ""]
    return known.groupby(keys, sort=False)[column].last().to_dict()


def test_every_property_matches_a_model_of_the_rows(empty_db, tmp_path):
    """Each loaded property equals the rows folded in order: requests summed, first_seen the
    earliest, last_seen the latest, optional text the last non-empty value.

    Pairs repeat inside a batch, across batches (batch size 37) and across two deliveries,
    and optional values are blank or disagree, so a row attached to the wrong node or a
    wrong fold shows up as a difference."""
    rng = random.Random(5)
    d1 = small_delivery(80, seed=9)
    stamps = [f"2026-0{m}-{d:02d}T{h:02d}:00:00Z" for m in (1, 2, 3) for d in (3, 17) for h in (1, 13)]

    def reshuffled(frame: pd.DataFrame, frac: float, seed: int) -> pd.DataFrame:
        out = frame.sample(frac=frac, random_state=seed).copy()
        pairs = [sorted(rng.sample(stamps, 2)) for _ in range(len(out))]
        out["first_seen"] = [a for a, _ in pairs]
        if "last_seen" in out:
            out["last_seen"] = [b for _, b in pairs]
        if "requests" in out:
            out["requests"] = [str(rng.randint(1, 50)) for _ in range(len(out))]
        return out

    tpl = reshuffled(d1["prompt_templates"], 0.5, 1)
    tpl["capability"] = [rng.choice(["", "coding", "tool_use"]) for _ in range(len(tpl))]
    d1["prompt_templates"] = pd.concat([d1["prompt_templates"], tpl]).sample(frac=1, random_state=2)
    d1["ip_sightings"] = pd.concat([d1["ip_sightings"], reshuffled(d1["ip_sightings"], 0.5, 3)])
    pay = reshuffled(d1["payment_methods"], 0.5, 4)
    pay["first_seen"] = [rng.choice(["", s]) for s in pay["first_seen"]]
    pay["method_type"] = [rng.choice(["", "prepaid", "virtual"]) for _ in range(len(pay))]
    pay["bin"] = [rng.choice(["", "535522"]) for _ in range(len(pay))]
    d1["payment_methods"] = pd.concat([d1["payment_methods"], pay])
    d2 = {
        "prompt_templates": reshuffled(d1["prompt_templates"], 0.3, 5),
        "ip_sightings": reshuffled(d1["ip_sightings"], 0.3, 6),
        "ip_intel": d1["ip_intel"].assign(
            as_org=[rng.choice(["", "Renamed Org"]) for _ in range(len(d1["ip_intel"]))],
            asn=[rng.choice(["", "64499"]) for _ in range(len(d1["ip_intel"]))],
            proxy_provider=[rng.choice(["", "ShadeVPN"]) for _ in range(len(d1["ip_intel"]))],
        ),
    }
    load(empty_db, write_delivery(d1, tmp_path / "d1"), tmp_path, batch_size=37)
    load(empty_db, write_delivery(d2, tmp_path / "d2"), tmp_path, "r2.json", batch_size=37)
    rows = {k: pd.concat([d1[k], d2[k]]) if k in d2 else d1[k] for k in d1}

    def folded(frame: pd.DataFrame, keys: list[str]) -> dict:
        frame = frame.assign(
            first=_ms(frame["first_seen"]), last=_ms(frame["last_seen"]), requests=frame["requests"].astype(int)
        )
        g = frame.groupby(keys).agg(requests=("requests", "sum"), first=("first", "min"), last=("last", "max"))
        return {k: tuple(v) for k, v in g.iterrows()}

    def edges(query: str) -> dict:
        return {(r["a"], r["b"]): tuple(r["v"]) for r in read(empty_db, query)}

    got = edges("""MATCH (a:Account)-[e:USED_TEMPLATE]->(t) RETURN a.id AS a, t.hash AS b,
                   [e.requests, e.first_seen.epochMillis, e.last_seen.epochMillis] AS v""")
    assert got == folded(rows["prompt_templates"], ["account_id", "template_hash"])
    got = edges("""MATCH (a:Account)-[e:USED_IP]->(i) RETURN a.id AS a, i.address AS b,
                   [e.requests, e.first_seen.epochMillis, e.last_seen.epochMillis] AS v""")
    assert got == folded(rows["ip_sightings"], ["account_id", "ip"])

    got = edges("MATCH (a:Account)-[e:USED_TEMPLATE]->(t) RETURN a.id AS a, t.hash AS b, [e.capability] AS v")
    caps = _last_non_empty(rows["prompt_templates"], ["account_id", "template_hash"], "capability")
    assert {k: v[0] for k, v in got.items() if v[0] is not None} == caps
    got = {r["h"]: r["c"] for r in read(empty_db, "MATCH (t:PromptTemplate) RETURN t.hash AS h, t.capability AS c")}
    assert got == _last_non_empty(rows["prompt_templates"], ["template_hash"], "capability")

    pays = rows["payment_methods"]
    got = edges("""MATCH (a:Account)-[e:PAID_WITH]->(p) RETURN a.id AS a, p.fingerprint AS b,
                   [e.method_type, e.first_seen.epochMillis] AS v""")
    dated = pays[pays["first_seen"] != ""]
    first = dated.assign(ms=_ms(dated["first_seen"])).groupby(["account_id", "payment_fingerprint"])["ms"].min()
    method = _last_non_empty(pays, ["account_id", "payment_fingerprint"], "method_type")
    assert got == {k: (method.get(k), first.get(k)) for k in got}
    assert set(got) == set(zip(pays["account_id"], pays["payment_fingerprint"], strict=True))
    for column in ("method_type", "bin", "issuer_country"):
        stored = read(empty_db, "MATCH (p:PaymentMethod) RETURN p.fingerprint AS f, p[$c] AS v", c=column)
        assert {r["f"]: r["v"] for r in stored if r["v"] is not None} == _last_non_empty(
            pays, ["payment_fingerprint"], column
        ), column

    intel = rows["ip_intel"]
    for column in ("as_org", "proxy_provider"):
        stored = read(empty_db, "MATCH (i:IP) RETURN i.address AS ip, i[$c] AS v", c=column)
        assert {r["ip"]: r["v"] for r in stored if r["v"] is not None} == _last_non_empty(intel, ["ip"], column)
    links = read(empty_db, "MATCH (i:IP)-[:IN_ASN]->(n) RETURN i.address AS ip, n.number AS asn")
    assert {(r["ip"], r["asn"]) for r in links} == {
        (ip, int(asn)) for ip, asn in zip(intel["ip"], intel["asn"], strict=True) if asn
    }
    links = read(empty_db, "MATCH (i:IP)-[:EXIT_OF]->(p) RETURN i.address AS ip, p.name AS p")
    assert {(r["ip"], r["p"]) for r in links} == {
        (ip, p) for ip, p in zip(intel["ip"], intel["proxy_provider"], strict=True) if p
    }
    orgs = read(empty_db, "MATCH (n:ASN) RETURN n.number AS n, n.org AS org")
    named = intel[(intel["asn"] != "") & (intel["as_org"] != "")]
    assert {r["n"]: r["org"] for r in orgs} == {int(k): v for k, v in named.groupby("asn")["as_org"].last().items()}
