"""Reusable pieces of the pages: the graph panel (chart, expansion) and the decision forms.

  graph_panel / draw_graph / do_expand   a Subgraph on the canvas (canvas.py; the Altair chart if the component
                                         is missing) with its "Node to expand" controls
  rerun_graph / leave_for                rerun the graph's fragment (the ring page's Graph tab) / the whole app
  decision_form / submit_decision        record a decision on the ring or selected members
  awaiting_panel / submit_extend         members awaiting review, and extending the decision to them
  approval_panel / submit_approve        a block waiting for a second lead, and approving it
  undo_form / submit_undo                undo an earlier decision (a new event)
  recent_decisions                       the last few events beside the form

Every change is made as the logged-in Actor (auth.current_actor); callbacks write their
outcome to st.session_state["flash"]; graph.review.decisions checks the role and the
rules again, whatever the form allowed.
"""

from __future__ import annotations

import html
from typing import Any, NoReturn

import pandas as pd
import streamlit as st
from neo4j.exceptions import Neo4jError
from streamlit.errors import StreamlitAPIException

from graph.investigate import subgraph as sg
from graph.investigate.present import short_label
from graph.review.actors import Actor, PermissionDenied
from graph.review.decisions import DecisionError, approve, decide, extend, undo
from graph.vocabulary import DECIDED_STATUSES, KIND_NAMES
from ringwatch.webapp import canvas, charts, data
from ringwatch.webapp.auth import current_actor
from ringwatch.webapp.layout import edge_rows, event_change, fmt_time, layout, md_escape, node_rows
from ringwatch.webapp.state import RING, SEARCH, go

# --- the graph -----------------------------------------------------------------------------------------------------


def rerun_graph() -> NoReturn:
    """Rerun the graph panel: only its fragment when it runs in one (the ring page's Graph tab, after an
    interaction inside it), else the whole app (the search page; the ring page's full runs, where
    `scope="fragment"` is refused)."""
    try:
        st.rerun(scope="fragment")
    except StreamlitAPIException:
        st.rerun()


def leave_for(page: str, **values: Any) -> None:
    """A button's callback that switches page (state.go) and reruns the whole app: inside a fragment, the
    interaction would rerun only the fragment, and the switch would wait for some later full run."""
    go(page, **values)
    st.rerun()


def reset_graph(ctx: str) -> None:
    """The "Reset graph" button's callback: forget the drawn graph, so the run that follows draws it afresh."""
    for k in (f"graph:{ctx}", f"pos:{ctx}", f"clicked:{ctx}"):
        st.session_state.pop(k, None)


def positions(g: sg.Subgraph, ctx: str) -> dict[str, tuple[float, float]]:
    """Node positions for graph `ctx`, kept in the session so drawn nodes stay put across expansions."""
    pos = layout(g, st.session_state.get(f"pos:{ctx}"))
    st.session_state[f"pos:{ctx}"] = pos
    return pos


def draw_graph(g: sg.Subgraph, ctx: str, selected: str | None = None) -> str | None:
    """The subgraph as an Altair chart; returns the node id clicked (if the chart reported one)."""
    if not g.nodes:
        st.info("Nothing to draw.")
        return None
    pos = positions(g, ctx)
    chart = charts.graph_chart(node_rows(g, pos, selected), edge_rows(g, pos))
    event = st.altair_chart(chart, width="stretch", on_select="rerun", selection_mode="node", key=f"chart:{ctx}")
    try:
        points = event.selection.get("node") or []
        return points[0].get("id") if points else None
    except (AttributeError, KeyError, IndexError, TypeError):
        return None


def _node_choice(g: sg.Subgraph, ctx: str) -> str | None:
    """The "Node to expand" selectbox; a node clicked in the chart becomes the chosen one, and the choice
    survives expansions changing the options."""
    order = sorted(g.nodes.values(), key=lambda n: (n.kind == "account", n.kind, n.key))
    options = [n.id for n in order]
    labels = {
        n.id: f"{KIND_NAMES.get(n.kind, n.kind)} · {n.key}" + (" (expanded)" if n.expanded else "") for n in order
    }
    key = f"expand_node:{ctx}"
    wanted = st.session_state.pop(f"clicked_pending:{ctx}", None) or st.session_state.get(key)
    if wanted in options:
        st.session_state[key] = wanted
    elif key in st.session_state:
        del st.session_state[key]
    return st.selectbox(
        "Node to expand (or click a node in the chart)", options, key=key, format_func=lambda nid: labels.get(nid, nid)
    )


def graph_panel(driver, g: sg.Subgraph, ctx: str) -> None:
    """The drawn graph with its expansion controls (selectbox and click)."""
    c1, c2, c3 = st.columns([4.2, 1.2, 1.2])
    with c1:
        chosen = _node_choice(g, ctx)
    with c2:
        st.write("")
        expand_now = st.button(
            "Expand",
            key=f"expand_btn:{ctx}",
            type="primary",
            width="stretch",
            help="Fetch this node's neighbours from the database (bounded)",
        )
    with c3:
        st.write("")
        st.button("Reset graph", key=f"reset_graph:{ctx}", width="stretch", on_click=reset_graph, args=(ctx,))
    if expand_now and chosen:
        do_expand(driver, g, chosen, ctx)
    msg = st.session_state.pop(f"expand_msg:{ctx}", None)
    note = st.container()  # always there, so the canvas below keeps its place (a moved component is remounted)
    if msg:
        note.success(msg)
    if canvas.available() and g.nodes:
        clicked = canvas.draw(g, ctx, positions(g, ctx))  # a double click: expand it (even if clicked before)
        st.session_state.pop(f"clicked:{ctx}", None)
        st.caption(
            "Scroll to zoom, drag to pan or move a node; click a node for its details, double-click it "
            "(or the expand button in its panel) to expand it."
        )
    else:
        clicked = draw_graph(g, ctx, selected=chosen)
    if clicked and clicked in g.nodes and clicked != st.session_state.get(f"clicked:{ctx}"):
        st.session_state[f"clicked:{ctx}"] = clicked
        st.session_state[f"clicked_pending:{ctx}"] = clicked
        if not g.nodes[clicked].expanded:
            do_expand(driver, g, clicked, ctx)
        rerun_graph()  # the selectbox (drawn above) follows the click, the canvas shows the expansion
    counts = pd.Series([n.role for n in g.nodes.values()]).value_counts()
    st.caption(
        f"{len(g.nodes)} of at most {g.max_nodes} nodes drawn, {len(g.edges)} links · "
        + ", ".join(f"{v} {k}" for k, v in counts.items())
    )
    for note in g.notes[-6:]:
        st.caption(f"Left out: {md_escape(note)}")
    node = g.nodes.get(chosen) if chosen else None
    if node is not None:
        _node_details(g, node, ctx)


def _node_details(g: sg.Subgraph, node: sg.Node, ctx: str) -> None:
    with st.expander(f"Selected: {KIND_NAMES.get(node.kind, node.kind)} {node.key}", expanded=False):
        st.write({"kind": node.kind, "key": node.key, "role": node.role, **node.info})
        if node.kind == "ring" and node.key != g.ring_id:
            st.button(
                "Open this ring",
                key=f"open_node_ring:{ctx}",
                on_click=leave_for,
                args=(RING,),
                kwargs={"ring_id": node.key},
            )
        elif node.kind != "ring":
            st.button(
                "Open in search",
                key=f"open_node_search:{ctx}",
                on_click=leave_for,
                args=(SEARCH,),
                kwargs={"entity": (node.kind, node.key), "search_text": node.key},
            )


def do_expand(driver, g: sg.Subgraph, nid: str, ctx: str) -> None:
    result = sg.expand(driver, g, nid)
    st.session_state[f"graph:{ctx}"] = g
    kind, key = sg.split_id(nid)
    msg = f"Expanded {KIND_NAMES.get(kind, kind)} {short_label(kind, key)}: {result['added']} new nodes"
    if result["left_out"]:
        msg += f", {result['left_out']} of its {result['degree']} neighbours left out"
    st.session_state[f"expand_msg:{ctx}"] = msg


# --- decisions ---------------------------------------------------------------------------------------------------

UNDOABLE = ("decide", "extend")


def decision_form(r: dict) -> None:
    """Decide on the whole ring or on selected members; the logged-in Actor is the one recorded."""
    ring_id = r["id"]
    page_members = st.session_state.get(f"page_members:{ring_id}", [])
    table_sel = st.session_state.get(f"table_selected:{ring_id}", [])
    with st.form(f"decide:{ring_id}", border=True):
        st.markdown("**Record a decision**")
        st.radio("Decision", DECIDED_STATUSES, horizontal=True, key="dec_status")
        st.radio("On", ["the whole ring", "selected members"], horizontal=True, key="dec_scope")
        st.multiselect(
            "Members (for a member decision)",
            sorted(set(page_members) | set(table_sel)),
            default=[m for m in table_sel if m],
            key=f"dec_members:{ring_id}",
            help="Members on the current page of the Members tab, or rows selected there.",
            placeholder="members on the Members page",
        )
        st.text_area(
            "Reason (required)",
            key="dec_reason",
            max_chars=2000,
            height=110,
            placeholder="What the evidence shows, e.g. shared prepaid cards, ring-only coding templates",
        )
        # the run the analyst's view came from: a ring re-detected meanwhile refuses the decision
        st.form_submit_button(
            "Record decision",
            type="primary",
            on_click=submit_decision,
            args=(ring_id, r.get("last_run")),
            key="dec_submit",
        )


def _recorded(call, failed: str):
    """Run a decision, extension, approval or undo; on failure, flash why (prefixed by `failed`), return None."""
    try:
        result = call()
    except (DecisionError, PermissionDenied) as e:
        st.session_state["flash"] = ("error", f"{failed}: {e}.")
    except data.DB_ERRORS + (Neo4jError,) as e:
        st.session_state["flash"] = ("error", f"{failed}, the database failed: {e}")
    else:
        data.forget_reads()
        return result
    return None


def _outcome(d: dict, what: str) -> str:
    text = f"{what} {event_change(d)} by {d['actor']}"
    if d.get("pending"):
        return f"{text}: waits for a second lead's approval ({d['member_count']:,} accounts), nothing blocked yet."
    return text + "."


def submit_decision(ring_id: str, seen_run: str | None) -> None:
    s = st.session_state
    members = s.get(f"dec_members:{ring_id}") if s.get("dec_scope") == "selected members" else None
    d = _recorded(
        lambda: decide(
            data.get_driver(),
            current_actor(),
            ring_id,
            s.get("dec_status"),
            s.get("dec_reason"),
            members=members,
            seen_run=seen_run,
        ),
        "Not recorded",
    )
    if d is None:
        return
    who = f"{len(members)} members of {ring_id}" if members else ring_id
    s["flash"] = ("ok", _outcome(d, f"Recorded: {who}"))
    s["dec_reason"] = ""


def awaiting_panel(r: dict, waiting: list[str], actor: Actor) -> None:
    """Members that joined the decided ring after its decision: the list, and one button extending it to them."""
    ring_id, status = r["id"], r.get("status")
    st.warning(
        f"**{len(waiting):,} new member{'s' if len(waiting) != 1 else ''} awaiting review**: "
        f"they joined after the ring was {status}, and no decision covers them yet "
        "(they are not on the block list).",
        icon=":material/group_add:",
    )
    st.dataframe(
        pd.DataFrame({"account": waiting}),
        hide_index=True,
        width="stretch",
        height=min(38 + 35 * len(waiting), 250),
    )
    if not actor.can("decide"):
        return
    with st.form(f"extend:{ring_id}", border=True):
        st.text_input(
            "Reason (required)",
            key="extend_reason",
            max_chars=2000,
            placeholder="e.g. same cards and templates as the members already blocked",
        )
        st.form_submit_button(
            f"Extend the {status} to these {len(waiting):,} new members",
            type="primary",
            on_click=submit_extend,
            args=(ring_id, list(waiting)),
            key="extend_submit",
        )


def submit_extend(ring_id: str, seen: list[str]) -> None:
    s = st.session_state
    d = _recorded(
        lambda: extend(data.get_driver(), current_actor(), ring_id, s.get("extend_reason"), seen=seen), "Not extended"
    )
    if d is None:
        return
    s["flash"] = ("ok", _outcome(d, f"Extended to {d['member_count']:,} new members of {ring_id}:"))
    s["extend_reason"] = ""


def approval_panel(r: dict, events: list[dict], actor: Actor) -> None:
    """A block waiting for a second lead: who asked and for how many accounts; "Approve" for a lead who did
    not record it."""
    block = next((e for e in events if e["id"] == r.get("pending")), None)
    if block is None:
        st.warning("A block on this ring waits for approval.")
        return
    st.warning(
        f"**Waiting for approval**: {block['actor']} blocked {block['member_count']:,} accounts "
        f"({fmt_time(block['at'])} UTC); a second lead has to approve it before anything is blocked.",
        icon=":material/hourglass_top:",
    )
    if not actor.can("approve"):
        st.caption("A lead approves it.")
        return
    if block["actor"] == actor.name:
        st.caption("You recorded this block: another lead approves it (or undo it under History to withdraw it).")
        return
    with st.form(f"approve:{r['id']}", border=True):
        st.text_input(
            "Reason (required)",
            key="approve_reason",
            max_chars=2000,
            placeholder="e.g. checked 20 members: all farm accounts",
        )
        st.form_submit_button(
            "Approve", type="primary", on_click=submit_approve, args=(r["id"], block["id"]), key="approve_submit"
        )


def submit_approve(ring_id: str, decision_id: str) -> None:
    s = st.session_state
    d = _recorded(
        lambda: approve(data.get_driver(), current_actor(), decision_id, s.get("approve_reason")), "Not approved"
    )
    if d is None:
        return
    s["flash"] = (
        "ok",
        f"Approved: the block of {d['member_count']:,} accounts of {ring_id} by {d['actor']} is in force.",
    )
    s["approve_reason"] = ""


def may_undo(actor: Actor, e: dict) -> bool:
    """Analysts undo their own decisions, leads anyone's; approvals and undos are not undone themselves."""
    if e["undone"] or e["action"] not in UNDOABLE or not actor.can("undo_own"):
        return False
    return e["actor"] == actor.name or actor.can("undo_others")


def submit_undo(ring_id: str, status_of: dict[str, str]) -> None:
    s = st.session_state
    picked = s.get("undo_pick")
    d = _recorded(lambda: undo(data.get_driver(), current_actor(), picked, s.get("undo_reason")), "Not undone")
    if d is None:
        return
    s["flash"] = ("ok", f"Undone: {ring_id} {event_change(d, status_of)} by {d['actor']} (a new event; history kept).")
    s["undo_reason"] = ""


def event_label(e: dict) -> str:
    on = "ring" if e["scope"] == "ring" else "members"
    return f"#{e['seq']} {e['action']} {event_change(e)} ({on}, {e['member_count'] or 0:,} accounts) by {e['actor']}"


def undo_form(ring_id: str, events: list[dict], actor: Actor) -> None:
    undoable = [e for e in events if may_undo(actor, e)]
    if not undoable:
        return
    labels = {e["id"]: event_label(e) for e in undoable}
    with st.form(f"undo:{ring_id}"):
        st.markdown(
            "**Undo a decision** (records a new event that restores what it replaced; undoing a block "
            "that waits for approval withdraws it)"
        )
        st.selectbox("Decision", list(labels), key="undo_pick", format_func=labels.get)
        st.text_input("Reason (required)", key="undo_reason")
        st.form_submit_button(
            "Undo", on_click=submit_undo, args=(ring_id, {e["id"]: e["status"] for e in undoable}), key="undo_submit"
        )


def recent_decisions(events: list[dict]) -> None:
    if not events:
        st.caption("No decisions on this ring yet.")
        return
    st.markdown("**Latest decisions**")
    status_of = {e["id"]: e["status"] for e in events}
    for e in events[:4]:
        on = "ring" if e["scope"] == "ring" else f"{e['member_count'] or 0:,} members"
        note = {"undo": " (undo)", "approve": " (approval)", "extend": " (extension)"}.get(e["action"], "")
        if e["pending"] and not e["approved"] and not e["undone"]:
            note += " (waiting for approval)"
        st.markdown(
            f"<div class='rw-event'><b>{html.escape(event_change(e, status_of))}</b>{note} · {on}<br>"
            f"<span class='rw-meta'>{html.escape(e['actor'])} ({html.escape(e['role'] or '')}), "
            f"{fmt_time(e['at'])} UTC</span><br>{html.escape((e['reason'] or '')[:160])}</div>",
            unsafe_allow_html=True,
        )
