"""The drawn subgraph: `Subgraph` (nodes and edges within a node budget, notes on what was left out),
the ring as first drawn (`ring_graph`), a node's neighbours added on demand (`expand`), and a searched
entity's neighbourhood (`entity_graph`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import neo4j
import pandas as pd

from graph.investigate.present import short_label
from graph.investigate.reads import key_param, q
from graph.investigate.statements import ACCOUNT_RINGS, BOUND_ENTITIES, DEGREE, EXPAND, RING_GRAPH
from graph.vocabulary import KIND_NAMES, KINDS

MAX_NODES = 150  # drawn nodes at most
DEFAULT_MEMBERS_DRAWN = 60
EXPAND_LIMIT = 25  # neighbours added per expansion
BYSTANDERS_PER_ENTITY = 2
MAX_BYSTANDERS = 20


def node_id(kind: str, key: Any) -> str:
    return f"{kind}:{key}"


def split_id(nid: str) -> tuple[str, str]:
    kind, _, key = nid.partition(":")
    return kind, key


@dataclass
class Node:
    id: str
    kind: str
    key: str
    role: str  # legend category: member, new member, other ring, bystander, or the entity kind
    info: dict[str, Any] = field(default_factory=dict)
    expanded: bool = False
    pinned: bool = False  # always labelled (bound entities, the searched entity, expanded nodes)


@dataclass
class Subgraph:
    """Nodes and edges to draw, bounded by `max_nodes`; `notes` say what was left out."""

    max_nodes: int = MAX_NODES
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    ring_id: str | None = None
    expansions: list[str] = field(default_factory=list)  # node ids expanded, in order (a saved view replays them)
    members_drawn: int | None = None  # how many members ring_graph drew first

    def full(self) -> bool:
        return len(self.nodes) >= self.max_nodes

    def add_node(self, node: Node) -> bool:
        """Add (or keep) a node; False when the budget is spent and it is not already drawn."""
        if node.id in self.nodes:
            old = self.nodes[node.id]
            old.info.update({k: v for k, v in node.info.items() if v is not None})
            old.pinned = old.pinned or node.pinned
            return True
        if self.full():
            return False
        self.nodes[node.id] = node
        return True

    def add_edge(self, a: str, b: str, rel: str, requests: Any = None) -> None:
        if a in self.nodes and b in self.nodes:
            key = (a, b, rel) if a < b else (b, a, rel)
            self.edges.setdefault(key, {"requests": requests})

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [
                {"id": n.id, "kind": n.kind, "key": n.key, "role": n.role, "expanded": n.expanded, **n.info}
                for n in self.nodes.values()
            ]
        )


def account_role(in_ring: bool, is_new: bool = False, other_rings: list | None = None, ring_view: bool = True) -> str:
    """Legend category of an account: member of the ring on view, in another ring, or a bystander."""
    if in_ring:
        return "new member" if is_new else "member"
    if other_rings:
        return "in another ring" if ring_view else "in a ring"
    return "bystander" if ring_view else "account"


def ring_graph(
    driver: neo4j.Driver,
    r: dict[str, Any],
    members_drawn: int = DEFAULT_MEMBERS_DRAWN,
    max_nodes: int = MAX_NODES,
) -> Subgraph:
    """The ring as drawn first: its strongest members, the entities binding them (the Ring's
    `bound` list), the proxy services of bound addresses, and a few outside accounts that
    share the bound entities (bystanders)."""
    g = Subgraph(max_nodes=max_nodes, ring_id=r["id"], members_drawn=int(members_drawn))
    bound = r.get("bound_list") or []
    by_kind = {k: [b["key"] for b in bound if b.get("kind") == k] for k in ("payment", "ip", "template")}
    entities = q(
        driver,
        BOUND_ENTITIES,
        ring=r["id"],
        bystanders=BYSTANDERS_PER_ENTITY,
        entities=[{"kind": b["kind"], "key": b["key"]} for b in bound],
    )
    for e in entities:
        info = {k: e[k] for k in ("method_type", "bin", "ip_type", "as_org", "capability") if e.get(k)}
        member_count = next((b.get("members") for b in bound if b["key"] == e["key"]), None)
        info.update(users=e["users"], ring_members=member_count)
        g.add_node(Node(node_id(e["kind"], e["key"]), e["kind"], e["key"], KIND_NAMES[e["kind"]], info, pinned=True))
        for p in e["proxy"]:
            g.add_node(Node(node_id("proxy", p), "proxy", p, KIND_NAMES["proxy"], {}, pinned=True))
            g.add_edge(node_id(e["kind"], e["key"]), node_id("proxy", p), "EXIT_OF")
    members = max(0, min(int(members_drawn), max_nodes - len(g.nodes)))
    rows = q(
        driver,
        RING_GRAPH,
        ring=r["id"],
        max_members=members,
        max_rows=members * 40 + 100,
        payments=by_kind["payment"],
        ips=by_kind["ip"],
        templates=by_kind["template"],
    )
    rels = {"payment": "PAID_WITH", "ip": "USED_IP", "template": "USED_TEMPLATE"}
    for row in rows:
        aid = node_id("account", row["account"])
        g.add_node(
            Node(
                aid,
                "account",
                row["account"],
                account_role(True, row["is_new"]),
                {"evidence": row["evidence"], "created_at": row["created_at"], "member_status": row["status"]},
            )
        )
        if row["kind"]:
            g.add_edge(aid, node_id(row["kind"], row["key"]), rels[row["kind"]], row["requests"])
    drawn_members = sum(1 for n in g.nodes.values() if n.kind == "account")
    size = int(r.get("size") or drawn_members)
    if size > drawn_members:
        g.notes.append(f"{drawn_members} of {size} members drawn (strongest evidence first)")
    # bystanders: outside accounts on the bound entities, a few per entity
    bystanders = 0
    outside = []
    for e in entities:
        for b in e["bystanders"]:
            if bystanders >= MAX_BYSTANDERS or g.full():
                break
            nid = node_id("account", b)
            if nid not in g.nodes:
                outside.append(b)
                bystanders += 1
                g.add_node(Node(nid, "account", b, "bystander", {}))
            g.add_edge(nid, node_id(e["kind"], e["key"]), rels[e["kind"]])
    _mark_other_rings(driver, g, outside, r["id"])
    shared = sum(
        max(0, int(e["users"]) - int(next((b.get("members") or 0 for b in bound if b["key"] == e["key"]), 0)))
        for e in entities
    )
    if shared:
        g.notes.append(
            f"bound entities are also used by outside accounts ({shared} links); {bystanders} bystanders drawn"
        )
    if len(bound) >= 30:
        g.notes.append("only the top 10 binding entities per kind are kept on the ring")
    return g


def _mark_other_rings(driver: neo4j.Driver, g: Subgraph, accounts: list[str], ring_id: str) -> None:
    if not accounts:
        return
    for row in q(driver, ACCOUNT_RINGS, accounts=accounts, ring=ring_id):
        n = g.nodes.get(node_id("account", row["account"]))
        if n is not None:
            n.role = "in another ring"
            n.info["rings"] = ", ".join(row["rings"])


def expand(
    driver: neo4j.Driver,
    g: Subgraph,
    nid: str,
    limit: int = EXPAND_LIMIT,
) -> dict[str, int]:
    """Add up to `limit` neighbours of node `nid` (fetched from the database), within the node budget.

    Returns {"added", "shown", "degree", "left_out"} and records a note when neighbours were left out.
    """
    kind, key = split_id(nid)
    if kind not in KINDS:
        raise ValueError(f"unknown node kind {kind!r}")
    ring_id = g.ring_id or ""
    params = {"key": key_param(kind, key), "ring": ring_id}
    room = max(0, g.max_nodes - len(g.nodes))
    rows = q(driver, EXPAND[kind], limit=int(limit), **params)
    degree = q(driver, DEGREE[kind], **params)
    degree = int(degree[0]["degree"]) if degree else 0
    if nid not in g.nodes:
        g.add_node(Node(nid, kind, key, KIND_NAMES.get(kind, kind), {}, pinned=True))
    node = g.nodes.get(nid)
    if nid not in g.expansions:
        g.expansions.append(nid)
    if node is not None:
        node.expanded = True
        node.pinned = True
    added = shown = 0
    for row in rows:
        mid = node_id(row["kind"], row["key"])
        if row["kind"] == "account":
            role = account_role(bool(row["in_ring"]), False, row["rings"], ring_view=g.ring_id is not None)
            info = {"created_at": row["created_at"], "rings": ", ".join(row["rings"] or [])}
        else:
            role = KIND_NAMES.get(row["kind"], row["kind"])
            info = {
                k: row[k]
                for k in ("ip_type", "method_type", "capability", "as_org", "org", "status", "score")
                if row.get(k) is not None
            }
        existed = mid in g.nodes
        if g.add_node(Node(mid, row["kind"], row["key"], role, info)):
            shown += 1
            added += 0 if existed else 1
            g.add_edge(nid, mid, row["rel"], row["requests"])
    left_out = max(0, degree - shown)
    if left_out:
        why = "node budget" if shown < len(rows) or room == 0 else f"{limit} per expansion"
        g.notes.append(f"{short_label(kind, key)}: {shown} of {degree} neighbours drawn ({left_out} left out, {why})")
    return {"added": added, "shown": shown, "degree": degree, "left_out": left_out}


def entity_graph(driver: neo4j.Driver, kind: str, key: str, limit: int = EXPAND_LIMIT * 2) -> Subgraph:
    g = Subgraph()
    g.add_node(Node(node_id(kind, key), kind, key, KIND_NAMES.get(kind, kind), {}, pinned=True))
    expand(driver, g, node_id(kind, key), limit=limit)
    return g
