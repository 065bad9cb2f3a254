"""The investigator app (app.py) driven by Streamlit's AppTest against the real test database.

One generated world (the `world` fixture) serves the module: the queue, a ring, node
expansion, search, decisions (ring and member, refused ones, concurrent ones, undo) and
the export the download buttons offer. A last test points the app at a dead port and
expects the banner, not a traceback, and recovery once the database is back.
"""

from __future__ import annotations

import json
import threading
from collections import Counter

import pytest
from conftest import ROOT, free_port
from streamlit.testing.v1 import AppTest

from graph.db.connection import read
from graph.investigate import explore as inv
from graph.library.cells import to_csv, to_json
from graph.library.export import block_list
from graph.review.decisions import DecisionError, decide, history, undo

APP = str(ROOT / "app.py")


@pytest.fixture(scope="module", autouse=True)
def close_app_drivers():
    """The app caches one driver per process (st.cache_resource); close it when the module is done."""
    yield
    import streamlit as st

    st.cache_resource.clear()


def new_app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=90)


def texts(elements) -> list[str]:
    return [str(e.value) for e in elements]


def undecided_rings(driver, n: int) -> list[str]:
    frame = inv.queue(driver, inv.QueueFilter(statuses=("suspected", "watch")), limit=50)
    assert len(frame) >= n, f"the test world needs {n} rings, has {len(frame)}"
    return list(frame["id"].head(n))


@pytest.fixture(scope="module")
def rings(world, neo4j_server):
    """Undecided rings of the world, highest score first (each test decides on its own one)."""
    from graph.db.connection import open_driver

    d = open_driver()
    try:
        return undecided_rings(d, 4)
    finally:
        d.close()


def open_ring(at: AppTest, ring_id: str) -> AppTest:
    if not any(o.startswith(ring_id + " ") for o in at.selectbox(key="open_ring_select").options):
        at.multiselect(key="f_status").select("watch").run()  # rings below the threshold are hidden by default
    at.selectbox(key="open_ring_select").select(ring_id)
    at.button(key="open_ring_btn").click().run()
    assert not at.exception, at.exception
    return at


def test_queue_lists_rings_and_hides_watch(world, driver):
    at = new_app().run()
    assert not at.exception, at.exception
    assert at.session_state["nav"] == "Ring queue"
    options = at.selectbox(key="open_ring_select").options
    statuses = {r["status"] for r in read(driver, "MATCH (r:Ring) RETURN r.status AS status")}
    assert "watch" in statuses  # the world has rings below the threshold ...
    shown = [o.split(" · ")[1] for o in options]
    assert shown and "watch" not in shown  # ... hidden by default
    assert float(options[0].split("score ")[1].split(" ")[0]) >= float(options[-1].split("score ")[1].split(" ")[0])
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Rings in queue"].replace(",", "")) == len(options)
    # showing watch rings too
    at.multiselect(key="f_status").select("watch").run()
    assert not at.exception, at.exception
    assert any(" · watch · " in o for o in at.selectbox(key="open_ring_select").options)
    # a score filter narrows the queue
    at.slider(key="f_score").set_value(0.95).run()
    assert all(float(o.split("score ")[1].split(" ")[0]) >= 0.95 for o in at.selectbox(key="open_ring_select").options)


def test_capability_filter_offers_the_rings_capabilities_and_narrows_the_queue(world, driver):
    rows = read(driver, "MATCH (r:Ring) RETURN r.id AS id, r.capability_mix AS mix")
    mixes = {r["id"]: json.loads(r["mix"]) for r in rows}
    rings_with = Counter(cap for mix in mixes.values() for cap in mix)
    at = new_app().run()
    options = at.selectbox(key="f_cap").options
    assert options[0] == "any" and set(options[1:]) == set(rings_with)
    assert [rings_with[c] for c in options[1:]] == sorted(rings_with.values(), reverse=True)  # most rings first
    rarest = options[-1]
    assert rings_with[rarest] < len(mixes) <= inv.QUEUE_LIMIT  # the filter has something to leave out
    at.multiselect(key="f_status").select("watch").run()  # every status
    at.selectbox(key="f_cap").select(rarest).run()
    assert not at.exception, at.exception
    shown = {o.split(" ")[0] for o in at.selectbox(key="open_ring_select").options}
    assert shown == {ring_id for ring_id, mix in mixes.items() if rarest in mix}


def test_open_ring_and_expand_a_node(world, driver, rings):
    ring_id = rings[0]
    at = open_ring(new_app().run(), ring_id)
    assert at.session_state["nav"] == "Ring"
    page = "\n".join(texts(at.markdown))
    ring = read(driver, "MATCH (r:Ring {id: $id}) RETURN r.reason AS reason, r.status AS status", id=ring_id)[0]
    assert f"Ring {ring_id}" in page and f"data-status='{ring['status']}'" in page
    reason = ring["reason"]
    assert reason.split(";")[0] in page  # the one-line reason is on the page
    ctx = f"ring:{ring_id}"
    graph = at.session_state[f"graph:{ctx}"]
    kinds = {n.kind for n in graph.nodes.values()}
    assert "account" in kinds and kinds & {"ip", "template", "payment"}
    assert len(graph.nodes) <= inv.MAX_NODES
    # expand a binding entity through the selectbox + button (clicking the chart does the same)
    node = next(n for n in graph.nodes.values() if n.kind in ("ip", "template", "payment"))
    before = len(graph.nodes)
    at.selectbox(key=f"expand_node:{ctx}").select(node.id)
    at.button(key=f"expand_btn:{ctx}").click().run()
    assert not at.exception, at.exception
    assert any(t.startswith("Expanded ") for t in texts(at.success))
    graph = at.session_state[f"graph:{ctx}"]
    assert graph.nodes[node.id].expanded
    assert len(graph.nodes) >= before
    users = read(driver, "MATCH (n {" + {"ip": "address", "template": "hash", "payment": "fingerprint"}[node.kind]
                 + ": $key})<--(a:Account) RETURN count(a) AS n", key=node.key)[0]["n"]
    drawn_neighbours = {b if a == node.id else a for a, b, _ in graph.edges if node.id in (a, b)}
    assert len([x for x in drawn_neighbours if x.startswith("account:")]) == min(users, inv.EXPAND_LIMIT)
    # members, activity and features are there
    assert any("members match" in c for c in texts(at.caption))


def test_expansion_stays_within_the_node_budget(world, driver):
    largest = read(driver, "MATCH (r:Ring) RETURN r.id AS id ORDER BY r.size DESC LIMIT 1")[0]["id"]
    r = inv.ring(driver, largest)
    g = inv.ring_graph(driver, r, members_drawn=120)
    for nid in list(g.nodes):
        inv.expand(driver, g, nid)
    assert len(g.nodes) <= inv.MAX_NODES
    assert any("left out" in note for note in g.notes)


def test_search_an_ip_lands_on_it_with_its_rings(world, driver, rings):
    ip = read(
        driver,
        "MATCH (:Ring {id: $id})<-[:MEMBER_OF]-(:Account)-[:USED_IP]->(i:IP) RETURN i.address AS ip LIMIT 1",
        id=rings[1],
    )[0]["ip"]
    at = new_app().run()
    at.radio(key="nav").set_value("Search").run()
    at.text_input(key="search_text").input(f"  {ip.upper()} ")
    at.button(key="search_btn").click().run()
    assert not at.exception, at.exception
    assert at.session_state["entity"] == ("ip", ip)
    assert any(ip in s for s in texts(at.subheader))
    assert rings[1] in at.selectbox(key="touch_ring").options
    graph = at.session_state[f"graph:entity:ip:{ip}"]
    assert any(n.kind == "account" for n in graph.nodes.values())
    # and from there to the ring
    at.selectbox(key="touch_ring").select(rings[1])
    at.button(key="touch_open").click().run()
    assert at.session_state["nav"] == "Ring" and at.session_state["ring_id"] == rings[1]


def test_search_other_kinds(world, driver):
    row = read(driver, "MATCH (a:Account)-[:USED_TEMPLATE]->(t:PromptTemplate) "
               "RETURN a.id AS a, t.hash AS t LIMIT 1")[0]
    hits = inv.search(driver, row["a"])
    assert (hits.iloc[0]["kind"], hits.iloc[0]["key"], hits.iloc[0]["exact"]) == ("account", row["a"], True)
    hits = inv.search(driver, row["t"][:10])
    assert ("template", row["t"]) in set(hits[["kind", "key"]].itertuples(index=False, name=None))
    proxy = read(driver, "MATCH (p:Proxy) RETURN p.name AS name LIMIT 1")
    if proxy:
        hits = inv.search(driver, proxy[0]["name"].lower()[:5])
        assert proxy[0]["name"] in set(hits["key"])
    assert inv.search(driver, "' OR 1=1 //").empty  # typed text is a parameter, never Cypher


def test_block_ring_in_app_then_audit_graph_and_export(world, driver, rings):
    ring_id = rings[2]
    before = read(driver, "MATCH (r:Ring {id: $id}) RETURN r.status AS status", id=ring_id)[0]["status"]
    at = open_ring(new_app().run(), ring_id)
    # refused without a reason: nothing recorded
    at.radio(key="dec_status").set_value("blocked")
    at.text_input(key="dec_analyst").input("alice")
    at.button(key="dec_submit").click().run()
    assert any("needs a reason" in e for e in texts(at.error))
    assert history(driver, ring_id) == []
    # blocked with a reason
    at.radio(key="dec_status").set_value("blocked")
    at.text_area(key="dec_reason").input("ring-only coding templates on shared prepaid cards")
    at.text_input(key="dec_analyst").input("alice")
    at.button(key="dec_submit").click().run()
    assert not at.exception, at.exception
    assert any(f"{before} → blocked" in s for s in texts(at.success))
    assert "data-status='blocked'" in "\n".join(texts(at.markdown))
    # the audit event, in the graph
    events = history(driver, ring_id)
    assert len(events) == 1
    e = events[0]
    assert (e["status"], e["previous_status"], e["analyst"], e["members"], e["undo_of"]) == (
        "blocked", before, "alice", None, None)
    assert e["reason"] == "ring-only coding templates on shared prepaid cards"
    members = {r["id"] for r in read(
        driver, "MATCH (a:Account)-[:MEMBER_OF]->(r:Ring {id: $id, status: 'blocked'}) RETURN a.id AS id", id=ring_id)}
    assert members
    # dismiss two members on their own (a member decision)
    pick = sorted(at.multiselect(key=f"dec_members:{ring_id}").options)[:2]
    at.radio(key="dec_status").set_value("dismissed")
    at.radio(key="dec_scope").set_value("selected members")
    at.multiselect(key=f"dec_members:{ring_id}").set_value(pick)
    at.text_area(key="dec_reason").input("same office NAT, known customer")
    at.text_input(key="dec_analyst").input("bob")
    at.button(key="dec_submit").click().run()
    assert not at.exception, at.exception
    assert any("2 members" in s for s in texts(at.success))
    statuses = {r["id"]: r["status"] for r in read(
        driver, "MATCH (a:Account)-[m:MEMBER_OF]->(:Ring {id: $id}) WHERE a.id IN $ids RETURN a.id AS id, "
        "m.status AS status", id=ring_id, ids=pick)}
    assert statuses == {p: "dismissed" for p in pick}
    assert read(driver, "MATCH (:Ring {id: $id}) RETURN 1 AS x", id=ring_id)
    # the export page offers exactly what graph/export.py writes
    at.radio(key="nav").set_value("Export").run()
    assert not at.exception, at.exception
    expected = block_list(driver)
    assert at.session_state["export_csv"] == to_csv(expected)
    assert at.session_state["export_json"] == to_json(expected)
    exported = set(expected.loc[expected["ring_id"] == ring_id, "account_id"])
    assert exported == members - set(pick)
    row = expected[expected["ring_id"] == ring_id].iloc[0]
    assert (row["status"], row["decided_by"]) == ("blocked", "alice")
    assert "Download CSV" in at.get("download_button")[0].proto.label


def test_decision_rules(world, driver, rings):
    ring_id = rings[3]
    for status, reason, analyst, message in [
        ("blocked", "", "alice", "reason"),
        ("blocked", "   ", "alice", "reason"),
        ("blocked", "why", "", "analyst"),
        ("nuked", "why", "alice", "status"),
    ]:
        with pytest.raises(DecisionError, match=message):
            decide(driver, ring_id, status, reason, analyst)
    with pytest.raises(DecisionError, match="no ring"):
        decide(driver, "R-999999", "blocked", "why", "alice")
    with pytest.raises(DecisionError, match="not members"):
        decide(driver, ring_id, "blocked", "why", "alice", members=["acct_not_a_member"])
    assert history(driver, ring_id) == []
    first = decide(driver, ring_id, "confirmed", "looks like a farm", "alice")
    second = decide(driver, ring_id, "blocked", "confirmed by payments team", "bob")
    with pytest.raises(DecisionError, match="later decision"):
        undo(driver, first["id"], "oops", "alice")  # superseded: decide again instead
    back = undo(driver, second["id"], "wrong ring", "bob")
    assert (back["status"], back["previous_status"]) == ("confirmed", "blocked")
    with pytest.raises(DecisionError, match="already undone"):
        undo(driver, second["id"], "again", "bob")
    events = history(driver, ring_id)
    assert [e["seq"] for e in events] == [3, 2, 1]
    assert events[0]["undo_of"] == second["id"] and events[1]["undone"]
    assert read(driver, "MATCH (r:Ring {id: $id}) RETURN r.status AS s", id=ring_id)[0]["s"] == "confirmed"
    # member decision and its undo restore exactly what was there
    member = read(driver, "MATCH (a:Account)-[:MEMBER_OF]->(:Ring {id: $id}) RETURN a.id AS id LIMIT 1",
                  id=ring_id)[0]["id"]
    d = decide(driver, ring_id, "dismissed", "benign", "carol", members=[member])
    assert d["previous_status"] == "confirmed"
    undo(driver, d["id"], "not benign after all", "carol")
    assert read(driver, "MATCH (:Account {id: $a})-[m:MEMBER_OF]->(:Ring {id: $id}) RETURN m.status AS s",
                a=member, id=ring_id)[0]["s"] is None
    assert read(driver, "MATCH (d:Decision)-[:ON]->(:Ring {id: $id}) RETURN count(d) AS n", id=ring_id)[0]["n"] == 5


def test_two_analysts_deciding_at_once_lose_nothing(world, driver, rings):
    ring_id = rings[1]
    start = read(driver, "MATCH (r:Ring {id: $id}) RETURN r.status AS s, coalesce(r.decision_seq, 0) AS seq",
                 id=ring_id)[0]
    per_thread = 8
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def analyst(name: str, statuses: tuple[str, str]) -> None:
        try:
            barrier.wait()
            for i in range(per_thread):
                decide(driver, ring_id, statuses[i % 2], f"{name} decision {i}", name)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=analyst, args=("alice", ("blocked", "confirmed"))),
               threading.Thread(target=analyst, args=("bob", ("dismissed", "blocked")))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    events = sorted(
        (e for e in history(driver, ring_id, limit=1000) if e["seq"] > start["seq"]), key=lambda e: e["seq"])
    assert len(events) == 2 * per_thread
    assert {e["analyst"] for e in events} == {"alice", "bob"}
    assert [e["seq"] for e in events] == list(range(start["seq"] + 1, start["seq"] + 1 + 2 * per_thread))
    # each event replaced exactly what the one before it set: no lost update
    assert events[0]["previous_status"] == start["s"]
    for before, after in zip(events, events[1:], strict=False):
        assert after["previous_status"] == before["status"], (before, after)
    final = read(driver, "MATCH (r:Ring {id: $id}) RETURN r.status AS s", id=ring_id)[0]["s"]
    assert final == events[-1]["status"]


def test_lost_database_shows_banner_then_recovers(neo4j_server, monkeypatch):
    monkeypatch.setenv("NEO4J_URI", f"bolt://127.0.0.1:{free_port()}")
    at = new_app().run()
    assert not at.exception, at.exception
    errors = texts(at.error)
    assert any(e.startswith("**Database unreachable**") and "ringwatch db start" in e for e in errors), errors
    assert not at.title  # no page drawn on a dead database
    # the database is back (here: the environment points at the live one again) -> Retry recovers
    monkeypatch.delenv("NEO4J_URI")
    at.button(key="retry_db").click().run()
    assert not at.exception, at.exception
    assert not at.error
    assert texts(at.title) == ["Ring queue"]
