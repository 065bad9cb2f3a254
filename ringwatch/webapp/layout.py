"""Pure helpers of the app's look: colours, the graph layout maths, and text formatting.

No Streamlit and no database here, so all of it is unit-tested directly
(tests/unit/test_webapp_layout.py):

  STATUS_COLOUR / STYLE / FEATURE_LABELS / CSS   the palette, legend and page CSS
  layout / place_new / packed_layout             node positions, stable across expansions
  node_rows / edge_rows                          a Subgraph as the chart's data frames
  fmt_time / change_text / tooltip_text          values as the pages print them
  event_change                                   a decision event's status change, in words
  md_escape                                      text from outside (an SSO claim) shown literally in markdown
"""

from __future__ import annotations

import math
from typing import Any

import networkx as nx
import pandas as pd

from graph.investigate.present import short_label, to_py
from graph.investigate.subgraph import Node, Subgraph
from graph.vocabulary import KIND_NAMES

STATUS_COLOUR = {
    "suspected": "#c2410c",
    "watch": "#6b7280",
    "confirmed": "#7c3aed",
    "blocked": "#b91c1c",
    "dismissed": "#15803d",
}

# legend category -> (colour, shape); one legend for both
STAR = "M0,-1L0.24,-0.33L0.95,-0.31L0.38,0.12L0.59,0.81L0,0.4L-0.59,0.81L-0.38,0.12L-0.95,-0.31L-0.24,-0.33Z"
STYLE = {
    "member": ("#d62728", "circle"),
    "new member": ("#ff7f0e", "circle"),
    "in another ring": ("#9467bd", "circle"),
    "in a ring": ("#d62728", "circle"),
    "bystander": ("#b0b0b0", "circle"),
    "payment method": ("#2ca02c", "square"),
    "IP address": ("#1f77b4", "triangle-up"),
    "proxy service": ("#17becf", "diamond"),
    "prompt template": ("#8c564b", "cross"),
    "ASN": ("#bcbd22", "triangle-down"),
    "ring": ("#111111", STAR),
    "account": ("#7f7f7f", "circle"),
}
FEATURE_LABELS = {
    "score": "score",
    "private_share": "traffic on ring-only templates",
    "eliciting_share": "capability-eliciting traffic",
    "uniformity": "uniform volumes",
    "masked_share": "masked exits (DC/VPN/proxy)",
    "anonymous_payment": "prepaid/virtual payment",
    "signup_burst": "sign-up burst",
    "no_own_prompts": "no prompts of their own",
    "partner_flagged": "partner-flagged",
}

CSS = """
<style>
.rw-reason {font-size: 1.15rem; line-height: 1.5; padding: 0.7rem 1rem; border-left: 6px solid #d62728;
            background: #fff5f5; border-radius: 4px; margin: 0.3rem 0 0.8rem 0; color: #222;}
.rw-reason.decided {border-left-color: #7f7f7f; background: #f6f6f6;}
.rw-title {font-size: 2.3rem; font-weight: 700; line-height: 1.2; margin: 0.2rem 0 0.6rem 0;}
.rw-pill {color: white; font-weight: 700; font-size: 1.05rem; padding: 0.25rem 0.9rem; border-radius: 999px;
          text-transform: uppercase; letter-spacing: 0.06em; vertical-align: middle; margin-left: 0.6rem;}
.rw-flag {font-weight: 700; font-size: 0.85rem; padding: 0.2rem 0.7rem; border-radius: 999px;
          vertical-align: middle; margin-left: 0.4rem; background: #fef3c7; color: #92400e;
          border: 1px solid #f59e0b;}
.rw-event {font-size: 0.9rem; border-left: 3px solid #9aa5b1; padding: 0.2rem 0.6rem; margin-bottom: 0.5rem;}
.rw-meta {color: #666; font-size: 0.8rem;}
div[data-testid="stMetricValue"] {font-size: 1.6rem;}
</style>
"""

ASPECT = 1.6  # the graph chart is wider than tall
MAX_PER_ARC = 14  # new nodes per arc around their anchor, then a further arc
CLEARANCE = 0.045  # of the drawing's span: how far a new node keeps from every drawn one


# --- graph layout --------------------------------------------------------------------------------------------------


def _nx_graph(g: Subgraph) -> nx.Graph:
    graph = nx.Graph()
    graph.add_nodes_from(g.nodes)
    graph.add_edges_from((a, b) for a, b, _ in g.edges)
    return graph


def layout(g: Subgraph, previous: dict[str, tuple[float, float]] | None = None) -> dict[str, tuple[float, float]]:
    """Positions of every node of `g`, kept stable across expansions.

    Nodes in `previous` (the positions drawn last time) stay exactly where they were; new
    ones settle near their drawn neighbours (`place_new`). Without previous positions the
    whole graph is laid out afresh (`packed_layout`).
    """
    previous = previous or {}
    if set(previous) == set(g.nodes):
        return previous
    graph = _nx_graph(g)
    known = {n: previous[n] for n in g.nodes if n in previous}
    if known:
        return {**known, **place_new(graph, known)}
    return packed_layout(graph)


def place_new(graph: nx.Graph, known: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    """New nodes (from an expansion) on arcs around the drawn node they hang off, facing away from the
    centre, so what was drawn stays where the analyst saw it. Returns positions of the new nodes only."""
    xs = [p[0] for p in known.values()]
    ys = [p[1] for p in known.values()]
    cx, cy = sum(xs) / len(xs), sum(ys) / len(ys)
    span = max(max(xs) - min(xs), max(ys) - min(ys), 1.0)
    by_anchor: dict[str, list[str]] = {}
    for n in graph.nodes:
        if n in known:
            continue
        anchors = [m for m in graph.neighbors(n) if m in known]
        by_anchor.setdefault(anchors[0] if anchors else "", []).append(n)
    out: dict[str, tuple[float, float]] = {}
    for anchor, nodes in by_anchor.items():
        ax, ay = known.get(anchor, (cx, cy + span / 2))
        facing = math.atan2(ay - cy, ax - cx) if (ax, ay) != (cx, cy) else math.pi / 2
        for i, n in enumerate(sorted(nodes)):
            angle, radius = _arc_slot(i, len(nodes), facing, span)
            x, y = ax + radius * math.cos(angle), ay + radius * math.sin(angle)
            out[n] = _clear_of([*known.values(), *out.values()], x, y, angle, span)
    return out


def _arc_slot(i: int, k: int, facing: float, span: float) -> tuple[float, float]:
    """Angle and radius of the i-th of k new nodes around one anchor."""
    arc = min(2 * math.pi, 0.5 + 0.28 * k)  # wider arcs for more nodes
    ring = 1 + i // MAX_PER_ARC
    per_arc = min(k, MAX_PER_ARC)
    angle = facing + (arc * ((i % MAX_PER_ARC) + 0.5) / per_arc - arc / 2 if k > 1 else 0.0)
    return angle, span * (0.09 + 0.07 * ring)


def _clear_of(taken: list[tuple[float, float]], x: float, y: float, angle: float, span: float) -> tuple[float, float]:
    """Step (x, y) outwards along `angle` until it is clear of every taken position (12 steps at most)."""
    for _ in range(12):
        if all((x - px) ** 2 + (y - py) ** 2 > (CLEARANCE * span) ** 2 for px, py in taken):
            break
        x, y = x + 0.04 * span * math.cos(angle), y + 0.04 * span * math.sin(angle)
    return x, y


def _component(graph: nx.Graph, nodes: set[str]) -> nx.Graph:
    """The subgraph on `nodes`, its nodes in the graph's order (a set's order changes from one process to
    the next with string hashing, and the force layout's result with it)."""
    sub = nx.Graph()
    sub.add_nodes_from(n for n in graph if n in nodes)
    sub.add_edges_from((a, b) for a, b in graph.edges if a in nodes)
    return sub


def packed_layout(graph: nx.Graph) -> dict[str, tuple[float, float]]:
    """Force layout per connected component; the largest fills the middle, small ones line up below it.

    The largest component lies within [-ASPECT, ASPECT] x [-1, 1]; the others in rows below y = -1.
    """
    if not len(graph):
        return {}
    comps = sorted(nx.connected_components(graph), key=len, reverse=True)
    pos: dict[str, tuple[float, float]] = {}
    main = _component(graph, comps[0])
    k = 2.2 / math.sqrt(max(len(main), 1))
    for n, p in nx.spring_layout(main, k=k, iterations=200, seed=7).items():
        pos[n] = (float(p[0]) * ASPECT, float(p[1]))
    x, y = -ASPECT, -1.25
    for comp in comps[1:]:
        sub = _component(graph, comp)
        width = 0.12 * max(1, math.sqrt(len(sub)))
        if x + width > ASPECT:
            x, y = -ASPECT, y - 0.25
        local = nx.spring_layout(sub, seed=7, scale=width / 2) if len(sub) > 1 else {next(iter(comp)): (0, 0)}
        for n, p in local.items():
            pos[n] = (float(x + width / 2 + p[0]), float(y + p[1]))
        x += width + 0.12
    return pos


# --- the chart's data ----------------------------------------------------------------------------------------------


def tooltip_text(n: Node) -> str:
    """A node's details for the tooltip: its non-empty info, at most 300 characters."""
    bits = [f"{k}: {v}" for k, v in n.info.items() if v not in (None, "", [])]
    return " · ".join(bits)[:300]


def node_rows(g: Subgraph, pos: dict[str, tuple[float, float]], selected: str | None = None) -> pd.DataFrame:
    """One row per node: position, legend role, tooltip, label (accounts labelled only when few, or marked)."""
    few = len(g.nodes) <= 40
    rows = []
    for n in g.nodes.values():
        labelled = n.kind != "account" or n.pinned or n.expanded or few or n.id == selected
        rows.append(
            {
                "id": n.id,
                "x": pos[n.id][0],
                "y": pos[n.id][1],
                "role": n.role if n.role in STYLE else "account",
                "kind": KIND_NAMES.get(n.kind, n.kind),
                "key": n.key,
                "details": tooltip_text(n),
                "label": short_label(n.kind, n.key) if labelled else "",
                "size": 260 if n.kind != "account" else (110 if n.role in ("member", "new member") else 80),
                "expanded": "yes" if n.expanded else "no",
            }
        )
    return pd.DataFrame(rows)


def edge_rows(g: Subgraph, pos: dict[str, tuple[float, float]]) -> pd.DataFrame:
    """One row per edge: both ends' positions, the relationship and its request count."""
    return pd.DataFrame(
        [
            {
                "x": pos[a][0],
                "y": pos[a][1],
                "x2": pos[b][0],
                "y2": pos[b][1],
                "rel": rel,
                "requests": meta.get("requests"),
            }
            for (a, b, rel), meta in g.edges.items()
        ],
        columns=["x", "y", "x2", "y2", "rel", "requests"],
    )


# --- text ----------------------------------------------------------------------------------------------------------


def fmt_time(value: Any) -> str:
    """A timestamp as 'YYYY-MM-DD HH:MM' (neo4j temporals, datetimes, ISO text); '' for none."""
    value = to_py(value)
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, str):
        return value[:16].replace("T", " ")
    return f"{value:%Y-%m-%d %H:%M}"


def change_text(r: Any) -> str:
    """A queue row's change since the last run: 'NEW', '▲ +12', '+3 new members' (or '')."""
    if r.is_new:
        return "NEW"
    bits = []
    if r.growth:
        bits.append(f"{'▲' if r.growth > 0 else '▼'} {r.growth:+d}")
    if r.new_members:
        bits.append(f"+{int(r.new_members)} new members")
    return " ".join(bits)


def event_change(e: dict[str, Any], status_of: dict[str, str] | None = None) -> str:
    """What a decision event changed: 'suspected → blocked', 'awaiting review → blocked' (an extension),
    'blocked approved', or for an undo 'blocked → suspected' (the undone event's status from `status_of`,
    event id -> status, when known)."""
    status = e.get("status")
    action = e.get("action")
    if action == "approve":
        return f"{status} approved"
    if action == "extend":
        return f"awaiting review → {status}"
    before = e.get("previous_status")
    if action == "undo" and not before:
        before = (status_of or {}).get(e.get("undo_of") or "")
    return f"{before or '?'} → {status}"


MARKDOWN_SPECIAL = "\\`*_{}[]<>()#!|~$:@"


def md_escape(text: str) -> str:
    """`text` with markdown's special characters backslash-escaped, so it shows as typed (no links, no emphasis).

    Streamlit's markdown turns e-mail addresses and URLs into links by themselves; escaping '@' and ':'
    stops that too.
    """
    return "".join("\\" + c if c in MARKDOWN_SPECIAL else c for c in str(text))
