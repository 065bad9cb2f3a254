"""The canvas's elements (ringwatch/webapp/canvas.py) and the query page's result helpers
(graph/investigate/library.py): pure, no database, no browser."""

from __future__ import annotations

import json

from graph.investigate import library as il
from graph.investigate.subgraph import Node, Subgraph
from graph.library.cells import to_csv
from ringwatch.webapp import canvas


def small_graph() -> Subgraph:
    g = Subgraph(ring_id="R-000001")
    g.add_node(Node("account:a1", "account", "a1", "member", {"created_at": None, "rings": "R-000001"}))
    g.add_node(Node("ip:10.0.0.1", "ip", "10.0.0.1", "IP address", {"ip_type": "datacenter"}, expanded=True))
    g.add_node(Node("template:" + "ab" * 16, "template", "ab" * 16, "prompt template", {}))
    g.add_edge("account:a1", "ip:10.0.0.1", "USED_IP", 12)
    g.add_edge("account:a1", "template:" + "ab" * 16, "USED_TEMPLATE")
    return g


def test_elements_carry_every_node_and_edge_with_the_apps_positions():
    g = small_graph()
    pos = {"account:a1": (0.5, 0.25), "ip:10.0.0.1": (0.0, 0.0), "template:" + "ab" * 16: (1.0, 1.0)}
    el = canvas.elements(g, pos)
    by_id = {n["data"]["id"]: n for n in el["nodes"]}
    assert set(by_id) == set(g.nodes)
    account = by_id["account:a1"]
    assert account["data"]["label"] == "member" and account["data"]["expanded"] == "no"
    assert account["position"] == {"x": 0.5 * canvas.SCALE, "y": -0.25 * canvas.SCALE}  # y up, as the layout
    assert "created_at" not in account["data"]  # empty details are left out
    ip = by_id["ip:10.0.0.1"]["data"]
    assert (ip["label"], ip["kind"], ip["ip_type"], ip["expanded"]) == ("IP address", "IP address", "datacenter", "yes")
    assert len(by_id["template:" + "ab" * 16]["data"]["name"]) < 32  # a hash is shortened on the canvas
    assert {(e["data"]["source"], e["data"]["target"], e["data"]["label"]) for e in el["edges"]} == {
        (a, b, rel) for a, b, rel in g.edges
    }
    json.dumps(el)  # what goes to the browser is JSON


def test_every_legend_role_has_a_style():
    node_styles, edge_styles = canvas.styles()
    assert {s.label for s in node_styles} >= {"member", "new member", "bystander", "IP address", "ring"}
    assert all(s.dump()["style"]["background-color"] for s in node_styles)
    assert {s.label for s in edge_styles} >= {"USED_IP", "PAID_WITH", "USED_TEMPLATE", "EXIT_OF"}


def result(rows, keys=None) -> il.Result:
    return il.Result(keys or list(rows[0]), rows, False)


def test_csv_frame_writes_cells_as_the_cli_does():
    r = result([{"id": "=cmd()", "n": 3, "x": 0.5, "ok": True, "tags": ["a", "b"], "none": None}])
    text = to_csv(il.csv_frame(r))
    assert text.splitlines() == ["id,n,x,ok,tags,none", '\'=cmd(),3,0.5,true,"[""a"", ""b""]",']


def test_display_frame_and_result_graph():
    node_a = {"_id": "4:x:1", "_labels": ["Ring"], "id": "R-000001"}
    node_b = {"_id": "4:x:2", "_labels": ["Account"], "id": "acct_1"}
    rel = {"_id": "5:x:1", "_type": "MEMBER_OF", "_start": "4:x:2", "_end": "4:x:1"}
    dangling = {"_id": "5:x:2", "_type": "USED_IP", "_start": "4:x:2", "_end": "4:x:9"}
    r = result([{"r": node_a, "m": rel, "a": node_b, "p": {"nodes": [node_b], "relationships": [dangling]}}])
    shown = il.display_frame(r)
    assert json.loads(shown.loc[0, "r"]) == node_a
    g = il.result_graph(r)
    assert set(g.nodes) == {"4:x:1", "4:x:2"} and set(g.edges) == {"5:x:1"}  # the dangling one is dropped
    assert il.node_caption(node_b) == "acct_1" and il.node_caption({"_labels": ["ASN"]}) == "ASN"
    assert il.result_graph(result([{"n": 1}])).nodes == {}
