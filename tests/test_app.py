"""The investigator app (app.py) driven by Streamlit's AppTest against the real test database.

One generated world (the `world` fixture) serves the module, with local users of each
role made by `add_user` (the `users` fixture); every session logs in through the login
form first. The queue, a ring, node expansion, search, decisions recorded as the
logged-in user (ring and member, refused ones, concurrent ones, undo of one's own and by
a lead), a viewer without a decision form, members awaiting review and the button that
extends the decision to them, a large block approved by a second lead, a decision on a
ring re-detected since it was loaded, the audit banner, and the export the download
buttons offer. A last test points the app at a dead port and expects the banner, not a
traceback, and recovery once the database is back. The login page itself (only page
before logging in, wrong passwords, log out, single sign-on) is tested in test_app_login.py.

The ring page's Graph tab is a fragment (st.fragment): `fragment_run` replays an interaction the way the
browser sends one from inside a fragment (AppTest's own run() always runs the whole script), and the
fragment tests count the other tabs' queries across it.
"""

from __future__ import annotations

import functools
import json
import math
import threading
from collections import Counter

import pytest
from conftest import ROOT, free_port
from neo4j.exceptions import ServiceUnavailable
from streamlit.runtime.scriptrunner import RerunData
from streamlit.testing.v1 import AppTest, local_script_runner

from graph.db.connection import read, write
from graph.investigate import queue as iq
from graph.investigate import ring as ir
from graph.investigate import saved
from graph.investigate import search as isr
from graph.investigate import subgraph as sg
from graph.library.cells import to_csv, to_json
from graph.library.export import block_list
from graph.review.actors import Actor, PermissionDenied, cli_actor
from graph.review.decisions import DecisionError, awaiting, decide, history, undo
from graph.review.users import add_user

APP = str(ROOT / "app.py")
# the app's pages, as AppTest.switch_page wants them: files relative to app.py
PAGES = {
    "Ring queue": "ringwatch/webapp/views/queue.py",
    "Ring": "ringwatch/webapp/views/ring.py",
    "Search": "ringwatch/webapp/views/search.py",
    "Export": "ringwatch/webapp/views/export.py",
}
PASSWORD = "correct horse battery staple"
USERS = {"alice": "analyst", "dora": "analyst", "lena": "lead", "leo": "lead", "vic": "viewer"}


@pytest.fixture(scope="module", autouse=True)
def close_app_drivers():
    """The app caches one driver per process (st.cache_resource); close it when the module is done."""
    yield
    import streamlit as st

    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture(scope="module")
def users(world, neo4j_server):
    """Local users of every role, created as the CLI would (all with PASSWORD)."""
    from graph.db.connection import open_driver

    d = open_driver()
    try:
        for name, role in USERS.items():
            add_user(d, cli_actor(), name, role, PASSWORD)
    finally:
        d.close()
    return USERS


def new_app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=90)


def texts(elements) -> list[str]:
    return [str(e.value) for e in elements]


def log_in(at: AppTest, name: str, password: str = PASSWORD) -> AppTest:
    """Fill the login form and press "Log in"."""
    at.text_input(key="login_name").input(name)
    at.text_input(key="login_password").input(password)
    at.button(key="login_submit").click().run()
    assert not at.exception, at.exception
    return at


def logged_in(name: str) -> AppTest:
    """A fresh session, logged in through the form as `name` (a user of the `users` fixture)."""
    at = log_in(new_app().run(), name)
    actor = at.session_state["actor"]
    assert (actor.name, actor.role, actor.channel) == (name, USERS[name], "app")
    return at


def undecided_rings(driver, n: int) -> list[str]:
    frame = iq.queue(driver, iq.QueueFilter(statuses=("suspected", "watch")), limit=50)
    frame = frame[frame["size"] >= 4]  # every test ring has a few members to decide on
    assert len(frame) >= n, f"the test world needs {n} rings, has {len(frame)}"
    return list(frame["id"].head(n))


@pytest.fixture(scope="module")
def rings(world, neo4j_server):
    """Undecided rings of the world, highest score first (each test decides on its own one)."""
    from graph.db.connection import open_driver

    d = open_driver()
    try:
        return undecided_rings(d, 8)
    finally:
        d.close()


def open_ring(at: AppTest, ring_id: str) -> AppTest:
    if not any(o.startswith(ring_id + " ") for o in at.selectbox(key="open_ring_select").options):
        at.multiselect(key="f_status").select("watch").run()  # rings below the threshold are hidden by default
    at.selectbox(key="open_ring_select").select(ring_id)
    at.button(key="open_ring_btn").click().run()
    assert not at.exception, at.exception
    assert at.session_state["nav"] == "Ring"
    return at


def sidebar_text(at: AppTest) -> str:
    return "\n".join(texts(at.sidebar.markdown) + texts(at.sidebar.caption))


def test_queue_lists_rings_and_hides_watch(world, users, driver):
    at = logged_in("vic")  # reading needs no more than a viewer
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
    # a score filter narrows the queue (to the top score, rounded down to the slider's 0.05 steps)
    scores = [float(o.split("score ")[1].split(" ")[0]) for o in at.selectbox(key="open_ring_select").options]
    cut = math.floor(max(scores) * 20) / 20
    assert min(scores) < cut  # the filter has something to leave out
    at.slider(key="f_score").set_value(cut).run()
    kept = [float(o.split("score ")[1].split(" ")[0]) for o in at.selectbox(key="open_ring_select").options]
    assert kept and all(s >= cut for s in kept) and len(kept) < len(scores)


def test_capability_filter_offers_the_rings_capabilities_and_narrows_the_queue(world, users, driver):
    rows = read(driver, "MATCH (r:Ring) RETURN r.id AS id, r.capability_mix AS mix")
    mixes = {r["id"]: json.loads(r["mix"]) for r in rows}
    rings_with = Counter(cap for mix in mixes.values() for cap in mix)
    at = logged_in("alice")
    options = at.selectbox(key="f_cap").options
    assert options[0] == "any" and set(options[1:]) == set(rings_with)
    assert [rings_with[c] for c in options[1:]] == sorted(rings_with.values(), reverse=True)  # most rings first
    rarest = options[-1]
    assert rings_with[rarest] < len(mixes) <= iq.QUEUE_LIMIT  # the filter has something to leave out
    at.multiselect(key="f_status").select("watch").run()  # every status
    at.selectbox(key="f_cap").select(rarest).run()
    assert not at.exception, at.exception
    shown = {o.split(" ")[0] for o in at.selectbox(key="open_ring_select").options}
    assert shown == {ring_id for ring_id, mix in mixes.items() if rarest in mix}


def test_open_ring_and_expand_a_node(world, users, driver, rings):
    ring_id = rings[0]
    at = open_ring(logged_in("alice"), ring_id)
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
    assert len(graph.nodes) <= sg.MAX_NODES
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
    users = read(
        driver,
        "MATCH (n {"
        + {"ip": "address", "template": "hash", "payment": "fingerprint"}[node.kind]
        + ": $key})<--(a:Account) RETURN count(a) AS n",
        key=node.key,
    )[0]["n"]
    drawn_neighbours = {b if a == node.id else a for a, b, _ in graph.edges if node.id in (a, b)}
    assert len([x for x in drawn_neighbours if x.startswith("account:")]) == min(users, sg.EXPAND_LIMIT)
    # members, activity and features are there
    assert any("members match" in c for c in texts(at.caption))


def test_the_ring_page_draws_a_calibrated_score_as_the_larger_of_two(world, users, driver, rings, monkeypatch):
    from graph.detection.scoring import DEFAULT_PARAMS, ring_parts
    from graph.vocabulary import FEATURES
    from ringwatch.webapp import data

    # a model that weighs eliciting share alone, flagging at 0.4 (as `ringwatch calibrate` writes one);
    # the app's read of it is replaced, so the shared database keeps the default weights
    coef = {f: 0.0 for f in DEFAULT_PARAMS["weights"]} | {"eliciting_share": 10.0}
    params = {**DEFAULT_PARAMS, "behaviour_model": {"intercept": -5.0, "coef": coef, "threshold": 0.4}}
    monkeypatch.setattr(data, "scoring_params", lambda: (params, "scoring with weights calibrated on 40 decisions"))
    at = open_ring(logged_in("vic"), rings[0])
    ring = read(driver, "MATCH (r:Ring {id: $id}) RETURN r{.*} AS r", id=rings[0])[0]["r"]
    parts = ring_parts({f: ring.get(f) for f in FEATURES}, params)
    caption = next(c for c in texts(at.caption) if "larger of the calibrated model's" in c)
    assert f"{parts['calibrated']:.2f} (its threshold 0.400 shows as 0.5)" in caption
    assert f"the default weights', {parts['default']:.2f}" in caption
    assert "Scoring with weights calibrated on 40 decisions" in caption


def fragment_run(at: AppTest) -> AppTest:
    """Run `at` as the browser does after an interaction inside a fragment: that fragment alone, with the
    widget values of the page (AppTest.run() always runs the whole script). The page drawn last must have
    exactly one fragment (the ring page's Graph tab); afterwards `at` holds only the fragment's elements.
    AppTest has no API for it: the fragment ids come from its private fragment storage."""
    ids = list(at._fragment_storage._fragments)
    assert len(ids) == 1, ids
    with pytest.MonkeyPatch.context() as m:
        m.setattr(local_script_runner, "RerunData", functools.partial(RerunData, fragment_id_queue=ids))
        at.run()
    return at


@pytest.fixture()
def reads(monkeypatch) -> Counter:
    """How often the ring page's queries ran: the Members and Activity tabs', the saved views', the graph's
    own (drawn, expanded); each counting wrapper calls the real query."""
    counts: Counter = Counter()

    def counting(module, name: str) -> None:
        real = getattr(module, name)

        def wrapper(*args, **kwargs):
            counts[name] += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)

    for name in ("members_count", "members_rows", "timeline", "signups"):
        counting(ir, name)
    counting(saved, "ring_views")
    for name in ("ring_graph", "expand"):
        counting(sg, name)
    return counts


OTHER_TABS = ("members_count", "members_rows", "timeline", "signups", "ring_views")


def test_an_expansion_reruns_the_graph_fragment_not_the_other_tabs(world, users, driver, rings, reads):
    ring_id = rings[0]
    ctx = f"ring:{ring_id}"
    at = open_ring(logged_in("vic"), ring_id)
    assert all(reads[q] >= 1 for q in OTHER_TABS), reads  # a full run reads every tab
    reads.clear()
    graph = at.session_state[f"graph:{ctx}"]
    node = next(n for n in graph.nodes.values() if n.kind in ("ip", "template", "payment") and not n.expanded)
    at.selectbox(key=f"expand_node:{ctx}").select(node.id)
    at.button(key=f"expand_btn:{ctx}").click()
    fragment_run(at)
    assert not at.exception, at.exception
    assert at.session_state[f"graph:{ctx}"].nodes[node.id].expanded
    assert any(t.startswith("Expanded ") for t in texts(at.success))
    assert reads == Counter(expand=1), reads  # the expansion alone: no other tab's query ran
    # "Members drawn" redraws the graph, again without the other tabs
    at.select_slider(key=f"members_drawn:{ring_id}").set_value(20)
    fragment_run(at)
    assert not at.exception, at.exception
    assert at.session_state[f"graph_drawn:{ctx}"] == 20
    assert reads == Counter(expand=1, ring_graph=1), reads
    # "Reset graph" (a callback now, no rerun of the page either)
    at.button(key=f"reset_graph:{ctx}").click()
    fragment_run(at)
    assert not at.exception, at.exception
    assert not at.session_state[f"graph:{ctx}"].nodes[node.id].expanded
    assert reads == Counter(expand=1, ring_graph=2), reads
    # the counters do see a whole run: the page reads every tab again, the graph is kept
    at.run()
    assert not at.exception, at.exception
    assert all(reads[q] == 1 for q in OTHER_TABS), reads
    assert reads["ring_graph"] == 2 and at.session_state[f"graph_drawn:{ctx}"] == 20


def test_leaving_from_the_graph_fragment_reruns_the_whole_app(world, users, driver, rings):
    """The node panel's "Open in search" sits in the fragment: its page switch must still happen at once."""
    ring_id = rings[0]
    ctx = f"ring:{ring_id}"
    at = open_ring(logged_in("vic"), ring_id)
    node = next(n for n in at.session_state[f"graph:{ctx}"].nodes.values() if n.kind == "ip")
    at.selectbox(key=f"expand_node:{ctx}").select(node.id).run()
    at.button(key=f"open_node_search:{ctx}").click()
    fragment_run(at)
    assert not at.exception, at.exception
    assert at.session_state["nav"] == "Search" and at.session_state["entity"] == ("ip", node.key)
    assert any(node.key in s for s in texts(at.subheader))


def test_a_lost_database_in_the_graph_fragment_is_a_banner(world, users, driver, rings, monkeypatch):
    """A fragment rerun runs outside main.guarded: the Graph tab catches a lost database itself."""
    ring_id = rings[0]
    ctx = f"ring:{ring_id}"
    at = open_ring(logged_in("vic"), ring_id)
    node = next(n for n in at.session_state[f"graph:{ctx}"].nodes.values() if n.kind != "account")

    def lost(*args, **kwargs):
        raise ServiceUnavailable("connection lost")  # what the driver raises when the server goes away

    monkeypatch.setattr(sg, "expand", lost)
    at.selectbox(key=f"expand_node:{ctx}").select(node.id)
    at.button(key=f"expand_btn:{ctx}").click()
    fragment_run(at)
    assert not at.exception, at.exception
    assert any(e.startswith("**Database unreachable**") for e in texts(at.error)), texts(at.error)
    assert f"retry_graph:{ring_id}" in {b.key for b in at.button}
    monkeypatch.undo()
    at.button(key=f"retry_graph:{ring_id}").click()
    fragment_run(at)  # Retry reruns the whole app
    assert not at.exception, at.exception
    assert not at.error, texts(at.error)
    assert any(f"Ring {ring_id}" in t for t in texts(at.markdown))  # the whole page, drawn again


def test_expansion_stays_within_the_node_budget(world, driver):
    largest = read(driver, "MATCH (r:Ring) RETURN r.id AS id ORDER BY r.size DESC LIMIT 1")[0]["id"]
    r = ir.ring(driver, largest)
    g = sg.ring_graph(driver, r, members_drawn=120)
    for nid in list(g.nodes):
        sg.expand(driver, g, nid)
    assert len(g.nodes) <= sg.MAX_NODES
    assert any("left out" in note for note in g.notes)


def test_search_an_ip_lands_on_it_with_its_rings(world, users, driver, rings):
    ip = read(
        driver,
        "MATCH (:Ring {id: $id})<-[:MEMBER_OF]-(:Account)-[:USED_IP]->(i:IP) RETURN i.address AS ip LIMIT 1",
        id=rings[1],
    )[0]["ip"]
    at = logged_in("vic")
    at.switch_page(PAGES["Search"]).run()
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
    row = read(driver, "MATCH (a:Account)-[:USED_TEMPLATE]->(t:PromptTemplate) RETURN a.id AS a, t.hash AS t LIMIT 1")[
        0
    ]
    hits = isr.search(driver, row["a"])
    assert (hits.iloc[0]["kind"], hits.iloc[0]["key"], hits.iloc[0]["exact"]) == ("account", row["a"], True)
    hits = isr.search(driver, row["t"][:10])
    assert ("template", row["t"]) in set(hits[["kind", "key"]].itertuples(index=False, name=None))
    proxy = read(driver, "MATCH (p:Proxy) RETURN p.name AS name LIMIT 1")
    if proxy:
        hits = isr.search(driver, proxy[0]["name"].lower()[:5])
        assert proxy[0]["name"] in set(hits["key"])
    assert isr.search(driver, "' OR 1=1 //").empty  # typed text is a parameter, never Cypher


def member_statuses(driver, ring_id: str, ids: list[str]) -> dict[str, str | None]:
    rows = read(
        driver,
        "MATCH (a:Account)-[m:MEMBER_OF]->(:Ring {id: $id}) WHERE a.id IN $ids RETURN a.id AS id, m.status AS status",
        id=ring_id,
        ids=ids,
    )
    return {r["id"]: r["status"] for r in rows}


def test_block_ring_in_app_then_audit_graph_and_export(world, users, driver, rings):
    ring_id = rings[2]
    before = read(driver, "MATCH (r:Ring {id: $id}) RETURN r.status AS status", id=ring_id)[0]["status"]
    at = open_ring(logged_in("alice"), ring_id)
    assert not [t for t in at.text_input if t.label.startswith("Analyst")]  # nobody types a name
    # refused without a reason: nothing recorded
    at.radio(key="dec_status").set_value("blocked")
    at.button(key="dec_submit").click().run()
    assert any("needs a reason" in e for e in texts(at.error))
    assert history(driver, ring_id) == []
    # blocked with a reason
    at.radio(key="dec_status").set_value("blocked")
    at.text_area(key="dec_reason").input("ring-only coding templates on shared prepaid cards")
    at.button(key="dec_submit").click().run()
    assert not at.exception, at.exception
    assert f"Recorded: {ring_id} {before} → blocked by alice." in texts(at.success)
    assert "data-status='blocked'" in "\n".join(texts(at.markdown))
    # the audit event, in the graph: the logged-in user, their role, the app; every member named
    members = {
        r["id"]
        for r in read(
            driver,
            "MATCH (a:Account)-[:MEMBER_OF]->(r:Ring {id: $id, status: 'blocked'}) RETURN a.id AS id",
            id=ring_id,
        )
    }
    events = history(driver, ring_id)
    assert len(events) == 1
    e = events[0]
    assert (e["actor"], e["role"], e["channel"], e["action"]) == ("alice", "analyst", "app", "decide")
    assert (e["status"], e["previous_status"], e["scope"], e["member_count"], e["undo_of"], e["pending"]) == (
        "blocked",
        before,
        "ring",
        len(members),
        None,
        False,
    )
    assert e["reason"] == "ring-only coding templates on shared prepaid cards"
    assert e["run"] == read(driver, "MATCH (r:Ring {id: $id}) RETURN r.last_run AS run", id=ring_id)[0]["run"]
    # another analyst dismisses two members on their own (a member decision)
    at = open_ring(logged_in("dora"), ring_id)
    pick = sorted(at.multiselect(key=f"dec_members:{ring_id}").options)[:2]
    at.radio(key="dec_status").set_value("dismissed")
    at.radio(key="dec_scope").set_value("selected members")
    at.multiselect(key=f"dec_members:{ring_id}").set_value(pick)
    at.text_area(key="dec_reason").input("same office NAT, known customer")
    at.button(key="dec_submit").click().run()
    assert not at.exception, at.exception
    assert f"Recorded: 2 members of {ring_id} blocked → dismissed by dora." in texts(at.success)
    assert member_statuses(driver, ring_id, pick) == {p: "dismissed" for p in pick}
    latest = history(driver, ring_id)[0]
    assert (latest["actor"], latest["scope"], latest["member_count"]) == ("dora", "members", 2)
    # the export page offers exactly what graph/library/export.py writes
    at.switch_page(PAGES["Export"]).run()
    assert not at.exception, at.exception
    expected = block_list(driver)
    assert at.session_state["export_csv"] == to_csv(expected)
    assert at.session_state["export_json"] == to_json(expected)
    exported = set(expected.loc[expected["ring_id"] == ring_id, "account_id"])
    assert exported == members - set(pick)
    row = expected[expected["ring_id"] == ring_id].iloc[0]
    assert (row["status"], row["decided_by"]) == ("blocked", "alice")
    assert "Download CSV" in at.get("download_button")[0].proto.label


def test_a_viewer_reads_but_gets_no_decision_form(world, users, driver, rings):
    ring_id = rings[4]
    at = open_ring(logged_in("vic"), ring_id)
    assert "Logged in as **vic** (viewer)" in sidebar_text(at)
    keys = {b.key for b in at.button}
    assert "dec_submit" not in keys and "undo_submit" not in keys and "extend_submit" not in keys
    assert not [r for r in at.radio if r.key == "dec_status"]
    assert any("deciding needs an analyst" in i for i in texts(at.info))
    assert at.session_state[f"graph:ring:{ring_id}"].nodes  # the evidence is all there
    with pytest.raises(PermissionDenied, match="decide needs"):  # and the server refuses anyway
        decide(driver, Actor("vic", "viewer"), ring_id, "blocked", "viewers cannot")
    assert history(driver, ring_id) == []


def test_members_awaiting_review_and_the_extend_button(world, users, driver, rings):
    ring_id = rings[5]
    decide(driver, Actor("alice", "analyst"), ring_id, "blocked", "a farm")
    # a later detection run puts three more accounts in the ring: nobody decided on them
    joined = [
        r["id"]
        for r in read(driver, "MATCH (a:Account) WHERE NOT (a)-[:MEMBER_OF]->() RETURN a.id AS id ORDER BY id LIMIT 3")
    ]
    write(
        driver,
        "MATCH (r:Ring {id: $ring}) UNWIND $ids AS id MATCH (a:Account {id: id}) "
        "CREATE (a)-[:MEMBER_OF {is_new: true, active: true, strength: 1.0, private_share: 0.5, "
        "evidence: 'joined later', joined_at: datetime()}]->(r) "
        "WITH DISTINCT r SET r.awaiting = size($ids), r.new_members = size($ids)",
        ring=ring_id,
        ids=joined,
    )
    assert awaiting(driver, ring_id) == sorted(joined)
    assert set(block_list(driver)["account_id"]).isdisjoint(joined)  # not blocked: no decision names them
    # the queue says so
    at = logged_in("alice")
    review = {r["ring"]: r["review"] for r in at.dataframe[0].value.to_dict("records")}
    assert review[ring_id] == "3 awaiting review"
    # the ring page lists them, with one button
    at = open_ring(at, ring_id)
    assert any("3 new members awaiting review" in w for w in texts(at.warning))
    lists = [d.value for d in at.dataframe if list(d.value.columns) == ["account"]]
    assert len(lists) == 1 and sorted(lists[0]["account"]) == sorted(joined)
    button = at.button(key="extend_submit")
    assert button.label == "Extend the blocked to these 3 new members"
    at.text_input(key="extend_reason").input("same cards and templates as the blocked members")
    button.click().run()
    assert not at.exception, at.exception
    assert any(s.startswith(f"Extended to 3 new members of {ring_id}") for s in texts(at.success)), texts(at.success)
    assert awaiting(driver, ring_id) == []
    assert member_statuses(driver, ring_id, joined) == {a: "blocked" for a in joined}
    e = history(driver, ring_id)[0]
    assert (e["action"], e["actor"], e["status"], e["scope"], e["member_count"]) == (
        "extend",
        "alice",
        "blocked",
        "members",
        3,
    )
    assert set(joined) <= set(block_list(driver)["account_id"])
    assert not [b for b in at.button if b.key == "extend_submit"]  # nothing left to extend


def test_a_large_block_waits_for_a_second_lead(world, users, driver, rings, monkeypatch):
    ring_id = rings[6]
    size = read(driver, "MATCH (r:Ring {id: $id}) RETURN r.size AS n", id=ring_id)[0]["n"]
    monkeypatch.setenv("RINGWATCH_APPROVAL_THRESHOLD", str(size - 1))  # this ring is one account too many
    at = open_ring(logged_in("lena"), ring_id)
    at.radio(key="dec_status").set_value("blocked")
    at.text_area(key="dec_reason").input("the whole farm")
    at.button(key="dec_submit").click().run()
    assert not at.exception, at.exception
    assert any("waits for a second lead's approval" in s for s in texts(at.success)), texts(at.success)
    assert "data-flag='waiting-for-approval'" in "\n".join(texts(at.markdown))
    assert ring_id not in set(block_list(driver)["ring_id"])  # nothing blocked yet
    # its author sees it waiting, without "Approve"; no decision form either while it waits
    keys = {b.key for b in at.button}
    assert "approve_submit" not in keys and "dec_submit" not in keys
    assert any("another lead approves it" in c for c in texts(at.caption))
    # an analyst cannot approve
    at = open_ring(logged_in("alice"), ring_id)
    assert "approve_submit" not in {b.key for b in at.button}
    # the queue flags it
    at = logged_in("leo")
    at.multiselect(key="f_status").select("watch").run()  # whatever the ring's score
    review = {r["ring"]: r["review"] for r in at.dataframe[0].value.to_dict("records")}
    assert review[ring_id] == "waiting for approval"
    # a second lead approves
    at = open_ring(at, ring_id)
    at.text_input(key="approve_reason").input("checked: all farm accounts")
    at.button(key="approve_submit").click().run()
    assert not at.exception, at.exception
    assert any(s.startswith("Approved: the block of") for s in texts(at.success)), texts(at.success)
    assert "data-status='blocked'" in "\n".join(texts(at.markdown))
    assert "waiting-for-approval" not in "\n".join(texts(at.markdown))
    events = history(driver, ring_id)
    assert [(e["action"], e["actor"]) for e in events] == [("approve", "leo"), ("decide", "lena")]
    assert events[1]["pending"] and events[1]["approved"]
    listed = block_list(driver)
    assert set(listed.loc[listed["ring_id"] == ring_id, "approved_by"]) == {"leo"}
    assert len(listed[listed["ring_id"] == ring_id]) == size


def test_a_ring_redetected_since_it_was_loaded_refuses_the_decision(world, users, driver, rings):
    ring_id = rings[7]
    at = open_ring(logged_in("alice"), ring_id)
    run = read(driver, "MATCH (r:Ring {id: $id}) RETURN r.last_run AS run", id=ring_id)[0]["run"]
    write(driver, "MATCH (r:Ring {id: $id}) SET r.last_run = 'a-later-run'", id=ring_id)
    try:
        at.radio(key="dec_status").set_value("blocked")
        at.text_area(key="dec_reason").input("decided on what I saw")
        at.button(key="dec_submit").click().run()
        assert any("re-detected" in e for e in texts(at.error)), texts(at.error)
        assert history(driver, ring_id) == []
    finally:
        write(driver, "MATCH (r:Ring {id: $id}) SET r.last_run = $run", id=ring_id, run=run)


def test_undo_own_decisions_and_leads_undo_others(world, users, driver, rings):
    ring_id = rings[3]
    before = read(driver, "MATCH (r:Ring {id: $id}) RETURN r.status AS s", id=ring_id)[0]["s"]
    mine = decide(driver, Actor("dora", "analyst"), ring_id, "confirmed", "looks like a farm")
    # another analyst is not offered dora's decision
    at = open_ring(logged_in("alice"), ring_id)
    assert "undo_submit" not in {b.key for b in at.button}
    # dora is
    at = open_ring(logged_in("dora"), ring_id)
    assert at.selectbox(key="undo_pick").options == [
        f"#{mine['seq']} decide {before} → confirmed (ring, {mine['member_count']:,} accounts) by dora"
    ]
    # and a lead is; the undo is recorded as the lead's
    at = open_ring(logged_in("lena"), ring_id)
    at.text_input(key="undo_reason").input("not enough evidence yet")
    at.button(key="undo_submit").click().run()
    assert not at.exception, at.exception
    assert f"Undone: {ring_id} confirmed → {before} by lena (a new event; history kept)." in texts(at.success)
    events = history(driver, ring_id)
    assert [(e["action"], e["actor"], e["undo_of"]) for e in events] == [
        ("undo", "lena", mine["id"]),
        ("decide", "dora", None),
    ]
    assert events[1]["undone"]
    assert read(driver, "MATCH (r:Ring {id: $id}) RETURN r.status AS s", id=ring_id)[0]["s"] == before


def test_decision_rules(world, driver, rings):
    ring_id = rings[3]
    alice, bob = Actor("alice", "analyst"), Actor("bob", "lead")
    for status, reason, message in [
        ("blocked", "", "reason"),
        ("blocked", "   ", "reason"),
        ("nuked", "why", "status"),
    ]:
        with pytest.raises(DecisionError, match=message):
            decide(driver, alice, ring_id, status, reason)
    with pytest.raises(DecisionError, match="no ring"):
        decide(driver, alice, "R-999999", "blocked", "why")
    with pytest.raises(DecisionError, match="not members"):
        decide(driver, alice, ring_id, "blocked", "why", members=["acct_not_a_member"])
    count = len(history(driver, ring_id))
    first = decide(driver, alice, ring_id, "confirmed", "looks like a farm")
    second = decide(driver, bob, ring_id, "blocked", "confirmed by payments team")
    with pytest.raises(DecisionError, match="later decision"):
        undo(driver, alice, first["id"], "oops")  # superseded: decide again instead
    back = undo(driver, bob, second["id"], "wrong ring")
    assert (back["action"], back["status"], back["undo_of"]) == ("undo", "confirmed", second["id"])
    with pytest.raises(DecisionError, match="already undone"):
        undo(driver, bob, second["id"], "again")
    events = history(driver, ring_id)
    assert len(events) == count + 3
    assert [e["action"] for e in events[:3]] == ["undo", "decide", "decide"]
    assert events[0]["undo_of"] == second["id"] and events[1]["undone"]
    assert read(driver, "MATCH (r:Ring {id: $id}) RETURN r.status AS s", id=ring_id)[0]["s"] == "confirmed"


def test_two_analysts_deciding_at_once_lose_nothing(world, driver, rings):
    ring_id = rings[1]
    start = read(driver, "MATCH (r:Ring {id: $id}) RETURN r.status AS s", id=ring_id)[0]
    seen = {e["id"] for e in history(driver, ring_id, limit=1000)}
    per_thread = 8
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def analyst(name: str, statuses: tuple[str, str]) -> None:
        try:
            barrier.wait()
            for i in range(per_thread):
                decide(driver, Actor(name, "analyst"), ring_id, statuses[i % 2], f"{name} decision {i}")
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [
        threading.Thread(target=analyst, args=("alice", ("blocked", "confirmed"))),
        threading.Thread(target=analyst, args=("bob", ("dismissed", "blocked"))),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    events = sorted((e for e in history(driver, ring_id, limit=1000) if e["id"] not in seen), key=lambda e: e["seq"])
    assert len(events) == 2 * per_thread
    assert {e["actor"] for e in events} == {"alice", "bob"}
    # each event replaced exactly what the one before it set: no lost update
    assert events[0]["previous_status"] == start["s"]
    for before, after in zip(events, events[1:], strict=False):
        assert after["previous_status"] == before["status"], (before, after)
    final = read(driver, "MATCH (r:Ring {id: $id}) RETURN r.status AS s", id=ring_id)[0]["s"]
    assert final == events[-1]["status"]


def test_a_broken_audit_trail_shows_a_banner(world, users, driver):
    import streamlit as st

    st.cache_data.clear()  # the app checks the trail at most once a minute
    at = logged_in("alice")
    assert not at.warning
    seq, reason = read(
        driver,
        "MATCH (e:AuditEvent) WHERE e.reason IS NOT NULL "
        "RETURN e.seq AS seq, e.reason AS reason ORDER BY e.seq LIMIT 1",
    )[0].values()
    write(driver, "MATCH (e:AuditEvent {seq: $seq}) SET e.reason = 'edited behind the app'", seq=seq)
    try:
        st.cache_data.clear()
        at.run()
        banner = texts(at.warning)
        assert len(banner) == 1 and banner[0].startswith("**The audit trail does not verify**"), banner
        assert f"audit event {seq}" in banner[0] and "edited" in banner[0]
    finally:
        write(driver, "MATCH (e:AuditEvent {seq: $seq}) SET e.reason = $reason", seq=seq, reason=reason)
        st.cache_data.clear()
    at.run()
    assert not at.warning


def test_lost_database_shows_banner_then_recovers(world, users, monkeypatch):
    at = logged_in("alice")
    monkeypatch.setenv("NEO4J_URI", f"bolt://127.0.0.1:{free_port()}")
    at.run()
    assert not at.exception, at.exception
    errors = texts(at.error)
    assert any(e.startswith("**Database unreachable**") and "ringwatch db start" in e for e in errors), errors
    assert not at.title  # no page drawn on a dead database
    # the login page too
    fresh = new_app().run()
    assert any(e.startswith("**Database unreachable**") for e in texts(fresh.error)) and not fresh.title
    # the database is back (here: the environment points at the live one again) -> Retry recovers
    monkeypatch.delenv("NEO4J_URI")
    at.button(key="retry_db").click().run()
    assert not at.exception, at.exception
    assert not at.error
    assert texts(at.title) == ["Ring queue"]
