"""ringwatch investigator: the ring queue, a ring's graph and evidence, search, decisions, export.

Run with `ringwatch app` (or `streamlit run app.py`). Every query lives in
graph/investigate.py (parameterised, bounded); decisions go through graph/decisions.py
(an append-only audit trail); downloads through graph/export.py (the same files as
`ringwatch export`).
"""

from __future__ import annotations

import hashlib
import html
import math
import random
from datetime import UTC, datetime

import altair as alt
import networkx as nx
import pandas as pd
import streamlit as st
from neo4j.exceptions import AuthError, Neo4jError, ServiceUnavailable, SessionExpired

from graph.db.connection import DatabaseUnavailable, Target, open_driver, resolve_target, unavailable_message
from graph.investigate import explore as inv
from graph.library.cells import to_csv, to_json
from graph.library.export import block_list
from graph.review.decisions import DecisionError, decide, history, undo
from graph.vocabulary import DECIDED_STATUSES, DEFAULT_QUEUE_STATUSES, FEATURES, RING_STATUSES

PAGES = ("Ring queue", "Ring", "Search", "Export")
STATUS_COLOUR = {"suspected": "#c2410c", "watch": "#6b7280", "confirmed": "#7c3aed", "blocked": "#b91c1c",
                 "dismissed": "#15803d"}
DB_ERRORS = (DatabaseUnavailable, ServiceUnavailable, SessionExpired, AuthError, OSError)

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
.rw-event {font-size: 0.9rem; border-left: 3px solid #9aa5b1; padding: 0.2rem 0.6rem; margin-bottom: 0.5rem;}
.rw-meta {color: #666; font-size: 0.8rem;}
div[data-testid="stMetricValue"] {font-size: 1.6rem;}
</style>
"""


# --- the database --------------------------------------------------------------------------------------------------


def _close(driver) -> None:
    driver.close()


@st.cache_resource(show_spinner=False, max_entries=4, on_release=_close)
def _driver(key: str, _target: Target):
    """One driver per app process and target. A failed connect raises and is not cached."""
    return open_driver(_target)


def driver_key(target: Target) -> str:
    secret = hashlib.sha256(target.password.encode()).hexdigest()[:16]
    return f"{target.uri}|{target.user}|{target.database}|{secret}"


def get_driver():
    target = resolve_target()
    return _driver(driver_key(target), target)


def db_banner(error: Exception) -> None:
    """A lost database: one clear line and a retry button, never a traceback."""
    try:
        target = resolve_target()
        message = str(error) if isinstance(error, DatabaseUnavailable) else unavailable_message(target, error)
    except DatabaseUnavailable as e:
        message = str(e)
    if "ringwatch db start" not in message:
        message += "; for the local database, start it with `ringwatch db start`"
    st.error(f"**Database unreachable**: {message}", icon=":material/error:")
    st.caption("The app reconnects by itself once the database answers again.")
    if st.button("Retry", key="retry_db", type="primary"):
        # a driver that keeps failing is dropped so the next attempt builds a fresh one
        _driver.clear()
        st.rerun()


# --- small helpers -------------------------------------------------------------------------------------------------


def state(key: str, default):
    if key not in st.session_state:
        st.session_state[key] = default
    return st.session_state[key]


def go(page: str, **values) -> None:
    """Switch page (and set state); applied at the start of the next run, before any widget is drawn."""
    st.session_state["_goto"] = (page, values)


def apply_goto() -> None:
    pending = st.session_state.pop("_goto", None)
    if pending:
        page, values = pending
        for k, v in values.items():
            st.session_state[k] = v
        st.session_state["nav"] = page


def open_ring(ring_id: str) -> None:
    go("Ring", ring_id=ring_id)


def open_selected_ring(widget_key: str) -> None:
    ring_id = st.session_state.get(widget_key)
    if ring_id:
        open_ring(ring_id)


def fmt_time(value) -> str:
    value = inv.to_py(value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, str):
        return value[:16].replace("T", " ")
    return f"{value:%Y-%m-%d %H:%M}"


def flash() -> None:
    msg = st.session_state.pop("flash", None)
    if msg:
        kind, text = msg
        (st.success if kind == "ok" else st.error)(text)


# --- the graph drawing ---------------------------------------------------------------------------------------------


def layout(g: inv.Subgraph, ctx: str) -> dict[str, tuple[float, float]]:
    """Positions, kept stable across expansions: drawn nodes stay, new ones settle near their neighbours."""
    cache = state(f"pos:{ctx}", {})
    if set(cache) == set(g.nodes):
        return cache
    graph = nx.Graph()
    graph.add_nodes_from(g.nodes)
    graph.add_edges_from((a, b) for a, b, _ in g.edges)
    known = {n: cache[n] for n in g.nodes if n in cache}
    if known:
        cache = {**known, **place_new(graph, known)}
    else:
        cache = packed_layout(graph)
    st.session_state[f"pos:{ctx}"] = cache
    return cache


ASPECT = 1.6


def place_new(graph: nx.Graph, known: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    """New nodes (from an expansion) on arcs around the drawn node they hang off, facing away from the
    centre, so what was drawn stays where the analyst saw it."""
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
        k = len(nodes)
        arc = min(2 * math.pi, 0.5 + 0.28 * k)  # wider arcs for more nodes
        for i, n in enumerate(sorted(nodes)):
            ring = 1 + i // 14  # at most 14 per arc, then a further arc
            angle = facing + (arc * ((i % 14) + 0.5) / min(k, 14) - arc / 2 if k > 1 else 0.0)
            radius = span * (0.09 + 0.07 * ring)
            x, y = ax + radius * math.cos(angle), ay + radius * math.sin(angle)
            taken = list(known.values()) + list(out.values())
            for _ in range(12):  # step outwards until clear of every drawn node
                if all((x - px) ** 2 + (y - py) ** 2 > (0.045 * span) ** 2 for px, py in taken):
                    break
                x, y = x + 0.04 * span * math.cos(angle), y + 0.04 * span * math.sin(angle)
            out[n] = (x, y)
    return out


def packed_layout(graph: nx.Graph) -> dict[str, tuple[float, float]]:
    """Force layout per connected component; the largest fills the middle, small ones line up below it."""
    comps = sorted(nx.connected_components(graph), key=len, reverse=True)
    pos: dict[str, tuple[float, float]] = {}
    main = graph.subgraph(comps[0])
    k = 2.2 / math.sqrt(max(len(main), 1))
    for n, p in nx.spring_layout(main, k=k, iterations=200, seed=7).items():
        pos[n] = (float(p[0]) * ASPECT, float(p[1]))  # the chart is wider than tall
    rest = comps[1:]
    if rest:
        x, y = -ASPECT, -1.25
        for comp in rest:
            sub = graph.subgraph(comp)
            width = 0.12 * max(1, math.sqrt(len(sub)))
            if x + width > ASPECT:
                x, y = -ASPECT, y - 0.25
            local = nx.spring_layout(sub, seed=7, scale=width / 2) if len(sub) > 1 else {next(iter(comp)): (0, 0)}
            for n, p in local.items():
                pos[n] = (float(x + width / 2 + p[0]), float(y + p[1]))
            x += width + 0.12
    return pos


def tooltip_text(n: inv.Node) -> str:
    bits = [f"{k}: {v}" for k, v in n.info.items() if v not in (None, "", [])]
    return " · ".join(bits)[:300]


def draw_graph(g: inv.Subgraph, ctx: str, selected: str | None = None):
    """The subgraph as an Altair chart; returns the node id clicked (if the chart reported one)."""
    if not g.nodes:
        st.info("Nothing to draw.")
        return None
    pos = layout(g, ctx)
    few = len(g.nodes) <= 40
    nodes = pd.DataFrame([
        {
            "id": n.id, "x": pos[n.id][0], "y": pos[n.id][1], "role": n.role if n.role in STYLE else "account",
            "kind": inv.KIND_NAMES.get(n.kind, n.kind), "key": n.key, "details": tooltip_text(n),
            "label": inv.short_label(n.kind, n.key)
            if (n.kind != "account" or n.pinned or n.expanded or few or n.id == selected) else "",
            "size": 260 if n.kind != "account" else (110 if n.role in ("member", "new member") else 80),
            "expanded": "yes" if n.expanded else "no",
        }
        for n in g.nodes.values()
    ])
    edges = pd.DataFrame([
        {"x": pos[a][0], "y": pos[a][1], "x2": pos[b][0], "y2": pos[b][1], "rel": rel,
         "requests": meta.get("requests")}
        for (a, b, rel), meta in g.edges.items()
    ], columns=["x", "y", "x2", "y2", "rel", "requests"])
    roles = [r for r in STYLE if r in set(nodes["role"])]
    colour = alt.Color("role:N", title="node", scale=alt.Scale(domain=roles, range=[STYLE[r][0] for r in roles]),
                       legend=alt.Legend(orient="bottom", direction="horizontal", columns=6, symbolSize=160,
                                         labelFontSize=13, title=None))
    shape = alt.Shape("role:N", title="node", scale=alt.Scale(domain=roles, range=[STYLE[r][1] for r in roles]))
    axis = alt.Axis(title=None, labels=False, ticks=False, domain=False, grid=False)
    pad = 0.08
    xs = alt.Scale(domain=[nodes["x"].min() - pad, nodes["x"].max() + pad], nice=False, zero=False)
    ys = alt.Scale(domain=[nodes["y"].min() - pad, nodes["y"].max() + pad], nice=False, zero=False)
    pick = alt.selection_point(name="node", fields=["id"], on="click", empty=False)
    edge_layer = alt.Chart(edges).mark_rule(opacity=0.35, strokeWidth=1).encode(
        x=alt.X("x:Q", scale=xs, axis=axis), y=alt.Y("y:Q", scale=ys, axis=axis), x2="x2:Q", y2="y2:Q",
        color=alt.value("#9aa5b1"),
    )
    node_layer = alt.Chart(nodes).mark_point(filled=True, opacity=0.95, stroke="white", strokeWidth=0.8).encode(
        x=alt.X("x:Q", scale=xs, axis=axis), y=alt.Y("y:Q", scale=ys, axis=axis),
        color=colour, shape=shape, size=alt.Size("size:Q", legend=None, scale=None),
        tooltip=[alt.Tooltip("kind:N"), alt.Tooltip("key:N"), alt.Tooltip("role:N", title="role"),
                 alt.Tooltip("details:N"), alt.Tooltip("expanded:N")],
    ).add_params(pick)
    ring_layer = alt.Chart(nodes[nodes["expanded"] == "yes"]).mark_point(
        filled=False, size=520, strokeWidth=2, color="#111"
    ).encode(x=alt.X("x:Q", scale=xs, axis=axis), y=alt.Y("y:Q", scale=ys, axis=axis))
    text_layer = alt.Chart(nodes[nodes["label"] != ""]).mark_text(
        dy=-13, fontSize=12, fontWeight="bold", color="#222", stroke="white", strokeWidth=3, strokeOpacity=0.9
    ).encode(x=alt.X("x:Q", scale=xs, axis=axis), y=alt.Y("y:Q", scale=ys, axis=axis), text="label:N")
    text_fill = alt.Chart(nodes[nodes["label"] != ""]).mark_text(dy=-13, fontSize=12, fontWeight="bold",
                                                                 color="#222").encode(
        x=alt.X("x:Q", scale=xs, axis=axis), y=alt.Y("y:Q", scale=ys, axis=axis), text="label:N")
    chart = (
        alt.layer(edge_layer, ring_layer, node_layer, text_layer, text_fill)
        .properties(height=600)
        .configure_view(strokeWidth=0)
    )
    event = st.altair_chart(chart, width="stretch", on_select="rerun", selection_mode="node", key=f"chart:{ctx}")
    try:
        points = event.selection.get("node") or []
        return points[0].get("id") if points else None
    except (AttributeError, KeyError, IndexError, TypeError):
        return None


def graph_panel(driver, g: inv.Subgraph, ctx: str) -> None:
    """The drawn graph with its expansion controls (selectbox and click)."""
    order = sorted(g.nodes.values(), key=lambda n: (n.kind == "account", n.kind, n.key))
    options = [n.id for n in order]
    labels = {n.id: f"{inv.KIND_NAMES.get(n.kind, n.kind)} · {n.key}" + (" (expanded)" if n.expanded else "")
              for n in order}
    c1, c2, c3 = st.columns([4.2, 1.2, 1.2])
    with c1:
        # a node clicked in the chart becomes the chosen one; the choice survives expansions changing the options
        key = f"expand_node:{ctx}"
        wanted = st.session_state.pop(f"clicked_pending:{ctx}", None) or st.session_state.get(key)
        if wanted in options:
            st.session_state[key] = wanted
        elif key in st.session_state:
            del st.session_state[key]
        chosen = st.selectbox("Node to expand (or click a node in the chart)", options, key=key,
                              format_func=lambda nid: labels.get(nid, nid))
    with c2:
        st.write("")
        expand_now = st.button("Expand", key=f"expand_btn:{ctx}", type="primary", width="stretch",
                               help="Fetch this node's neighbours from the database (bounded)")
    with c3:
        st.write("")
        if st.button("Reset graph", key=f"reset_graph:{ctx}", width="stretch"):
            st.session_state.pop(f"graph:{ctx}", None)
            st.session_state.pop(f"pos:{ctx}", None)
            st.session_state.pop(f"clicked:{ctx}", None)
            st.rerun()
    if expand_now and chosen:
        do_expand(driver, g, chosen, ctx)
    msg = st.session_state.pop(f"expand_msg:{ctx}", None)
    if msg:
        st.success(msg)
    clicked = draw_graph(g, ctx, selected=chosen)
    if clicked and clicked in g.nodes and clicked != st.session_state.get(f"clicked:{ctx}"):
        st.session_state[f"clicked:{ctx}"] = clicked
        st.session_state[f"clicked_pending:{ctx}"] = clicked
        if not g.nodes[clicked].expanded:
            do_expand(driver, g, clicked, ctx)
        st.rerun()
    counts = pd.Series([n.role for n in g.nodes.values()]).value_counts()
    st.caption(f"{len(g.nodes)} of at most {g.max_nodes} nodes drawn, {len(g.edges)} links · "
               + ", ".join(f"{v} {k}" for k, v in counts.items()))
    for note in g.notes[-6:]:
        st.caption(f"Left out: {note}")
    node = g.nodes.get(chosen) if chosen else None
    if node is not None:
        with st.expander(f"Selected: {inv.KIND_NAMES.get(node.kind, node.kind)} {node.key}", expanded=False):
            st.write({"kind": node.kind, "key": node.key, "role": node.role, **node.info})
            if node.kind == "ring" and node.key != g.ring_id:
                st.button("Open this ring", key=f"open_node_ring:{ctx}", on_click=open_ring, args=(node.key,))
            elif node.kind != "ring":
                st.button("Open in search", key=f"open_node_search:{ctx}", on_click=go,
                          args=("Search",), kwargs={"entity": (node.kind, node.key), "search_text": node.key})


def do_expand(driver, g: inv.Subgraph, nid: str, ctx: str) -> None:
    result = inv.expand(driver, g, nid)
    st.session_state[f"graph:{ctx}"] = g
    kind, key = inv.split_id(nid)
    msg = f"Expanded {inv.KIND_NAMES.get(kind, kind)} {inv.short_label(kind, key)}: {result['added']} new nodes"
    if result["left_out"]:
        msg += f", {result['left_out']} of its {result['degree']} neighbours left out"
    st.session_state[f"expand_msg:{ctx}"] = msg


# --- pages ---------------------------------------------------------------------------------------------------------


def sidebar(driver) -> None:
    with st.sidebar:
        st.caption(f"Database: {resolve_target().describe()}")
        run = inv.last_run(driver)
        if run:
            st.caption(f"Last detection run {fmt_time(run['at'])} UTC ({run['backend']}): "
                       f"{run['rings']} rings, {run['flagged']:,} accounts flagged")
        counts = inv.status_counts(driver)
        if len(counts):
            st.caption("Rings: " + " · ".join(f"{s} {n}" for s, n in zip(counts["status"], counts["rings"],
                                                                              strict=True)))


def queue_page(driver) -> None:
    st.title("Ring queue")
    caps = inv.capabilities(driver)
    with st.container(border=True):
        c1, c2, c3, c4, c5 = st.columns([3, 2, 1.2, 1.2, 2])
        statuses = c1.multiselect("Status", RING_STATUSES, default=list(DEFAULT_QUEUE_STATUSES), key="f_status",
                                  help="`watch` rings scored below the threshold; add it to see them.")
        min_score = c2.slider("Minimum score", 0.0, 1.0, 0.0, 0.05, key="f_score")
        min_size = c3.number_input("Min size", 0, 1_000_000, 0, key="f_min_size")
        max_size = c4.number_input("Max size (0 = any)", 0, 1_000_000, 0, key="f_max_size")
        capability = c5.selectbox("Capability in traffic", ["any", *caps], key="f_cap")
        changed = st.checkbox("Only new or grown since the last run", key="f_changed")
    flt = inv.QueueFilter(tuple(statuses), min_score, int(min_size), int(max_size) or None,
                          None if capability == "any" else capability, changed)
    counts = inv.queue_count(driver, flt)
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Rings in queue", f"{counts['rings']:,}")
    m2.metric("Accounts", f"{counts['accounts']:,}")
    m3.metric("New rings (this run)", counts["new_rings"])
    m4.metric("Grown since last run", counts["grown_rings"])
    pages = max(1, math.ceil(counts["rings"] / inv.QUEUE_LIMIT))
    page = 0
    if pages > 1:
        page = st.number_input(f"Page (of {pages}, {inv.QUEUE_LIMIT} rings each)", 1, pages, 1, key="queue_page") - 1
    frame = inv.queue(driver, flt, skip=page * inv.QUEUE_LIMIT)
    if frame.empty:
        st.info("No ring matches these filters." + ("" if "watch" in statuses else " `watch` rings are hidden."))
        return
    show = pd.DataFrame({
        "ring": frame["id"],
        "status": frame["status"],
        "score": frame["score"].astype(float),
        "size": frame["size"].astype(int),
        "change": [change_text(r) for r in frame.itertuples()],
        "age": frame["age"],
        "reason": frame["reason"],
        "capabilities": frame["top_capabilities"],
        "decided": frame["decided"],
    })
    flags = ["new" if r.is_new else ("grown" if (r.growth or 0) > 0 or r.new_members else "")
             for r in frame.itertuples()]

    def highlight(row):
        colour = {"new": "background-color: #fff3cd", "grown": "background-color: #ffe0db"}.get(flags[row.name], "")
        return [colour] * len(row)

    def status_colour(value):
        return f"color: {STATUS_COLOUR.get(value, '#222')}; font-weight: 600"

    styled = show.style.apply(highlight, axis=1).map(status_colour, subset=["status"]).format({"score": "{:.2f}"})
    filter_key = hashlib.sha256(repr(flt).encode() + str(page).encode()).hexdigest()[:8]
    event = st.dataframe(
        styled, hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
        key=f"queue_table:{filter_key}",
        column_config={
            "score": st.column_config.ProgressColumn("score", min_value=0.0, max_value=1.0, format="%.2f",
                                                     width="small"),
            "size": st.column_config.NumberColumn("size", width="small"),
            "reason": st.column_config.TextColumn("reason", width="large"),
            "change": st.column_config.TextColumn("change", width="small", help="since the last detection run"),
            "capabilities": st.column_config.TextColumn("capabilities", width="medium"),
            "ring": st.column_config.TextColumn("ring", width="small"),
        },
        height=min(38 + 35 * len(show), 620),
    )
    st.caption("Yellow rows: new this run (NEW) · red rows: grown since the last run (▲ size change, "
               "+ new members). Select a row to open the ring.")
    rows = getattr(getattr(event, "selection", None), "rows", []) if event is not None else []
    if rows:
        picked = frame["id"].iloc[rows[0]]
        if st.session_state.get("queue_picked") != (filter_key, picked):
            st.session_state["queue_picked"] = (filter_key, picked)
            open_ring(picked)
            st.rerun()
    c1, c2 = st.columns([4, 1])
    labels = {r.id: f"{r.id} · {r.status} · score {r.score:.2f} · {int(r.size)} accounts" for r in frame.itertuples()}
    choice = c1.selectbox("Open ring", list(frame["id"]), key="open_ring_select", format_func=labels.get)
    c2.write("")
    # the callback reads the selectbox's current value (args would hold the previous run's choice)
    c2.button("Open ring", key="open_ring_btn", type="primary", on_click=open_selected_ring, args=("open_ring_select",),
              disabled=choice is None)


def change_text(r) -> str:
    if r.is_new:
        return "NEW"
    bits = []
    if r.growth:
        bits.append(f"{'▲' if r.growth > 0 else '▼'} {r.growth:+d}")
    if r.new_members:
        bits.append(f"+{int(r.new_members)} new members")
    return " ".join(bits)


def ring_page(driver) -> None:
    ring_id = st.session_state.get("ring_id")
    if not ring_id:
        st.title("Ring")
        st.info("Open a ring from the queue, or type its id.")
        typed = st.text_input("Ring id", key="ring_id_input", placeholder="R-000001")
        if typed:
            st.session_state["ring_id"] = typed.strip().upper()
            st.rerun()
        return
    r = inv.ring(driver, ring_id)
    if r is None:
        st.title(ring_id)
        st.warning(f"No ring {ring_id} in the database (a later detection run may have retired it).")
        st.button("Back to the queue", key="back_queue", on_click=go, args=("Ring queue",), kwargs={"ring_id": None})
        return
    st.query_params["ring"] = ring_id
    status = r.get("status", "")
    colour = STATUS_COLOUR.get(status, "#6b7280")
    st.markdown(
        f"<div class='rw-title'>Ring {html.escape(ring_id)} "
        f"<span class='rw-pill' data-status='{html.escape(status)}' style='background:{colour}'>"
        f"{html.escape(status)}</span></div>",
        unsafe_allow_html=True,
    )
    decided = status in DECIDED_STATUSES
    st.markdown(f"<div class='rw-reason{' decided' if decided else ''}'>{html.escape(r.get('reason') or '')}</div>",
                unsafe_allow_html=True)
    now = datetime.now(UTC)
    growth = None if r.get("previous_size") is None else int(r["size"]) - int(r["previous_size"])
    m = st.columns(6)
    m[0].metric("Score", f"{float(r.get('score') or 0):.2f}")
    m[1].metric("Members", f"{int(r.get('size') or 0):,}", delta=None if not growth else f"{growth:+d} since last run")
    m[2].metric("New members", int(r.get("new_members") or 0))
    m[3].metric("Age", inv.age_text(now, r.get("first_detected")) or "–")
    m[4].metric("First detected", fmt_time(r.get("first_detected"))[:10] or "–")
    m[5].metric("Last decided by", r.get("decided_by") or "–")
    flash()
    events = history(driver, ring_id)
    left, right = st.columns([3.3, 1], gap="medium")
    with left:
        tabs = st.tabs(["Graph", "Members", "Activity", "Features", f"History ({len(events)})"])
        with tabs[0]:
            ctx = f"ring:{ring_id}"
            drawn = st.select_slider("Members drawn", [10, 20, 40, 60, 90, 120], value=inv.DEFAULT_MEMBERS_DRAWN,
                                     key=f"members_drawn:{ring_id}")
            g = st.session_state.get(f"graph:{ctx}")
            if g is None or st.session_state.get(f"graph_drawn:{ctx}") != drawn:
                g = inv.ring_graph(driver, r, drawn)
                st.session_state[f"graph:{ctx}"] = g
                st.session_state[f"graph_drawn:{ctx}"] = drawn
                st.session_state.pop(f"pos:{ctx}", None)
            graph_panel(driver, g, ctx)
        with tabs[1]:
            members_tab(driver, ring_id)
        with tabs[2]:
            activity_tab(driver, ring_id)
        with tabs[3]:
            features_tab(driver, r)
        with tabs[4]:
            history_tab(r, events)
    with right:
        decision_form(r)
        recent_decisions(events)


def members_tab(driver, ring_id: str) -> None:
    c1, c2, c3 = st.columns([3, 1, 1])
    search = c1.text_input("Filter members by account id", key=f"members_search:{ring_id}")
    only_new = c2.checkbox("Only new members", key=f"members_new:{ring_id}")
    total = inv.members_count(driver, ring_id, search, only_new)
    pages = max(1, math.ceil(total / inv.MEMBERS_PAGE_SIZE))
    page = c3.number_input(f"Page of {pages}", 1, pages, 1, key=f"members_page:{ring_id}") - 1
    frame = inv.members_rows(driver, ring_id, page, inv.MEMBERS_PAGE_SIZE, search, only_new)
    st.caption(f"{total:,} members match; page {page + 1} of {pages} (strongest evidence first). "
               "Select rows to decide on just those members (Decisions tab).")
    event = st.dataframe(
        frame, hide_index=True, width="stretch", on_select="rerun", selection_mode="multi-row",
        key=f"members_table:{ring_id}:{page}:{search}:{only_new}",
        column_config={
            "evidence": st.column_config.TextColumn("evidence", width="large"),
            "strength": st.column_config.NumberColumn("strength", format="%.1f", width="small"),
            "private_share": st.column_config.ProgressColumn("private share", min_value=0.0, max_value=1.0,
                                                             format="%.2f", width="small"),
            "new": st.column_config.CheckboxColumn("new", width="small"),
        },
    )
    rows = getattr(getattr(event, "selection", None), "rows", []) if event is not None else []
    st.session_state[f"page_members:{ring_id}"] = list(frame["account"])
    if rows:
        chosen = [frame["account"].iloc[i] for i in rows]
        st.session_state[f"table_selected:{ring_id}"] = chosen
        st.caption(f"{len(chosen)} selected: " + ", ".join(chosen[:8]) + (" …" if len(chosen) > 8 else ""))


def activity_tab(driver, ring_id: str) -> None:
    raw = inv.timeline(driver, ring_id)
    series = inv.timeline_series(raw, inv.signups(driver, ring_id))
    if series.empty:
        st.info("No activity recorded for these members.")
        return
    if len(raw) >= inv.TIMELINE_MEMBERS:
        st.caption(f"Sign-ups of every member; activity of {inv.TIMELINE_MEMBERS:,} of them (the ring is larger).")
    base = alt.Chart(series).encode(x=alt.X("day:T", title=None))
    signups = base.mark_bar(color="#d62728", opacity=0.8).encode(
        y=alt.Y("signups:Q", title="sign-ups per day"), tooltip=["day:T", "signups:Q"])
    active = base.mark_line(color="#1f77b4", strokeWidth=2).encode(
        y=alt.Y("active_accounts:Q", title="accounts active"), tooltip=["day:T", "active_accounts:Q"])
    st.markdown("**Sign-ups (bars) and accounts active (line), per day**")
    st.altair_chart(alt.layer(signups, active).resolve_scale(y="independent").properties(height=260),
                    width="stretch")
    st.markdown("**Requests per day** (each member's template requests spread over its active span)")
    st.altair_chart(base.mark_area(color="#8c564b", opacity=0.6).encode(
        y=alt.Y("requests:Q", title="requests"), tooltip=["day:T", "requests:Q"]).properties(height=200),
        width="stretch")


def features_tab(driver, r: dict) -> None:
    pop = inv.population(driver)
    if pop.empty:
        return
    names = ["score", *FEATURES]
    long = pop.melt(id_vars=["id"], value_vars=names, var_name="feature", value_name="value").dropna()
    long["feature"] = long["feature"].map(FEATURE_LABELS)
    mine = pd.DataFrame({"feature": [FEATURE_LABELS[f] for f in names],
                         "value": [float(r.get(f) or 0.0) for f in names]})
    mine["percentile"] = [
        f"higher than {100 * (pop[f].dropna() < float(r.get(f) or 0)).mean():.0f}% of rings" for f in names
    ]
    order = [FEATURE_LABELS[f] for f in names]
    rng = random.Random(3)
    long["jitter"] = [rng.uniform(-0.3, 0.3) for _ in range(len(long))]
    y = alt.Y("feature:N", sort=order, title=None, axis=alt.Axis(labelFontSize=13, labelLimit=260))
    others = alt.Chart(long).mark_tick(color="#9aa5b1", opacity=0.6, thickness=1.5, size=22).encode(
        x=alt.X("value:Q", scale=alt.Scale(domain=[0, 1]), title="value (0–1): grey = every ring, red = this ring"),
        y=y, tooltip=["id:N", "feature:N", alt.Tooltip("value:Q", format=".2f")])
    this = alt.Chart(mine).mark_point(shape="diamond", filled=True, color="#d62728", size=260).encode(
        x="value:Q", y=y, tooltip=["feature:N", alt.Tooltip("value:Q", format=".2f"), "percentile:N"])
    st.markdown(f"**{r['id']} against all {len(pop):,} rings**")
    st.altair_chart(alt.layer(others, this).properties(height=330), width="stretch")
    c1, c2 = st.columns(2)
    with c1:
        st.markdown("**Score distribution** (red line: this ring)")
        hist = alt.Chart(pop).mark_bar(color="#9aa5b1").encode(
            x=alt.X("score:Q", bin=alt.Bin(maxbins=25, extent=[0, 1]), title="score"),
            y=alt.Y("count():Q", title="rings"))
        rule = alt.Chart(pd.DataFrame({"score": [float(r.get("score") or 0)]})).mark_rule(
            color="#d62728", strokeWidth=3).encode(x="score:Q")
        st.altair_chart(alt.layer(hist, rule).properties(height=220), width="stretch")
    with c2:
        st.markdown("**Capability mix of the ring's template traffic**")
        caps = pd.DataFrame(list(r.get("capability_shares", {}).items()), columns=["capability", "share"])
        if len(caps):
            st.altair_chart(alt.Chart(caps).mark_bar(color="#8c564b").encode(
                x=alt.X("share:Q", axis=alt.Axis(format="%")), y=alt.Y("capability:N", sort="-x", title=None),
                tooltip=["capability:N", alt.Tooltip("share:Q", format=".1%")]).properties(
                    height=max(160, 24 * len(caps))),
                width="stretch")
    bound = pd.DataFrame(r.get("bound_list") or [])
    if len(bound):
        st.markdown("**What binds the ring** (entities used mostly by its members)")
        st.dataframe(bound.rename(columns={"members": "members using it"}), hide_index=True, width="stretch")


def decision_form(r: dict) -> None:
    ring_id = r["id"]
    state("dec_analyst", st.session_state.get("analyst_name", ""))
    page_members = st.session_state.get(f"page_members:{ring_id}", [])
    table_sel = st.session_state.get(f"table_selected:{ring_id}", [])
    with st.form(f"decide:{ring_id}", border=True):
        st.markdown("**Record a decision**")
        st.radio("Decision", DECIDED_STATUSES, horizontal=True, key="dec_status")
        st.radio("On", ["the whole ring", "selected members"], horizontal=True, key="dec_scope")
        st.multiselect("Members (for a member decision)", sorted(set(page_members) | set(table_sel)),
                       default=[m for m in table_sel if m], key=f"dec_members:{ring_id}",
                       help="Members on the current page of the Members tab, or rows selected there.",
                       placeholder="members on the Members page")
        st.text_area("Reason (required)", key="dec_reason", max_chars=2000, height=110,
                     placeholder="What the evidence shows, e.g. shared prepaid cards, ring-only coding templates")
        st.text_input("Analyst (required)", key="dec_analyst", max_chars=100)
        st.form_submit_button("Record decision", type="primary", on_click=submit_decision, args=(ring_id,),
                              key="dec_submit")


def _recorded(call, failed: str):
    """Run a decision or undo; on failure, flash why (prefixed by `failed`) and return None."""
    try:
        return call()
    except DecisionError as e:
        st.session_state["flash"] = ("error", f"{failed}: {e}.")
    except DB_ERRORS + (Neo4jError,) as e:
        st.session_state["flash"] = ("error", f"{failed}, the database failed: {e}")
    return None


def submit_decision(ring_id: str) -> None:
    s = st.session_state
    members = s.get(f"dec_members:{ring_id}") if s.get("dec_scope") == "selected members" else None
    d = _recorded(lambda: decide(get_driver(), ring_id, s.get("dec_status"), s.get("dec_reason"),
                                 s.get("dec_analyst"), members=members), "Not recorded")
    if d is None:
        return
    who = f"{len(members)} members of {ring_id}" if members else ring_id
    s["flash"] = ("ok", f"Recorded: {who} {d['previous_status']} → {d['status']} by {s.get('dec_analyst')}.")
    s["analyst_name"] = s.get("dec_analyst", "").strip()
    s["dec_reason"] = ""


def submit_undo(ring_id: str) -> None:
    s = st.session_state
    d = _recorded(lambda: undo(get_driver(), s.get("undo_pick"), s.get("undo_reason"), s.get("undo_analyst")),
                  "Not undone")
    if d is None:
        return
    s["flash"] = ("ok", f"Undone: {ring_id} {d['previous_status']} → {d['status']} (a new event; history kept).")
    s["analyst_name"] = (s.get("undo_analyst") or "").strip()
    s["undo_reason"] = ""


def recent_decisions(events: list[dict]) -> None:
    if not events:
        st.caption("No decisions on this ring yet.")
        return
    st.markdown("**Latest decisions**")
    for e in events[:4]:
        on = f"{len(e['members'])} members" if e["members"] else "ring"
        undo_note = " (undo)" if e["undo_of"] else ""
        st.markdown(
            f"<div class='rw-event'><b>{html.escape(str(e['previous_status']))} → {html.escape(e['status'])}</b>"
            f"{undo_note} · {on}<br><span class='rw-meta'>{html.escape(e['analyst'])}, {fmt_time(e['at'])} UTC"
            f"</span><br>{html.escape(e['reason'][:160])}</div>",
            unsafe_allow_html=True,
        )


def history_tab(r: dict, events: list[dict]) -> None:
    ring_id = r["id"]
    if not events:
        st.caption("No decisions on this ring yet.")
        return
    frame = pd.DataFrame(events)
    frame["on"] = [f"{len(m)} members" if m else "ring" for m in frame["members"]]
    frame["change"] = [f"{p} → {s}" for p, s in zip(frame["previous_status"], frame["status"], strict=True)]
    frame["note"] = [("undo of " + u[:8] if u else "") + (" (undone)" if d else "")
                     for u, d in zip(frame["undo_of"], frame["undone"], strict=True)]
    frame["at"] = frame["at"].map(fmt_time)
    st.markdown("**Every decision on this ring** (append-only; newest first)")
    st.dataframe(frame[["seq", "at", "analyst", "change", "on", "reason", "note", "id"]], hide_index=True,
                 width="stretch", column_config={"reason": st.column_config.TextColumn(width="large")})
    undoable = [e for e in events if not e["undone"]]
    if undoable:
        state("undo_analyst", st.session_state.get("analyst_name", ""))
        with st.form(f"undo:{ring_id}"):
            st.markdown("**Undo a decision** (records a new event that restores the previous status)")
            st.selectbox("Decision", [e["id"] for e in undoable], key="undo_pick", format_func=lambda i: next(
                f"#{e['seq']} {e['previous_status']} → {e['status']} by {e['analyst']}" for e in undoable
                if e["id"] == i))
            st.text_input("Reason (required)", key="undo_reason")
            st.text_input("Analyst (required)", key="undo_analyst")
            st.form_submit_button("Undo", on_click=submit_undo, args=(ring_id,), key="undo_submit")


def search_page(driver) -> None:
    st.title("Search")
    with st.form("search_form", border=False):
        c1, c2 = st.columns([5, 1])
        c1.text_input("Account id, IP address, payment fingerprint, template hash, proxy name, ASN or ring id",
                      key="search_text", placeholder="e.g. 203.0.113.7 or acct_… or a template hash prefix")
        c2.write("")
        submitted = c2.form_submit_button("Search", type="primary", key="search_btn")
    text = (st.session_state.get("search_text") or "").strip()
    if submitted:
        st.session_state.pop("entity", None)
        st.session_state["search_for"] = text
    query = st.session_state.get("search_for")
    if query and "entity" not in st.session_state:
        hits = inv.search(driver, query)
        if hits.empty:
            st.warning(f"Nothing matches {query!r}.")
            return
        exact = hits[hits["exact"]]
        if len(exact) == 1 or len(hits) == 1:
            hit = (exact if len(exact) == 1 else hits).iloc[0]
            st.session_state["entity"] = (hit["kind"], hit["key"])
        else:
            st.caption(f"{len(hits)} matches")
            options = [f"{k}|{v}" for k, v in zip(hits["kind"], hits["key"], strict=True)]
            pick = st.selectbox("Matches", options, key="search_pick",
                                format_func=lambda o: f"{inv.KIND_NAMES[o.split('|')[0]]} · {o.split('|', 1)[1]}")
            if st.button("Open", key="search_open", type="primary"):
                kind, key = pick.split("|", 1)
                st.session_state["entity"] = (kind, key)
                st.rerun()
            return
    ent = st.session_state.get("entity")
    if ent:
        entity_view(driver, *ent)


def entity_view(driver, kind: str, key: str) -> None:
    if kind == "ring":
        st.info(f"{key} is a ring.")
        st.button(f"Open ring {key}", key="entity_open_ring", type="primary", on_click=open_ring, args=(key,))
        return
    info = inv.entity(driver, kind, key)
    if info is None:
        st.warning(f"No {inv.KIND_NAMES.get(kind, kind)} {key}.")
        return
    name = inv.KIND_NAMES.get(kind, kind)
    st.subheader(f"{name[:1].upper()}{name[1:]} {key}")
    props = {k: (fmt_time(v) if hasattr(v, "to_native") else v) for k, v in info["props"].items()}
    st.caption(" · ".join(f"**{k}**: {v}" for k, v in props.items()) + f" · **links**: {info['degree']:,}")
    touching = inv.rings_touching(driver, kind, key)
    if len(touching):
        st.markdown(f"**Rings it touches** ({len(touching)})")
        st.dataframe(touching, hide_index=True, width="stretch",
                     column_config={"reason": st.column_config.TextColumn(width="large"),
                                    "score": st.column_config.NumberColumn(format="%.2f")})
        c1, c2 = st.columns([4, 1])
        c1.selectbox("Ring", list(touching["ring"]), key="touch_ring")
        c2.write("")
        c2.button("Open ring", key="touch_open", type="primary", on_click=open_selected_ring, args=("touch_ring",))
    else:
        st.caption("No ring touches it.")
    ctx = f"entity:{kind}:{key}"
    g = st.session_state.get(f"graph:{ctx}")
    if g is None:
        g = inv.entity_graph(driver, kind, key)
        st.session_state[f"graph:{ctx}"] = g
    graph_panel(driver, g, ctx)


def export_page(driver) -> None:
    st.title("Export the block list")
    st.caption("The same files as `ringwatch export` (graph/export.py): accounts of rings with these statuses, "
               "minus members dismissed on their own, plus members given the status individually.")
    c1, c2 = st.columns([3, 1])
    statuses = c1.multiselect("Statuses", DECIDED_STATUSES, default=["blocked"], key="x_status")
    min_score = c2.number_input("Minimum ring score (0 = any)", 0.0, 1.0, 0.0, 0.05, key="x_min_score")
    frame = block_list(driver, statuses or ["blocked"], min_score or None)
    csv_text, json_text = to_csv(frame), to_json(frame)
    st.session_state["export_csv"] = csv_text  # what the buttons offer (checked by the tests)
    st.session_state["export_json"] = json_text
    m1, m2 = st.columns(2)
    m1.metric("Accounts", f"{len(frame):,}")
    m2.metric("Rings", f"{frame['ring_id'].nunique():,}")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    b1, b2, _ = st.columns([1, 1, 3])
    b1.download_button("Download CSV", csv_text, file_name=f"block-list-{stamp}.csv", mime="text/csv",
                       key="dl_csv", type="primary")
    b2.download_button("Download JSON", json_text, file_name=f"block-list-{stamp}.json", mime="application/json",
                       key="dl_json")
    st.dataframe(frame.head(500), hide_index=True, width="stretch")
    if len(frame) > 500:
        st.caption(f"First 500 of {len(frame):,} rows shown; the downloads hold all of them.")


# --- main ----------------------------------------------------------------------------------------------------------


def main() -> None:
    st.set_page_config(page_title="ringwatch", page_icon=":material/hub:", layout="wide")
    st.markdown(CSS, unsafe_allow_html=True)
    if "booted" not in st.session_state:
        st.session_state["booted"] = True
        params = st.query_params
        if params.get("ring"):
            go("Ring", ring_id=str(params["ring"]))
        elif params.get("search"):
            go("Search", search_text=str(params["search"]), search_for=str(params["search"]))
    apply_goto()
    with st.sidebar:
        st.markdown("## ringwatch")
        st.caption("fake-account ring investigator")
        st.radio("Go to", PAGES, key="nav", label_visibility="collapsed")
        ring_id = st.session_state.get("ring_id")
        if ring_id:
            st.caption(f"Open ring: **{ring_id}**")
    banner = st.container()
    try:
        driver = get_driver()
        sidebar(driver)
        page = st.session_state.get("nav", PAGES[0])
        if page != "Ring" and "ring" in st.query_params:
            del st.query_params["ring"]
        {"Ring queue": queue_page, "Ring": ring_page, "Search": search_page, "Export": export_page}[page](driver)
    except DB_ERRORS as e:
        with banner:
            db_banner(e)
    except Neo4jError as e:
        with banner:
            st.error(f"The database refused a query: {e.message or e}. Try again; if it persists, check the logs "
                     "(`ringwatch db logs`).")


main()
