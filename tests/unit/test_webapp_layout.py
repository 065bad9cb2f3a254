"""The app's pure layout and text helpers (ringwatch/webapp/layout.py): no database, no Streamlit run."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import networkx as nx
import pandas as pd
import pytest

from graph.investigate.subgraph import Node, Subgraph
from ringwatch.webapp.layout import (
    ASPECT,
    CLEARANCE,
    STYLE,
    change_text,
    edge_rows,
    event_change,
    fmt_time,
    layout,
    node_rows,
    packed_layout,
    place_new,
    tooltip_text,
)

ROOT = Path(__file__).resolve().parents[2]


def ring_graph(members: int = 40, entities: int = 3) -> Subgraph:
    g = Subgraph(max_nodes=500, ring_id="R-1")
    for e in range(entities):
        g.add_node(Node(f"ip:10.0.0.{e}", "ip", f"10.0.0.{e}", "IP address", pinned=True))
    for i in range(members):
        g.add_node(Node(f"account:a{i:03d}", "account", f"a{i:03d}", "member"))
        g.add_edge(f"account:a{i:03d}", f"ip:10.0.0.{i % entities}", "USED_IP")
    return g


def span_of(pos: dict[str, tuple[float, float]]) -> float:
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    return max(max(xs) - min(xs), max(ys) - min(ys), 1.0)


def test_known_nodes_stay_put_when_the_graph_grows():
    g = ring_graph()
    before = layout(g)
    assert set(before) == set(g.nodes)
    for j in range(25):  # an expansion: 25 neighbours of one address
        g.add_node(Node(f"account:n{j:02d}", "account", f"n{j:02d}", "bystander"))
        g.add_edge("ip:10.0.0.0", f"account:n{j:02d}", "USED_IP")
    after = layout(g, before)
    assert set(after) == set(g.nodes)
    assert {n: after[n] for n in before} == before  # every drawn node exactly where it was


def test_the_same_nodes_keep_the_same_positions():
    g = ring_graph()
    first = layout(g)
    assert layout(g, first) is first


def test_a_fresh_layout_is_deterministic():
    assert layout(ring_graph()) == layout(ring_graph())


def test_new_nodes_do_not_overlap_drawn_ones_or_each_other():
    g = ring_graph()
    known = layout(g)
    graph = nx.Graph()
    graph.add_nodes_from(g.nodes)
    graph.add_edges_from((a, b) for a, b, _ in g.edges)
    for j in range(25):
        graph.add_edge("ip:10.0.0.0", f"account:n{j:02d}")
    for j in range(10):
        graph.add_edge("account:a005", f"template:t{j}")
    graph.add_node("proxy:unattached")  # no drawn neighbour: placed near the centre's bottom
    new = place_new(graph, known)
    assert set(new) == set(graph.nodes) - set(known)
    min_gap = CLEARANCE * span_of(known)
    everything = {**known, **new}
    for n, p in new.items():
        nearest = min(math.dist(p, q) for m, q in everything.items() if m != n)
        assert nearest > min_gap, (n, nearest, min_gap)


def test_new_nodes_settle_near_their_anchor():
    g = ring_graph()
    known = layout(g)
    graph = nx.Graph(list((a, b) for a, b, _ in g.edges))
    graph.add_edge("account:a005", "template:t1")
    new = place_new(graph, known)
    distance = math.dist(new["template:t1"], known["account:a005"])
    assert distance < 0.5 * span_of(known)


def test_packed_layout_bounds():
    graph = nx.Graph()
    for i in range(60):  # the main component: four hubs in a line, 60 accounts around them
        graph.add_edge(f"m{i}", f"hub{i % 4}")
    graph.add_edges_from([("hub0", "hub1"), ("hub1", "hub2"), ("hub2", "hub3")])
    for i in range(40):  # many small components: two nodes each, in rows below the main one
        graph.add_edge(f"s{i}a", f"s{i}b")
    graph.add_node("alone")
    pos = packed_layout(graph)
    assert set(pos) == set(graph.nodes)
    main = [n for n in graph.nodes if n.startswith(("m", "hub"))]
    small = [n for n in graph.nodes if n not in main]
    for n in main:
        x, y = pos[n]
        assert -ASPECT - 1e-9 <= x <= ASPECT + 1e-9 and -1 - 1e-9 <= y <= 1 + 1e-9, (n, pos[n])
    for n in small:
        x, y = pos[n]
        assert -ASPECT <= x <= ASPECT and y < -1, (n, pos[n])
    rows = {round(pos[n][1], 1) for n in small}
    assert len(rows) > 1  # 41 small components do not fit in one row
    assert len({pos[n] for n in graph.nodes}) == len(graph)  # no two nodes on the same spot


LAYOUT_SCRIPT = """
import json
from graph.investigate.subgraph import Node, Subgraph
from ringwatch.webapp.layout import layout
g = Subgraph(max_nodes=500)
for e in range(3):
    g.add_node(Node(f"ip:10.0.0.{e}", "ip", f"10.0.0.{e}", "IP address"))
for i in range(40):
    g.add_node(Node(f"account:a{i:03d}", "account", f"a{i:03d}", "member"))
    g.add_edge(f"account:a{i:03d}", f"ip:10.0.0.{i % 3}", "USED_IP")
print(json.dumps(sorted(layout(g).items())))
"""


def test_a_fresh_layout_is_the_same_in_every_process():
    """Node sets iterate in a per-process order (string hashing): the layout must not depend on it."""
    runs = [
        subprocess.run(
            [sys.executable, "-c", LAYOUT_SCRIPT],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    ]
    assert runs[0] == runs[1] and len(json.loads(runs[0])) == 43


def test_packed_layout_of_nothing_and_of_one_node():
    assert packed_layout(nx.Graph()) == {}
    one = nx.Graph()
    one.add_node("x")
    assert set(packed_layout(one)) == {"x"}


def test_node_and_edge_rows():
    g = ring_graph(members=50)
    g.nodes["account:a001"].expanded = True
    g.nodes["account:a002"].info = {"evidence": "shared card", "empty": "", "none": None}
    pos = layout(g)
    nodes = node_rows(g, pos, selected="account:a003").set_index("id")
    assert len(nodes) == len(g.nodes)
    assert set(nodes["role"]) <= set(STYLE)
    # more than 40 nodes: plain accounts unlabelled; entities, expanded and selected ones labelled
    assert nodes.loc["account:a004", "label"] == ""
    assert nodes.loc["account:a001", "label"] == "a001" and nodes.loc["account:a001", "expanded"] == "yes"
    assert nodes.loc["account:a003", "label"] == "a003"
    assert nodes.loc["ip:10.0.0.1", "label"] == "10.0.0.1" and nodes.loc["ip:10.0.0.1", "size"] == 260
    assert nodes.loc["account:a002", "details"] == "evidence: shared card"
    edges = edge_rows(g, pos)
    assert len(edges) == len(g.edges) == 50
    first = next(iter(g.edges))
    assert (edges.iloc[0]["x"], edges.iloc[0]["y"]) == pos[first[0]]
    assert list(edge_rows(Subgraph(), {}).columns) == ["x", "y", "x2", "y2", "rel", "requests"]


def test_unknown_roles_draw_as_accounts():
    g = Subgraph()
    g.add_node(Node("account:z", "account", "z", "something new"))
    assert node_rows(g, {"account:z": (0.0, 0.0)})["role"].tolist() == ["account"]


def test_tooltip_text_is_bounded():
    n = Node("account:a", "account", "a", "member", {"evidence": "x" * 500, "rings": []})
    text = tooltip_text(n)
    assert text.startswith("evidence: x") and len(text) == 300


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC), "2025-03-04 05:06"),
        ("2025-03-04T05:06:07.123Z", "2025-03-04 05:06"),
        (None, ""),
        (float("nan"), ""),
        (pd.NaT, ""),
    ],
)
def test_fmt_time(value, expected):
    assert fmt_time(value) == expected


def test_fmt_time_of_a_neo4j_datetime():
    import neo4j.time

    value = neo4j.time.DateTime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert fmt_time(value) == "2025-01-02 03:04"


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (dict(is_new=True, growth=None, new_members=0), "NEW"),
        (dict(is_new=False, growth=12, new_members=3), "▲ +12 +3 new members"),
        (dict(is_new=False, growth=-4, new_members=0), "▼ -4"),
        (dict(is_new=False, growth=0, new_members=2), "+2 new members"),
        (dict(is_new=False, growth=None, new_members=0), ""),
    ],
)
def test_change_text(row, expected):
    assert change_text(SimpleNamespace(**row)) == expected


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (dict(action="decide", previous_status="suspected", status="blocked"), "suspected → blocked"),
        (dict(action="decide", previous_status="mixed", status="dismissed"), "mixed → dismissed"),
        (dict(action="extend", previous_status=None, status="blocked"), "awaiting review → blocked"),
        (dict(action="approve", status="blocked"), "blocked approved"),
        (dict(action="undo", status="suspected", undo_of="d1"), "blocked → suspected"),  # the undone one's status
        (dict(action="undo", status="suspected", undo_of="elsewhere"), "? → suspected"),
    ],
)
def test_event_change(event, expected):
    assert event_change(event, {"d1": "blocked"}) == expected
