"""Property-based tests of `ringwatch ingest` against the real database (Hypothesis).

Each example is a generated delivery: an accounts file and an ip_sightings file mixing valid
rows, lines the reader sets aside, rows the contract refuses and blank lines (LF or CRLF,
with or without a byte-order mark, plain or gzip), and sometimes a broken prompt_templates
file (a truncated gzip, or junk bytes under a .csv name). The command runs as a user runs
it, in a subprocess, on an emptied database. The oracle is a model of the contract built
from what was generated: which rows load (accounts, USED_IP pairs with their summed
requests, after IP canonicalisation) and which lines are quarantined, with their reasons.
"""

from __future__ import annotations

import base64
import gzip
import json
from dataclasses import dataclass, field

from conftest import run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph.db import server
from graph.db.connection import read

T1, T2 = b"2026-01-10T00:00:00Z", b"2026-02-10T00:00:00Z"
ACCOUNTS_HEADER = b"account_id,created_at,country,email_domain,plan"
SIGHTINGS_HEADER = b"account_id,ip,first_seen,last_seen,requests"
# (as delivered, as stored): spellings of one address reach one node
IPS = [
    ("198.51.100.1", "198.51.100.1"),
    ("::ffff:198.51.100.1", "198.51.100.1"),
    ("2001:db8::1", "2001:db8::1"),
    ("2001:DB8:0:0::1", "2001:db8::1"),
    (" 203.0.113.9 ", "203.0.113.9"),
]
LONG = b"9" * (1 << 20)  # a real line over 1 MB (the subprocess keeps the real limit)

# Lines every file kind must set aside, whatever its columns (5 here), with their reasons.
BAD_LINES = {
    "not UTF-8": b"acct_\xe9x," + T1 + b",DE,,pro",
    "NUL byte": b"acct_n\x00," + T1 + b",DE,,pro",
    "unterminated quote": b'"acct_q,' + T1 + b",DE,,pro",
    "bad quoting": b'"acct_q"x,' + T1 + b",DE,,pro",
    "too many fields": b"acct_m," + T1 + b",DE,,pro,extra",
    "too few fields": b"acct_f," + T1,
    "line longer than 1 MB": b"acct_l," + T1 + b",DE,," + LONG,
}
# Rows the contract refuses wherever they stand in the file
BAD_ACCOUNT_ROWS = {
    "malformed created_at": b"acct_bad{k},yesterday,,,",
    "missing account_id": b"  ," + T1 + b",,,",
    "malformed account_id": b"x" * 129 + b"," + T1 + b",,,",
}
BAD_SIGHTING_ROWS = {
    "unknown account": b"ghost,198.51.100.1," + T1 + b"," + T2 + b",3",
    "bad ip address": b"{a},300.1.1.1," + T1 + b"," + T2 + b",3",
    "requests not a positive integer": b"{a},198.51.100.1," + T1 + b"," + T2 + b",0",
    "first_seen after last_seen": b"{a},198.51.100.1," + T2 + b"," + T1 + b",3",
}
ITEMS = ["valid"] * 6 + ["blank"] + [f"line:{r}" for r in BAD_LINES] + ["row"] * 2


@dataclass
class File:
    name: str
    lines: list[bytes] = field(default_factory=list)  # after the header
    quarantined: dict[int, tuple[str, bytes]] = field(default_factory=dict)  # line -> (reason, bytes)

    def body(self, header: bytes, eol: bytes, bom: bool) -> bytes:
        return (b"\xef\xbb\xbf" if bom else b"") + b"".join(x + eol for x in [header, *self.lines])

    def bad(self, reason: str, line: bytes) -> None:
        self.lines.append(line)
        self.quarantined[len(self.lines) + 1] = (reason, line)


@dataclass
class Delivery:
    files: dict[str, bytes]
    quarantined: dict[str, dict[int, tuple[str, bytes]]]
    accounts: set[str]
    used_ip: dict[tuple[str, str], int]  # (account, stored ip) -> summed requests
    broken: str | None


@st.composite
def deliveries(draw) -> Delivery:
    gz = draw(st.booleans())
    accounts = File("accounts.csv.gz" if gz else "accounts.csv")
    ids: list[str] = []
    for item in [*draw(st.lists(st.sampled_from(ITEMS), max_size=14)), "valid"]:
        if item == "valid":
            ids.append(f"acct_{len(ids):03d}")
            plan = draw(st.sampled_from([b"free", b"pro", b""]))
            accounts.lines.append(ids[-1].encode() + b"," + T1 + b",DE,x.example," + plan)
        elif item == "blank":
            accounts.lines.append(b"")
        elif item == "row":  # each with its own id: a repeated one would be a duplicate
            reason = draw(st.sampled_from(sorted(BAD_ACCOUNT_ROWS)))
            accounts.bad(reason, BAD_ACCOUNT_ROWS[reason].replace(b"{k}", b"%d" % len(accounts.lines)))
        else:
            reason = item.removeprefix("line:")
            accounts.bad(reason, BAD_LINES[reason])
    sightings = File("ip_sightings.csv")
    used: dict[tuple[str, str], int] = {}
    for item in draw(st.lists(st.sampled_from(ITEMS), max_size=20)):
        if item == "valid":
            account = draw(st.sampled_from(ids))
            given_ip, stored = draw(st.sampled_from(IPS))
            n = draw(st.integers(1, 10**6))
            sightings.lines.append(b",".join([account.encode(), given_ip.encode(), T1, T2, str(n).encode()]))
            used[(account, stored)] = used.get((account, stored), 0) + n
        elif item == "blank":
            sightings.lines.append(b"")
        elif item == "row":
            reason = draw(st.sampled_from(sorted(BAD_SIGHTING_ROWS)))
            sightings.bad(reason, BAD_SIGHTING_ROWS[reason].replace(b"{a}", ids[0].encode()))
        else:
            reason = item.removeprefix("line:")
            sightings.bad(reason, BAD_LINES[reason])
    eol = draw(st.sampled_from([b"\n", b"\r\n"]))
    files = {
        accounts.name: accounts.body(ACCOUNTS_HEADER, eol, draw(st.booleans())),
        sightings.name: sightings.body(SIGHTINGS_HEADER, eol, draw(st.booleans())),
    }
    if gz:
        files[accounts.name] = gzip.compress(files[accounts.name])
    broken = draw(st.sampled_from([None, None, "prompt_templates.csv.gz", "prompt_templates.csv"]))
    if broken == "prompt_templates.csv.gz":  # a cut download
        whole = gzip.compress(b"account_id,template_hash,requests,first_seen,last_seen\n" + b"a,b,1,c,d\n" * 50)
        files[broken] = whole[: draw(st.integers(1, len(whole) - 9))]
    elif broken:  # junk under a .csv name
        files[broken] = draw(st.binary(min_size=1, max_size=300))
    return Delivery(
        files,
        {f.name: f.quarantined for f in (accounts, sightings)},
        set(ids),
        used,
        broken,
    )


def quarantined(folder, name: str) -> dict[int, tuple[str, bytes]]:
    path = folder / f"{name}.jsonl"
    if not path.exists():
        return {}
    out = {}
    for entry in map(json.loads, path.read_text().splitlines()):
        assert entry["file"] == name
        if "raw_base64" in entry:
            raw = base64.b64decode(entry["raw_base64"])
        elif "length" in entry:  # the first 1 MB is kept, and the length
            raw = b"<long>%d:%d" % (entry["length"], len(entry["raw"].encode()))
        else:
            raw = entry["raw"].encode()
        out[entry["line"]] = (entry["reason"], raw)
    return out


def expected_quarantine(lines: dict[int, tuple[str, bytes]]) -> dict[int, tuple[str, bytes]]:
    cut = 1 << 20
    return {n: (why, b"<long>%d:%d" % (len(raw), cut) if len(raw) > cut else raw) for n, (why, raw) in lines.items()}


GRAPH = """
RETURN COLLECT { MATCH (a:Account) RETURN a.id } AS accounts,
       COLLECT { MATCH (a:Account)-[e:USED_IP]->(i:IP) RETURN [a.id, i.address, e.requests] } AS used_ip,
       COUNT { MATCH ()-[:USED_TEMPLATE]->() } AS used_template,
       COLLECT { MATCH (f:IngestFile) RETURN [f.name, f.status] } AS files
"""


@settings(
    max_examples=12,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(delivery=deliveries())
def test_ingest_loads_every_valid_row_and_quarantines_every_bad_line(neo4j_server, tmp_path_factory, delivery):
    server.reset()
    tmp = tmp_path_factory.mktemp("prop")
    folder = tmp / "delivery"
    folder.mkdir()
    for name, data in delivery.files.items():
        (folder / name).write_bytes(data)

    result = run_cli("ingest", str(folder), "--report", str(tmp / "r.json"), "--batch-size", "4")

    assert "Traceback" not in result.stderr
    said = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in said if line.startswith("error:")]
    # exit status 1 and one error line naming the broken file, said last; else 0 and none
    assert result.returncode == (1 if delivery.broken else 0), result.stderr
    assert [e.split()[1].rstrip(":") for e in errors] == ([delivery.broken] if delivery.broken else []), errors
    assert all(e == said[-1] for e in errors), result.stderr

    from graph.db.connection import open_driver

    driver = open_driver()
    try:
        got = read(driver, GRAPH)[0]
    finally:
        driver.close()
    assert sorted(got["accounts"]) == sorted(delivery.accounts)
    assert {(a, ip): n for a, ip, n in got["used_ip"]} == delivery.used_ip
    assert len(got["used_ip"]) == len(delivery.used_ip)
    assert got["used_template"] == 0
    statuses = dict(got["files"])
    assert statuses == {
        **dict.fromkeys(delivery.quarantined, "complete"),
        **({delivery.broken: "failed"} if delivery.broken else {}),
    }
    folder_q = tmp / "r-quarantine"
    for name, lines in delivery.quarantined.items():
        assert quarantined(folder_q, name) == expected_quarantine(lines), name
    report = json.loads((tmp / "r.json").read_text())
    for name, lines in delivery.quarantined.items():
        assert report["files"][name]["quarantined"] == len(lines), name
