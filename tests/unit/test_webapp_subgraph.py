"""Subgraph bookkeeping (graph/investigate/subgraph.py) without a database: the node budget, merging a
node seen twice, edges only between drawn nodes, ids, legend roles."""

from __future__ import annotations

from graph.investigate.subgraph import MAX_NODES, Node, Subgraph, account_role, node_id, split_id


def account(key: str, role: str = "member", **info) -> Node:
    return Node(node_id("account", key), "account", key, role, dict(info))


def test_nodes_are_added_until_the_budget_is_spent():
    g = Subgraph(max_nodes=3)
    assert [g.add_node(account(k)) for k in "abcd"] == [True, True, True, False]
    assert list(g.nodes) == ["account:a", "account:b", "account:c"]
    assert g.full()
    assert g.add_node(account("a"))  # already drawn: kept, whatever the budget
    assert len(g.nodes) == 3


def test_the_default_budget():
    g = Subgraph()
    for i in range(MAX_NODES + 10):
        g.add_node(account(f"x{i}"))
    assert len(g.nodes) == MAX_NODES == g.max_nodes


def test_a_node_seen_again_merges_its_info_and_stays_pinned():
    g = Subgraph()
    g.add_node(Node("ip:1.2.3.4", "ip", "1.2.3.4", "IP address", {"ip_type": "dc", "as_org": "X"}, pinned=True))
    g.add_node(Node("ip:1.2.3.4", "ip", "1.2.3.4", "bystander", {"ip_type": None, "users": 12}, pinned=False))
    node = g.nodes["ip:1.2.3.4"]
    assert node.info == {"ip_type": "dc", "as_org": "X", "users": 12}  # None does not erase what was known
    assert node.pinned
    assert node.role == "IP address"  # the first role stays
    g.add_node(Node("account:a", "account", "a", "member"))
    g.add_node(Node("account:a", "account", "a", "member", pinned=True))
    assert g.nodes["account:a"].pinned


def test_edges_join_drawn_nodes_once_in_either_direction():
    g = Subgraph()
    g.add_node(account("a"))
    g.add_node(Node("ip:1.2.3.4", "ip", "1.2.3.4", "IP address"))
    g.add_edge("account:a", "ip:1.2.3.4", "USED_IP", 7)
    g.add_edge("ip:1.2.3.4", "account:a", "USED_IP", 99)  # the same edge, the other way round
    g.add_edge("account:a", "ip:1.2.3.4", "OTHER")  # another relationship type: its own edge
    g.add_edge("account:a", "account:not-drawn", "USED_IP")  # an end not drawn: no edge
    assert g.edges == {
        ("account:a", "ip:1.2.3.4", "USED_IP"): {"requests": 7},
        ("account:a", "ip:1.2.3.4", "OTHER"): {"requests": None},
    }


def test_frame_lists_the_nodes_with_their_info():
    g = Subgraph()
    g.add_node(account("a", evidence="shared card"))
    g.add_node(account("b", role="bystander"))
    g.nodes["account:b"].expanded = True
    frame = g.frame()
    assert list(frame["id"]) == ["account:a", "account:b"]
    assert list(frame["expanded"]) == [False, True]
    assert frame.loc[0, "evidence"] == "shared card"


def test_node_ids_round_trip_keys_with_colons():
    assert node_id("ip", "2001:db8::1") == "ip:2001:db8::1"
    assert split_id("ip:2001:db8::1") == ("ip", "2001:db8::1")
    assert split_id(node_id("asn", 13335)) == ("asn", "13335")


def test_account_roles():
    assert account_role(True) == "member"
    assert account_role(True, is_new=True) == "new member"
    assert account_role(False, other_rings=["R-2"]) == "in another ring"
    assert account_role(False, other_rings=["R-2"], ring_view=False) == "in a ring"
    assert account_role(False) == "bystander"
    assert account_role(False, ring_view=False) == "account"
