"""The local Neo4j + GDS: lifecycle, security, GDS, and errors a user sees."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_cli

from graph.db import server
from graph.db.connection import DatabaseUnavailable, Target, gds_client, open_driver, read, resolve_target, write


def test_status_reports_versions_and_counts(neo4j_server):
    result = run_cli("db", "status", "--json")
    assert result.returncode == 0, result.stderr
    import json

    info = json.loads(result.stdout)
    assert info["neo4j"].startswith("5.26.")
    assert info["gds"].startswith("2.13.")
    assert info["uri"].startswith("bolt://127.0.0.1:")
    assert isinstance(info["nodes"], int)


def test_second_start_says_already_running(neo4j_server):
    result = run_cli("db", "start")
    assert result.returncode == 0
    assert "already running" in result.stdout


def test_stop_and_start_keeps_every_node(empty_db):
    write(empty_db, "UNWIND range(1, 250) AS i CREATE (:Probe {i: i})")
    empty_db.close()
    assert server.stop() == "stopped"
    assert server.running_pid() is None
    server.start()
    d = open_driver()
    try:
        assert read(d, "MATCH (p:Probe) RETURN count(p) AS n, sum(p.i) AS s")[0] == {"n": 250, "s": 31375}
    finally:
        d.close()


def test_gds_wcc_finds_the_components(empty_db):
    write(
        empty_db,
        """
        UNWIND [[1,2],[2,3],[4,5],[7,7]] AS pair
        MERGE (a:W {i: pair[0]}) MERGE (b:W {i: pair[1]})
        MERGE (a)-[:L]->(b)
        WITH 1 AS x MERGE (:W {i: 6})
        """,
    )
    gds = gds_client(empty_db)
    G, _ = gds.graph.project("test-wcc", "W", {"L": {"orientation": "UNDIRECTED"}})
    try:
        rows = gds.wcc.stream(G)
    finally:
        G.drop()
    ids = dict(zip(gds.util.asNodes(rows["nodeId"].tolist()), rows["componentId"], strict=True))
    by_i = {node["i"]: comp for node, comp in ids.items()}
    groups = {}
    for i, comp in by_i.items():
        groups.setdefault(comp, set()).add(i)
    assert sorted(map(sorted, groups.values())) == [[1, 2, 3], [4, 5], [6], [7]]
    assert gds.graph.list().empty


def test_wrong_password_is_refused(neo4j_server):
    good = resolve_target()
    bad = Target(uri=good.uri, user=good.user, password=good.password + "-wrong")
    with pytest.raises(DatabaseUnavailable, match="refused the credentials"):
        open_driver(bad)


def test_password_file_is_owner_only(neo4j_server):
    path = Path(neo4j_server["RINGWATCH_STATE"]) / "password"
    assert path.stat().st_mode & 0o077 == 0


def _decode(hex_address: str) -> str:
    """A /proc/net/tcp{,6} address as text (IPv4-mapped IPv6 shown as IPv4)."""
    import ipaddress
    import struct

    raw = bytes.fromhex(hex_address)
    words = struct.unpack(f"<{len(raw) // 4}I", raw)  # the kernel prints 32-bit words host-endian
    packed = b"".join(struct.pack(">I", w) for w in words)
    ip = ipaddress.ip_address(packed)
    return str(ip.ipv4_mapped) if getattr(ip, "ipv4_mapped", None) else str(ip)


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a socket LISTENing on `port`, read from /proc (no traffic sent)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(_decode(address))
    return found


def test_server_listens_on_loopback_only(neo4j_server):
    addresses = _listening_addresses(int(neo4j_server["RINGWATCH_BOLT_PORT"]))
    assert addresses == {"127.0.0.1"}  # nothing on 0.0.0.0, :: or another interface


def test_reset_without_yes_refuses_and_keeps_data(empty_db):
    write(empty_db, "CREATE (:Keep)")
    result = run_cli("db", "reset")
    assert result.returncode == 1
    assert "without --yes" in result.stderr
    assert read(empty_db, "MATCH (k:Keep) RETURN count(k) AS n")[0]["n"] == 1
    result = run_cli("db", "reset", "--yes")
    assert result.returncode == 0, result.stderr
    assert read(empty_db, "MATCH (n) RETURN count(n) AS n")[0]["n"] == 0


def test_unreachable_database_gives_one_line(neo4j_server):
    result = run_cli("db", "status", env={"NEO4J_URI": "bolt://127.0.0.1:1", "NEO4J_PASSWORD": "x"})
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot reach Neo4j at bolt://127.0.0.1:1" in lines[0]


def test_taken_port_is_a_clear_error(neo4j_server, tmp_path):
    result = run_cli("db", "start", env={"RINGWATCH_STATE": str(tmp_path / "other")})
    assert result.returncode == 1
    assert f"port {neo4j_server['RINGWATCH_BOLT_PORT']} on 127.0.0.1 is taken" in result.stderr


def test_environment_points_at_another_neo4j(neo4j_server):
    """NEO4J_URI/USER/PASSWORD select the database; the local password file is not used."""
    local = resolve_target()
    env = {
        "NEO4J_URI": f"neo4j://127.0.0.1:{neo4j_server['RINGWATCH_BOLT_PORT']}",
        "NEO4J_USER": "neo4j",
        "NEO4J_PASSWORD": local.password,
        "RINGWATCH_STATE": "/nonexistent",
    }
    result = run_cli("db", "status", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert '"uri": "neo4j://127.0.0.1:' in result.stdout


def test_page_cache_runs_without_the_fallback_path(neo4j_server):
    # The JVM options of Neo4j's own neo4j.conf (server.NEO4J_JVM_OPTIONS): without the
    # --add-opens the page cache says it falls back to a slower path.
    text = server.paths().debug_log.read_text(errors="replace")
    assert "System diagnostics" in text  # the server has started and logged its setup
    assert "using fallback mode" not in text
