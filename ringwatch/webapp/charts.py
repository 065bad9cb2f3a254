"""The app's Altair charts, built from data frames (no Streamlit, no database).

graph_chart                       the drawn subgraph: edges, nodes by legend role, labels
activity_chart / requests_chart   a ring's sign-ups, active accounts and requests per day
feature_strip / score_histogram   one ring's features and score against every ring
capability_bars                   the capability mix of a ring's template traffic
"""

from __future__ import annotations

import random
from typing import Any

import altair as alt
import pandas as pd

from graph.vocabulary import FEATURES
from ringwatch.webapp.layout import FEATURE_LABELS, STYLE

AXIS = alt.Axis(title=None, labels=False, ticks=False, domain=False, grid=False)


def graph_chart(nodes: pd.DataFrame, edges: pd.DataFrame, height: int = 600) -> alt.LayerChart:
    """Nodes (layout.node_rows) and edges (layout.edge_rows) as one chart; a click selects a node ('node')."""
    roles = [r for r in STYLE if r in set(nodes["role"])]
    colour = alt.Color(
        "role:N",
        title="node",
        scale=alt.Scale(domain=roles, range=[STYLE[r][0] for r in roles]),
        legend=alt.Legend(
            orient="bottom", direction="horizontal", columns=6, symbolSize=160, labelFontSize=13, title=None
        ),
    )
    shape = alt.Shape("role:N", title="node", scale=alt.Scale(domain=roles, range=[STYLE[r][1] for r in roles]))
    pad = 0.08
    xs = alt.Scale(domain=[nodes["x"].min() - pad, nodes["x"].max() + pad], nice=False, zero=False)
    ys = alt.Scale(domain=[nodes["y"].min() - pad, nodes["y"].max() + pad], nice=False, zero=False)
    x, y = alt.X("x:Q", scale=xs, axis=AXIS), alt.Y("y:Q", scale=ys, axis=AXIS)
    pick = alt.selection_point(name="node", fields=["id"], on="click", empty=False)
    edge_layer = (
        alt.Chart(edges)
        .mark_rule(opacity=0.35, strokeWidth=1)
        .encode(x=x, y=y, x2="x2:Q", y2="y2:Q", color=alt.value("#9aa5b1"))
    )
    node_layer = (
        alt.Chart(nodes)
        .mark_point(filled=True, opacity=0.95, stroke="white", strokeWidth=0.8)
        .encode(
            x=x,
            y=y,
            color=colour,
            shape=shape,
            size=alt.Size("size:Q", legend=None, scale=None),
            tooltip=[
                alt.Tooltip("kind:N"),
                alt.Tooltip("key:N"),
                alt.Tooltip("role:N", title="role"),
                alt.Tooltip("details:N"),
                alt.Tooltip("expanded:N"),
            ],
        )
        .add_params(pick)
    )
    ring_layer = (
        alt.Chart(nodes[nodes["expanded"] == "yes"])
        .mark_point(filled=False, size=520, strokeWidth=2, color="#111")
        .encode(x=x, y=y)
    )
    labelled = nodes[nodes["label"] != ""]
    text_layer = (
        alt.Chart(labelled)
        .mark_text(
            dy=-13, fontSize=12, fontWeight="bold", color="#222", stroke="white", strokeWidth=3, strokeOpacity=0.9
        )
        .encode(x=x, y=y, text="label:N")
    )
    text_fill = (
        alt.Chart(labelled)
        .mark_text(dy=-13, fontSize=12, fontWeight="bold", color="#222")
        .encode(x=x, y=y, text="label:N")
    )
    return (
        alt.layer(edge_layer, ring_layer, node_layer, text_layer, text_fill)
        .properties(height=height)
        .configure_view(strokeWidth=0)
    )


def activity_chart(series: pd.DataFrame) -> alt.LayerChart:
    """Sign-ups per day (bars) and accounts active per day (line), each on its own axis."""
    base = alt.Chart(series).encode(x=alt.X("day:T", title=None))
    signups = base.mark_bar(color="#d62728", opacity=0.8).encode(
        y=alt.Y("signups:Q", title="sign-ups per day"), tooltip=["day:T", "signups:Q"]
    )
    active = base.mark_line(color="#1f77b4", strokeWidth=2).encode(
        y=alt.Y("active_accounts:Q", title="accounts active"), tooltip=["day:T", "active_accounts:Q"]
    )
    return alt.layer(signups, active).resolve_scale(y="independent").properties(height=260)


def requests_chart(series: pd.DataFrame) -> alt.Chart:
    """Requests per day (an area)."""
    return (
        alt.Chart(series)
        .encode(x=alt.X("day:T", title=None))
        .mark_area(color="#8c564b", opacity=0.6)
        .encode(y=alt.Y("requests:Q", title="requests"), tooltip=["day:T", "requests:Q"])
        .properties(height=200)
    )


def feature_strip(pop: pd.DataFrame, r: dict[str, Any]) -> alt.LayerChart:
    """Every ring's value of each feature (grey ticks) and this ring's (red diamonds, percentile in the tooltip)."""
    names = ["score", *FEATURES]
    labels = {f: FEATURE_LABELS.get(f, f.replace("_", " ")) for f in names}  # a feature new to detection too
    long = pop.melt(id_vars=["id"], value_vars=names, var_name="feature", value_name="value").dropna()
    long["feature"] = long["feature"].map(labels)
    mine = pd.DataFrame({"feature": [labels[f] for f in names], "value": [float(r.get(f) or 0.0) for f in names]})
    mine["percentile"] = [
        f"higher than {100 * (pop[f].dropna() < float(r.get(f) or 0)).mean():.0f}% of rings" for f in names
    ]
    order = [labels[f] for f in names]
    rng = random.Random(3)
    long["jitter"] = [rng.uniform(-0.3, 0.3) for _ in range(len(long))]
    y = alt.Y("feature:N", sort=order, title=None, axis=alt.Axis(labelFontSize=13, labelLimit=260))
    others = (
        alt.Chart(long)
        .mark_tick(color="#9aa5b1", opacity=0.6, thickness=1.5, size=22)
        .encode(
            x=alt.X("value:Q", scale=alt.Scale(domain=[0, 1]), title="value (0–1): grey = every ring, red = this ring"),
            y=y,
            tooltip=["id:N", "feature:N", alt.Tooltip("value:Q", format=".2f")],
        )
    )
    this = (
        alt.Chart(mine)
        .mark_point(shape="diamond", filled=True, color="#d62728", size=260)
        .encode(x="value:Q", y=y, tooltip=["feature:N", alt.Tooltip("value:Q", format=".2f"), "percentile:N"])
    )
    return alt.layer(others, this).properties(height=330)


def score_histogram(pop: pd.DataFrame, score: float) -> alt.LayerChart:
    """Every ring's score (bars) with this ring's as a red rule."""
    hist = (
        alt.Chart(pop)
        .mark_bar(color="#9aa5b1")
        .encode(
            x=alt.X("score:Q", bin=alt.Bin(maxbins=25, extent=[0, 1]), title="score"),
            y=alt.Y("count():Q", title="rings"),
        )
    )
    rule = alt.Chart(pd.DataFrame({"score": [score]})).mark_rule(color="#d62728", strokeWidth=3).encode(x="score:Q")
    return alt.layer(hist, rule).properties(height=220)


def capability_bars(caps: pd.DataFrame) -> alt.Chart:
    """Share of the ring's template traffic per capability."""
    return (
        alt.Chart(caps)
        .mark_bar(color="#8c564b")
        .encode(
            x=alt.X("share:Q", axis=alt.Axis(format="%")),
            y=alt.Y("capability:N", sort="-x", title=None),
            tooltip=["capability:N", alt.Tooltip("share:Q", format=".1%")],
        )
        .properties(height=max(160, 24 * len(caps)))
    )


def score_terms_chart(terms: pd.DataFrame, unit: str) -> alt.Chart:
    """One bar per feature: what it adds to the ring's score (graph.detection.scoring.score_terms)."""
    return (
        alt.Chart(terms)
        .mark_bar()
        .encode(
            x=alt.X("contribution:Q", title=unit),
            y=alt.Y("feature:N", sort=None, title=None),
            color=alt.condition("datum.contribution >= 0", alt.value("#c0392b"), alt.value("#2e86c1")),
            tooltip=[
                "feature",
                alt.Tooltip("value:Q", format=".3f"),
                alt.Tooltip("weight:Q", format="+.3f"),
                alt.Tooltip("contribution:Q", format="+.3f"),
            ],
        )
        .properties(height=max(140, 26 * len(terms)))
    )


def result_graph_chart(g: Any, height: int = 420) -> alt.LayerChart:
    """The nodes and relationships of a query result (graph.investigate.library.ResultGraph), spring layout;
    colour by first label, caption by key property, relationship types in the tooltip."""
    import networkx as nx

    from graph.investigate.library import node_caption

    graph = nx.Graph()
    graph.add_nodes_from(g.nodes)
    graph.add_edges_from((e["_start"], e["_end"]) for e in g.edges.values())
    pos = nx.spring_layout(graph, seed=7) if len(graph) > 1 else {n: (0.0, 0.0) for n in graph}
    nodes = pd.DataFrame(
        [
            {
                "x": float(pos[i][0]),
                "y": float(pos[i][1]),
                "label": (n.get("_labels") or ["?"])[0],
                "caption": node_caption(n),
                "properties": ", ".join(f"{k}={v}" for k, v in n.items() if not k.startswith("_"))[:300],
            }
            for i, n in g.nodes.items()
        ]
    )
    edges = pd.DataFrame(
        [
            {
                "x": float(pos[e["_start"]][0]),
                "y": float(pos[e["_start"]][1]),
                "x2": float(pos[e["_end"]][0]),
                "y2": float(pos[e["_end"]][1]),
                "type": e["_type"],
            }
            for e in g.edges.values()
        ],
        columns=["x", "y", "x2", "y2", "type"],
    )
    x, y = alt.X("x:Q", axis=AXIS), alt.Y("y:Q", axis=AXIS)
    edge_layer = alt.Chart(edges).mark_rule(opacity=0.4, color="#9aa5b1").encode(x=x, y=y, x2="x2:Q", y2="y2:Q")
    node_layer = (
        alt.Chart(nodes)
        .mark_circle(size=180, opacity=0.9)
        .encode(x=x, y=y, color=alt.Color("label:N", title=None), tooltip=["label:N", "caption:N", "properties:N"])
    )
    text = alt.Chart(nodes).mark_text(dy=-12, fontSize=11).encode(x=x, y=y, text="caption:N")
    return alt.layer(edge_layer, node_layer, text).properties(height=height).configure_view(strokeWidth=0)
