"""The graph canvas: a Subgraph drawn with st-link-analysis (Cytoscape.js).

Zoom (wheel or the +/- buttons), pan, drag nodes, fit and fullscreen; a click shows the node's
details in the side panel; a double click (or the panel's expand button) asks for its
neighbours, which the app fetches (graph.investigate.subgraph.expand). Nodes are placed by the
app's own layout (layout.layout, which keeps drawn nodes where they were across expansions)
and sent with a `preset` layout; each expansion draws a new component instance, because the
component's own expansion layout would move every node (see `draw`).

  available        whether the component could be imported (else the app draws the Altair chart)
  elements         Subgraph + positions -> Cytoscape elements (pure; unit-tested)
  styles           node styles (colour, icon, a caption legible once fitted) and edge styles
  draw             the canvas; returns the node id the user asked to expand (once per request)
"""

from __future__ import annotations

import warnings
from typing import Any

import streamlit as st

from graph.investigate.present import short_label
from graph.investigate.subgraph import Subgraph
from graph.vocabulary import KIND_NAMES
from ringwatch.webapp.layout import STYLE, tooltip_text

try:  # the Altair chart stays as the fallback when the component is not installed
    from st_link_analysis import EdgeStyle, NodeStyle, st_link_analysis
except ImportError:  # pragma: no cover - exercised only without the package
    st_link_analysis = None

SCALE = 160.0  # layout units (about 0..1.6 wide, 0..1 high) to canvas pixels: nodes about 30 px once fitted
HEIGHT = 620
ICONS = {
    "member": "person",
    "new member": "person",
    "in another ring": "person",
    "in a ring": "person",
    "bystander": "person",
    "account": "person",
    "payment method": "credit_card",
    "IP address": "router",
    "proxy service": "dns",
    "prompt template": "description",
    "ASN": "cloud",
    "ring": "group",
}
RELATIONSHIPS = ("PAID_WITH", "USED_IP", "USED_TEMPLATE", "EXIT_OF", "IN_ASN", "MEMBER_OF")
PRESET = {"name": "preset", "fit": True, "padding": 30, "animate": False}
# The node's caption (data "name"). Cytoscape hides a label when its font-size x the zoom, rounded up to a
# power of 2, is under min-zoomed-font-size; st-link-analysis sets font-size 3.6 and min 10, and a fitted
# ring is drawn at zoom 1.2 to 1.4 (so x 2): no caption was ever shown. Here captions are 9 (about 11 px on
# screen once fitted) and hide at zoom 1 or less (9 px or less), where they would not read. In a dense graph
# (more than FEW_NODES nodes) the accounts' captions are 5: hidden once fitted (they would cover each other
# and the entities'), shown from zoom 2 (10 px) when the analyst zooms in; entities keep theirs.
FEW_NODES = 40  # as the Altair chart (layout.node_rows): up to this many nodes, every account is captioned
CAPTION_SIZE, DENSE_ACCOUNT_CAPTION_SIZE = 9, 5
CAPTION = {
    "min-zoomed-font-size": 12,
    "text-margin-y": 2,
    "text-max-width": 90,
    "text-wrap": "ellipsis",
    "text-background-color": "#ffffff",
    "text-background-opacity": 0.8,
    "text-background-padding": 1,
    "text-background-shape": "round-rectangle",
}


def available() -> bool:
    return st_link_analysis is not None


def _text(value: Any) -> Any:
    return value if value is None or isinstance(value, bool | int | float | str) else str(value)


def elements(g: Subgraph, pos: dict[str, tuple[float, float]]) -> dict[str, list[dict[str, Any]]]:
    """Cytoscape elements: nodes (data: id, label = legend role, name = short caption, kind, key, details,
    expanded; position from `pos`, y up) and edges (data: id, source, target, label = relationship)."""
    nodes = []
    for n in g.nodes.values():
        x, y = pos.get(n.id, (0.0, 0.0))
        info = {k: _text(v) for k, v in n.info.items() if v not in (None, "", [])}
        nodes.append(
            {
                "data": {
                    **info,
                    "id": n.id,
                    "label": n.role if n.role in STYLE else "account",
                    "name": short_label(n.kind, n.key),
                    "kind": KIND_NAMES.get(n.kind, n.kind),
                    "key": n.key,
                    "details": tooltip_text(n),
                    "expanded": "yes" if n.expanded else "no",
                },
                "position": {"x": round(x * SCALE, 1), "y": round(-y * SCALE, 1)},
            }
        )
    edges = [{"data": {"id": f"{a}|{b}|{rel}", "source": a, "target": b, "label": rel}} for (a, b, rel) in g.edges]
    return {"nodes": nodes, "edges": edges}


if st_link_analysis is not None:

    class CaptionedNodeStyle(NodeStyle):
        """A NodeStyle whose caption is drawn at `caption_size` (canvas units), on a light background (CAPTION)."""

        def __init__(self, *args: Any, caption_size: float = CAPTION_SIZE, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.caption_size = caption_size

        def dump(self) -> dict[str, Any]:
            out = super().dump()
            out["style"].update(CAPTION, **{"font-size": self.caption_size})
            return out


def styles(nodes: int = 0) -> tuple[list, list]:
    """Node styles (colour, icon, caption) per legend role for a graph of `nodes` nodes, and edge styles."""
    dense = nodes > FEW_NODES
    node_styles = [
        CaptionedNodeStyle(
            role,
            colour,
            "name",
            ICONS.get(role),
            caption_size=DENSE_ACCOUNT_CAPTION_SIZE if dense and ICONS.get(role) == "person" else CAPTION_SIZE,
        )
        for role, (colour, _) in STYLE.items()
    ]
    with warnings.catch_warnings():  # st-link-analysis 0.4 warns about `labeled` even when it is not given
        warnings.simplefilter("ignore", DeprecationWarning)
        edge_styles = [EdgeStyle(rel, "#9aa5b1", curve_style="haystack") for rel in RELATIONSHIPS]
    return node_styles, edge_styles


def draw(g: Subgraph, ctx: str, pos: dict[str, tuple[float, float]]) -> str | None:
    """The canvas; the id of a node the user double-clicked (or expanded from the side panel), reported once."""
    node_styles, edge_styles = styles(len(g.nodes))
    event = st_link_analysis(
        elements(g, pos),
        layout=PRESET,
        node_styles=node_styles,
        edge_styles=edge_styles,
        height=HEIGHT,
        # a new key after every expansion: st-link-analysis lays the whole graph out again (fcose, only the
        # expanded node fixed) when changed elements follow an expand action in the same instance, which
        # moves every node the analyst has seen; a fresh instance draws our preset positions exactly (the
        # zoom is fitted again)
        key=f"canvas:{ctx}:{len(g.nodes)}:{len(g.expansions)}",
        node_actions=["expand"],
    )
    if not isinstance(event, dict) or event.get("action") != "expand":
        return None
    stamp = event.get("timestamp")
    if st.session_state.get(f"canvas_seen:{ctx}") == stamp:
        return None
    st.session_state[f"canvas_seen:{ctx}"] = stamp
    ids = (event.get("data") or {}).get("node_ids") or []
    return ids[0] if ids else None
