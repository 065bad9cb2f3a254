"""The app's case work, query library page and saved views, driven by AppTest against the test database.

Cases: "Assign to me", the case state and comments on the ring page (each an audit event as
the logged-in user; a viewer reads them and gets no form), the queue's case filters
("assigned to me", "unassigned", by state) and bulk assignment of selected rings.
"""

from __future__ import annotations

import pytest
from test_app import PASSWORD, log_in, new_app, texts, undecided_rings

from graph.db.connection import read
from graph.review import cases
from graph.review.actors import cli_actor
from graph.review.users import add_user

USERS = {"ana": "analyst", "ben": "analyst", "lia": "lead", "val": "viewer"}


@pytest.fixture(scope="module", autouse=True)
def close_app_drivers():
    yield
    import streamlit as st

    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture(scope="module")
def users(world, neo4j_server):
    from graph.db.connection import open_driver

    d = open_driver()
    try:
        for name, role in USERS.items():
            add_user(d, cli_actor(), name, role, PASSWORD)
    finally:
        d.close()
    return USERS


@pytest.fixture(scope="module")
def rings(world, neo4j_server):
    from graph.db.connection import open_driver

    d = open_driver()
    try:
        return undecided_rings(d, 6)
    finally:
        d.close()


def logged_in(name: str):
    at = log_in(new_app().run(), name)
    assert at.session_state["actor"].name == name
    return at


def open_ring(at, ring_id: str):
    if not any(o.startswith(ring_id + " ") for o in at.selectbox(key="open_ring_select").options):
        at.multiselect(key="f_status").select("watch").run()
    at.selectbox(key="open_ring_select").select(ring_id)
    at.button(key="open_ring_btn").click().run()
    assert not at.exception, at.exception
    assert at.session_state["nav"] == "Ring"
    return at


def case_of(driver, ring_id: str) -> tuple[str | None, str]:
    row = read(
        driver, "MATCH (r:Ring {id: $id}) RETURN r.assignee AS a, coalesce(r.case_state, 'open') AS s", id=ring_id
    )[0]
    return row["a"], row["s"]


def case_events(driver, action: str) -> list[dict]:
    return read(
        driver,
        "MATCH (e:AuditEvent {action: $action}) RETURN properties(e) AS e ORDER BY e.seq",
        action=action,
    )


def page_html(at) -> str:
    return "\n".join(texts(at.markdown))


def test_assign_to_me_state_and_comments_on_the_ring_page(world, users, driver, rings):
    ring_id = rings[0]
    at = open_ring(logged_in("ana"), ring_id)
    assert "data-assignee='' data-state='open'" in page_html(at)
    at.button(key="case_assign_me").click().run()
    assert not at.exception, at.exception
    assert f"Assigned {ring_id} to ana." in texts(at.success)
    assert case_of(driver, ring_id) == ("ana", "in progress")  # an open case someone takes is in progress
    assert "data-assignee='ana' data-state='in progress'" in page_html(at)
    assign = case_events(driver, "case.assign")[-1]["e"]
    assert (assign["actor"], assign["role"], assign["channel"], assign["rings"], assign["assignee"]) == (
        "ana",
        "analyst",
        "app",
        [ring_id],
        "ana",
    )
    # a comment
    at.text_area(key=f"case_comment:{ring_id}").input("Same prepaid BIN as R-000003; asked payments.")
    at.button(key="comment_submit").click().run()
    assert not at.exception, at.exception
    assert f"Comment added to {ring_id}." in texts(at.success)
    assert "Same prepaid BIN as R-000003; asked payments." in page_html(at)
    said = cases.comments(driver, ring_id)
    assert [(c["actor"], c["role"], c["text"]) for c in said] == [
        ("ana", "analyst", "Same prepaid BIN as R-000003; asked payments.")
    ]
    # an empty comment is refused in one line, nothing recorded
    at.button(key="comment_submit").click().run()
    assert any("Comment not added: a comment needs text." in e for e in texts(at.error)), texts(at.error)
    assert len(cases.comments(driver, ring_id)) == 1
    # the state
    at.selectbox(key=f"case_state_pick:{ring_id}").select("decided")
    at.button(key="case_state_btn").click().run()
    assert not at.exception, at.exception
    assert case_of(driver, ring_id) == ("ana", "decided")
    state = case_events(driver, "case.state")[-1]["e"]
    assert (state["actor"], state["ring"], state["state"], state["previous_state"]) == (
        "ana",
        ring_id,
        "decided",
        "in progress",
    )
    assert "Unassign" in [b.label for b in at.button]  # it is ana's now
    # a viewer reads the case, with no way to change it
    at = open_ring(logged_in("val"), ring_id)
    assert "data-assignee='ana' data-state='decided'" in page_html(at)
    assert "Same prepaid BIN as R-000003; asked payments." in page_html(at)
    keys = {b.key for b in at.button}
    assert not keys & {"case_assign_me", "case_unassign", "comment_submit", "case_state_btn"}
    assert any("Viewers read the case" in c for c in texts(at.caption))


def test_queue_case_filters_and_bulk_assignment(world, users, driver, rings):
    picked = rings[1:4]
    at = logged_in("lia")
    at.multiselect(key="f_status").select("watch").run()
    at.toggle(key="bulk_mode").set_value(True).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="bulk_assignee").value == "lia"  # the user by default
    assert "ben" in at.selectbox(key="bulk_assignee").options and "val" not in at.selectbox(key="bulk_assignee").options
    at.multiselect(key="bulk_rings").set_value(picked)
    at.selectbox(key="bulk_assignee").select("ben")
    at.button(key="bulk_assign_btn").click().run()
    assert not at.exception, at.exception
    assert "Assigned 3 rings to ben." in texts(at.success), texts(at.success)
    assert {r: case_of(driver, r) for r in picked} == {r: ("ben", "in progress") for r in picked}
    event = case_events(driver, "case.assign")[-1]["e"]
    assert (event["actor"], sorted(event["rings"]), event["assignee"]) == ("lia", sorted(picked), "ben")
    table = at.dataframe[0].value
    assert dict(zip(table["ring"], table["assignee"], strict=True))[picked[0]] == "ben"
    # ben's "assigned to me" is exactly those rings
    at = logged_in("ben")
    at.multiselect(key="f_status").select("watch").run()
    at.selectbox(key="f_case").select("assigned to me").run()
    assert not at.exception, at.exception
    mine = {o.split(" ")[0] for o in at.selectbox(key="open_ring_select").options}
    assert mine == set(picked)
    # unassigned leaves them (and ana's ring) out
    at.selectbox(key="f_case").select("unassigned").run()
    free = {o.split(" ")[0] for o in at.selectbox(key="open_ring_select").options}
    assert free and not free & {*picked, rings[0]}
    everyone = read(driver, "MATCH (r:Ring) WHERE r.assignee IS NULL RETURN count(r) AS n")[0]["n"]
    assert len(free) == min(everyone, 100)
    # by state: the decided case only
    at.selectbox(key="f_case").select("all cases")
    at.selectbox(key="f_case_state").select("decided").run()
    assert {o.split(" ")[0] for o in at.selectbox(key="open_ring_select").options} == {rings[0]}
    # unassign one of them in bulk
    at.selectbox(key="f_case_state").select("any").run()
    at.toggle(key="bulk_mode").set_value(True).run()
    at.multiselect(key="bulk_rings").set_value([picked[0]])
    at.selectbox(key="bulk_assignee").select("nobody (unassign)")
    at.button(key="bulk_assign_btn").click().run()
    assert f"Assigned {picked[0]} to nobody." in texts(at.success), texts(at.success)
    assert case_of(driver, picked[0]) == (None, "in progress")


def test_a_viewer_has_no_bulk_assignment(world, users, driver):
    at = logged_in("val")
    assert not [t for t in at.toggle if t.key == "bulk_mode"]


# --- the query library ---------------------------------------------------------------------------------------------

QUERIES_PAGE = "ringwatch/webapp/views/queries.py"


def queries_page(name: str = "ana"):
    at = logged_in(name)
    at.switch_page(QUERIES_PAGE).run()
    assert not at.exception, at.exception
    return at


def test_run_the_rings_query_with_a_parameter_as_the_cli_does(world, users, driver):
    import json

    from conftest import run_cli

    at = queries_page()
    listed = at.dataframe[0].value
    assert "rings" in set(listed["query"]) and "block-list" in set(listed["query"])
    at.selectbox(key="q_pick").select("rings").run()
    assert at.text_input(key="qp:rings:statuses").value == '["suspected", "confirmed", "blocked"]'  # the default
    assert at.number_input(key="qp:rings:min_score").value == 0.0
    at.text_input(key="qp:rings:statuses").input("suspected,watch")
    at.number_input(key="qp:rings:min_score").set_value(0.5)
    at.button(key="q_run").click().run()
    assert not at.exception, at.exception
    assert not at.error, texts(at.error)
    cli = run_cli("query", "run", "rings", "-p", "statuses=suspected,watch", "-p", "min_score=0.5", "--format", "json")
    assert cli.returncode == 0, cli.stderr
    expected = json.loads(cli.stdout)
    result = at.session_state["q_result:rings"]
    assert expected and result.rows == expected  # the same rows, in the same order
    shown = at.dataframe[1].value
    assert list(shown.columns) == list(expected[0]) and list(shown["ring_id"]) == [r["ring_id"] for r in expected]
    assert all(r["score"] >= 0.5 and r["status"] in ("suspected", "watch") for r in expected)
    cli_csv = run_cli(
        "query", "run", "rings", "-p", "statuses=suspected,watch", "-p", "min_score=0.5", "--format", "csv"
    )
    assert at.session_state["q_csv:rings"].replace("\r\n", "\n") == cli_csv.stdout.replace("\r\n", "\n")
    assert "Download CSV" in at.get("download_button")[0].proto.label


def test_a_bad_parameter_is_one_line(world, users):
    at = queries_page()
    at.selectbox(key="q_pick").select("rings").run()
    at.text_input(key="qp:rings:statuses").input('["suspected"')
    at.button(key="q_run").click().run()
    assert not at.exception, at.exception
    errors = texts(at.error)
    assert errors == ["Not run: parameter statuses: '[\"suspected\"' is not a valid list."], errors
    # a required parameter left empty
    at.selectbox(key="q_pick").select("ring-members").run()
    at.button(key="q_run").click().run()
    assert texts(at.error) == ["Not run: fill in ring_id."]


def test_the_app_never_writes_and_bounds_the_rows(world, driver):
    from graph.investigate import library as il
    from graph.library import catalog

    before = read(driver, "MATCH (n) RETURN count(n) AS n")[0]["n"]
    creates = catalog.parse("CREATE (n:Intruder {x: $x}) RETURN n", name="adhoc")
    with pytest.raises(il.ReadOnlyRefused, match="only queries that read"):
        il.run_read_only(driver, creates, {"x": 1})
    marked = catalog.parse("// @writes: true\nMATCH (r:Ring) RETURN r.id AS id", name="marked")
    with pytest.raises(il.ReadOnlyRefused, match="@writes: true"):
        il.run_read_only(driver, marked, {})
    loads = catalog.parse("LOAD CSV FROM 'file:///etc/passwd' AS line RETURN line", name="loads")
    with pytest.raises(il.ReadOnlyRefused):
        il.run_read_only(driver, loads, {})
    assert read(driver, "MATCH (n) RETURN count(n) AS n")[0]["n"] == before
    # at most `limit` rows, and it says so
    rings = catalog.parse("MATCH (r:Ring) RETURN r.id AS id ORDER BY id", name="all-rings")
    result = il.run_read_only(driver, rings, {}, limit=3)
    assert len(result.rows) == 3 and result.truncated
    # nodes and relationships in the rows become a graph
    paths = catalog.parse("MATCH (r:Ring)<-[m:MEMBER_OF]-(a:Account) RETURN r, m, a LIMIT 5", name="paths")
    g = il.result_graph(il.run_read_only(driver, paths, {}))
    assert {n["_labels"][0] for n in g.nodes.values()} == {"Ring", "Account"} and len(g.edges) == 5


# --- saved views ---------------------------------------------------------------------------------------------------


def test_save_a_view_and_a_colleague_opens_its_link(world, users, driver, rings):
    ring_id = rings[4]
    ctx = f"ring:{ring_id}"
    at = open_ring(logged_in("ana"), ring_id)
    graph = at.session_state[f"graph:{ctx}"]
    first = next(n for n in graph.nodes.values() if n.kind in ("ip", "template", "payment"))
    at.selectbox(key=f"expand_node:{ctx}").select(first.id)
    at.button(key=f"expand_btn:{ctx}").click().run()
    graph = at.session_state[f"graph:{ctx}"]
    second = next(n for n in graph.nodes.values() if n.kind == "account" and not n.expanded)
    at.selectbox(key=f"expand_node:{ctx}").select(second.id)
    at.button(key=f"expand_btn:{ctx}").click().run()
    assert not at.exception, at.exception
    drawn = set(at.session_state[f"graph:{ctx}"].nodes)
    at.text_input(key=f"view_name:{ring_id}").input("cards and one member, expanded")
    at.button(key="save_view_btn").click().run()
    assert not at.exception, at.exception
    view_id = at.session_state["saved_view"]
    assert f"View saved: anyone logged in opens it at the app's address + ?view={view_id}" in texts(at.success)
    assert f"href='./?view={view_id}'" in page_html(at)
    stored = read(driver, "MATCH (v:SavedView {id: $id}) RETURN properties(v) AS v", id=view_id)[0]["v"]
    assert (stored["name"], stored["ring"], stored["by"]) == ("cards and one member, expanded", ring_id, "ana")
    assert stored["expansions"] == [first.id, second.id] and set(stored["nodes"]) == drawn
    assert not read(driver, "MATCH (e:AuditEvent) WHERE e.action STARTS WITH 'view' RETURN e")  # view state only
    # a colleague follows the link: after logging in, the same ring with the same nodes
    other = new_app()
    other.query_params["view"] = view_id
    other = log_in(other.run(), "ben")
    assert other.session_state["nav"] == "Ring" and other.session_state["ring_id"] == ring_id
    restored = other.session_state[f"graph:{ctx}"]
    assert set(restored.nodes) == drawn
    assert restored.nodes[first.id].expanded and restored.nodes[second.id].expanded
    # an unknown view is one line
    lost = new_app()
    lost.query_params["view"] = "nosuchview"
    lost = log_in(lost.run(), "ben")
    assert not lost.exception, lost.exception
    assert "No saved view 'nosuchview' (it may have been removed)." in texts(lost.error)
