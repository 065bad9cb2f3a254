"""One ring: status (with "needs review" / "waiting for approval" flags) and reason, figures, members
awaiting review (with the button extending the decision to them), then tabs (graph, members,
activity, features, history and undo) and, on the right, the decision form (analysts and leads),
or the block waiting for approval (with "Approve" for a second lead), and the latest decisions.

The Graph tab's canvas and controls are a fragment (`graph_tab`): expanding a node reruns them alone, not
the other tabs' queries; its saved views (whose save flashes on the page) are outside it."""

from __future__ import annotations

import html
import math
from datetime import UTC, datetime

import pandas as pd
import streamlit as st
from neo4j.exceptions import Neo4jError

from graph.detection.scoring import DEFAULT_THRESHOLD, model_threshold, ring_parts, score_terms
from graph.investigate import ring as ir
from graph.investigate import saved
from graph.investigate import subgraph as sg
from graph.investigate.present import age_text, timeline_series
from graph.review.actors import Actor, PermissionDenied
from graph.review.decisions import awaiting, history
from graph.vocabulary import DECIDED_STATUSES
from ringwatch.webapp import cases, charts, data, widgets
from ringwatch.webapp.auth import current_actor
from ringwatch.webapp.layout import STATUS_COLOUR, event_change, fmt_time, md_escape
from ringwatch.webapp.state import QUEUE, flash, go

MEMBER_COLUMNS = {
    "evidence": st.column_config.TextColumn("evidence", width="large"),
    "strength": st.column_config.NumberColumn("strength", format="%.1f", width="small"),
    "private_share": st.column_config.ProgressColumn(
        "private share", min_value=0.0, max_value=1.0, format="%.2f", width="small"
    ),
    "new": st.column_config.CheckboxColumn("new", width="small"),
}


def header(r: dict) -> None:
    """Title with the status pill, the reason in large type, then the ring's figures."""
    ring_id, status = r["id"], r.get("status", "")
    colour = STATUS_COLOUR.get(status, "#6b7280")
    flags = "".join(
        f"<span class='rw-flag' data-flag='{flag.replace(' ', '-')}'>{flag}</span>"
        for flag, on in (("needs review", r.get("needs_review")), ("waiting for approval", r.get("pending")))
        if on
    )
    st.markdown(
        f"<div class='rw-title'>Ring {html.escape(ring_id)} "
        f"<span class='rw-pill' data-status='{html.escape(status)}' style='background:{colour}'>"
        f"{html.escape(status)}</span>{flags}</div>",
        unsafe_allow_html=True,
    )
    if r.get("needs_review"):
        st.caption(
            "Needs review: its members changed a lot since it was decided (a later detection run); check "
            "the members and decide again or extend the decision."
        )
    decided = status in DECIDED_STATUSES
    st.markdown(
        f"<div class='rw-reason{' decided' if decided else ''}'>{html.escape(r.get('reason') or '')}</div>",
        unsafe_allow_html=True,
    )
    now = datetime.now(UTC)
    growth = None if r.get("previous_size") is None else int(r["size"]) - int(r["previous_size"])
    m = st.columns(6)
    m[0].metric("Score", f"{float(r.get('score') or 0):.2f}")
    m[1].metric("Members", f"{int(r.get('size') or 0):,}", delta=None if not growth else f"{growth:+d} since last run")
    m[2].metric("New members", int(r.get("new_members") or 0))
    m[3].metric("Age", age_text(now, r.get("first_detected")) or "–")
    m[4].metric("First detected", fmt_time(r.get("first_detected"))[:10] or "–")
    m[5].metric("Last decided by", r.get("decided_by") or "–")


@st.fragment
def graph_tab(driver, r: dict) -> None:
    """The canvas with its expansion controls and "Members drawn", as a fragment: expanding a node, changing
    the members drawn or resetting the graph reruns this function only, not the page's other tabs and their
    queries. What needs the whole page reruns it (widgets.leave_for: the node panel's "Open ..." buttons).

    A fragment rerun is outside main.guarded, so a lost database is caught here (a banner in the tab)."""
    try:
        ring_graph(driver, r)
    except data.DB_ERRORS as e:
        data.db_banner(e, key=f"retry_graph:{r['id']}")
    except Neo4jError as e:
        st.error(f"The database refused a query: {e.message or e}. Try again.")


def ring_graph(driver, r: dict) -> None:
    ring_id = r["id"]
    ctx = f"ring:{ring_id}"
    key = f"members_drawn:{ring_id}"
    start = {} if key in st.session_state else {"value": sg.DEFAULT_MEMBERS_DRAWN}  # a saved view sets it
    drawn = st.select_slider("Members drawn", [10, 20, 40, 60, 90, 120], key=key, **start)
    g = st.session_state.get(f"graph:{ctx}")
    if g is None or st.session_state.get(f"graph_drawn:{ctx}") != drawn:
        g = sg.ring_graph(driver, r, drawn)
        st.session_state[f"graph:{ctx}"] = g
        st.session_state[f"graph_drawn:{ctx}"] = drawn
        st.session_state.pop(f"pos:{ctx}", None)
    widgets.graph_panel(driver, g, ctx)


def submit_save_view(ring_id: str, ctx: str) -> None:
    """Keep the graph on screen (its members drawn and expansions) as a named view."""
    s = st.session_state
    g = s.get(f"graph:{ctx}")
    try:
        view_id = saved.save_view(data.get_driver(), current_actor(), g, s.get(f"view_name:{ring_id}") or "")
    except (saved.ViewError, PermissionDenied) as e:
        s["flash"] = ("error", f"View not saved: {e}.")
        return
    except data.DB_ERRORS + (Neo4jError,) as e:
        s["flash"] = ("error", f"View not saved, the database failed: {e}")
        return
    s["saved_view"] = view_id
    s["flash"] = ("ok", f"View saved: anyone logged in opens it at the app's address + ?view={view_id}")
    s[f"view_name:{ring_id}"] = ""


def views_panel(driver, ring_id: str, ctx: str) -> None:
    """Save the graph as a named view; the ring's saved views as links (`./?view=ID`, the app's root: before
    login the login page is the only page, so a link to `ring?...` would be "page not found")."""
    views = saved.ring_views(driver, ring_id)
    with st.expander(f"Saved views ({len(views)})", expanded=bool(views)):
        with st.form(f"save_view:{ring_id}", border=False):
            c1, c2 = st.columns([4, 1])
            c1.text_input(
                "Save this graph (members drawn and expansions) as",
                key=f"view_name:{ring_id}",
                max_chars=saved.MAX_NAME,
                placeholder="e.g. shared BIN 4945, expanded",
            )
            c2.write("")
            c2.form_submit_button("Save view", on_click=submit_save_view, args=(ring_id, ctx), key="save_view_btn")
        for v in views:
            st.markdown(
                f"<a class='rw-view' href='./?view={html.escape(v['id'])}' target='_self'>"
                f"{html.escape(v['name'])}</a> <span class='rw-meta'>{html.escape(v['by'] or '')}, "
                f"{fmt_time(v['at'])} UTC, {v['nodes']} nodes</span>",
                unsafe_allow_html=True,
            )


def open_view(driver, view_id: str) -> None:
    """A `?view=ID` link: the view's ring, drawn as it was saved (same members drawn, same expansions)."""
    view = saved.load_view(driver, view_id)
    if view is None:
        st.session_state["flash"] = ("error", f"No saved view {view_id!r} (it may have been removed).")
        return
    r = ir.ring(driver, view["ring"])
    if r is None:
        st.session_state["flash"] = ("error", f"The view's ring {view['ring']} is no longer in the database.")
        return
    ring_id, ctx = r["id"], f"ring:{r['id']}"
    g = saved.restore(driver, r, view)
    st.session_state.update(
        {
            "ring_id": ring_id,
            f"graph:{ctx}": g,
            f"graph_drawn:{ctx}": g.members_drawn,
            f"members_drawn:{ring_id}": g.members_drawn,
            "open_view": view,
        }
    )
    st.session_state.pop(f"pos:{ctx}", None)


def members_tab(driver, ring_id: str) -> None:
    c1, c2, c3 = st.columns([3, 1, 1])
    search = c1.text_input("Filter members by account id", key=f"members_search:{ring_id}")
    only_new = c2.checkbox("Only new members", key=f"members_new:{ring_id}")
    total = ir.members_count(driver, ring_id, search, only_new)
    pages = max(1, math.ceil(total / ir.MEMBERS_PAGE_SIZE))
    page = c3.number_input(f"Page of {pages}", 1, pages, 1, key=f"members_page:{ring_id}") - 1
    frame = ir.members_rows(driver, ring_id, page, ir.MEMBERS_PAGE_SIZE, search, only_new)
    st.caption(
        f"{total:,} members match; page {page + 1} of {pages} (strongest evidence first). "
        "Select rows to decide on just those members (Decisions tab)."
    )
    event = st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="multi-row",
        key=f"members_table:{ring_id}:{page}:{search}:{only_new}",
        column_config=MEMBER_COLUMNS,
    )
    rows = getattr(getattr(event, "selection", None), "rows", []) if event is not None else []
    st.session_state[f"page_members:{ring_id}"] = list(frame["account"])
    if rows:
        chosen = [frame["account"].iloc[i] for i in rows]
        st.session_state[f"table_selected:{ring_id}"] = chosen
        st.caption(f"{len(chosen)} selected: " + md_escape(", ".join(chosen[:8])) + (" …" if len(chosen) > 8 else ""))


def activity_tab(driver, ring_id: str) -> None:
    raw = ir.timeline(driver, ring_id)
    series = timeline_series(raw, ir.signups(driver, ring_id))
    if series.empty:
        st.info("No activity recorded for these members.")
        return
    if len(raw) >= ir.TIMELINE_MEMBERS:
        st.caption(f"Sign-ups of every member; activity of {ir.TIMELINE_MEMBERS:,} of them (the ring is larger).")
    st.markdown("**Sign-ups (bars) and accounts active (line), per day**")
    st.altair_chart(charts.activity_chart(series), width="stretch")
    st.markdown("**Requests per day** (each member's template requests spread over its active span)")
    st.altair_chart(charts.requests_chart(series), width="stretch")


def score_terms_panel(r: dict) -> None:
    """Each feature's part of the score, under the weights detection uses now."""
    params, which = data.scoring_params()
    terms, unit = score_terms(r, params)
    st.markdown(f"**What makes up the score {float(r.get('score') or 0):.2f}** ({unit})")
    st.altair_chart(charts.score_terms_chart(terms, unit), width="stretch")
    extra = "the bars sum to the score (before clipping to [0, 1])"
    if unit == "log-odds":
        parts = ring_parts(r, params)
        threshold = model_threshold(params["behaviour_model"])
        extra = (
            "behaviour = sigmoid(sum of the terms) x (0.5 + 0.5 x private_share), plus the partner bonus. "
            f"The score is the larger of the calibrated model's, {parts['calibrated']:.2f} (its threshold "
            f"{threshold:.3f} shows as {DEFAULT_THRESHOLD}), and the default weights', {parts['default']:.2f}: "
            "a calibration adds rings, takes none off that the default weights flag"
        )
    st.caption(f"{which.capitalize()}; {extra}.")


def features_tab(r: dict) -> None:
    pop = data.population()
    if pop.empty:
        return
    score_terms_panel(r)
    st.markdown(f"**{r['id']} against all {len(pop):,} rings**")
    st.altair_chart(charts.feature_strip(pop, r), width="stretch")
    c1, c2 = st.columns(2)
    with c1:
        st.markdown("**Score distribution** (red line: this ring)")
        st.altair_chart(charts.score_histogram(pop, float(r.get("score") or 0)), width="stretch")
    with c2:
        st.markdown("**Capability mix of the ring's template traffic**")
        caps = pd.DataFrame(list(r.get("capability_shares", {}).items()), columns=["capability", "share"])
        if len(caps):
            st.altair_chart(charts.capability_bars(caps), width="stretch")
    bound = pd.DataFrame(r.get("bound_list") or [])
    if len(bound):
        st.markdown("**What binds the ring** (entities used mostly by its members)")
        st.dataframe(bound.rename(columns={"members": "members using it"}), hide_index=True, width="stretch")


HISTORY_COLUMNS = ["seq", "at", "actor", "role", "channel", "action", "change", "on", "reason", "note", "id"]


def event_note(e: dict) -> str:
    """What became of an event: undone, approved, still waiting for approval; what it undid or approved."""
    bits = []
    if e.get("undo_of"):
        bits.append("undo of " + e["undo_of"][:8])
    if e.get("approval_of"):
        bits.append("approves " + e["approval_of"][:8])
    if e.get("pending"):
        bits.append("approved" if e.get("approved") else ("withdrawn" if e.get("undone") else "waiting for approval"))
    elif e.get("undone"):
        bits.append("undone")
    return " · ".join(bits)


def history_tab(r: dict, events: list[dict], actor: Actor) -> None:
    if not events:
        st.caption("No decisions on this ring yet.")
        return
    frame = pd.DataFrame(events)
    frame["on"] = [
        "ring" if scope == "ring" else f"{n or 0:,} members"
        for scope, n in zip(frame["scope"], frame["member_count"], strict=True)
    ]
    status_of = {e["id"]: e["status"] for e in events}
    frame["change"] = [event_change(e, status_of) for e in events]
    frame["note"] = [event_note(e) for e in events]
    frame["at"] = frame["at"].map(fmt_time)
    st.markdown("**Every decision on this ring** (append-only; newest first)")
    st.dataframe(
        frame[HISTORY_COLUMNS],
        hide_index=True,
        width="stretch",
        column_config={"reason": st.column_config.TextColumn(width="large")},
    )
    widgets.undo_form(r["id"], events, actor)


def decisions_column(r: dict, events: list[dict], actor: Actor) -> None:
    """Right of the tabs: approve a waiting block, or record a decision (analysts and leads), then the latest."""
    if r.get("pending"):
        widgets.approval_panel(r, events, actor)
    elif actor.can("decide"):
        widgets.decision_form(r)
    else:
        st.info(
            f"You are logged in as a {actor.role}: you can read rings, members, history and the block list; "
            "deciding needs an analyst.",
            icon=":material/visibility:",
        )
    widgets.recent_decisions(events)


def no_ring() -> None:
    st.title("Ring")
    flash()
    st.info("Open a ring from the queue, or type its id.")
    typed = st.text_input("Ring id", key="ring_id_input", placeholder="R-000001")
    if typed:
        st.session_state["ring_id"] = typed.strip().upper()
        st.rerun()


def render(driver) -> None:
    view_id = st.session_state.pop("view_id", None)
    if view_id:
        open_view(driver, view_id)
    ring_id = st.session_state.get("ring_id")
    if not ring_id:
        no_ring()
        return
    r = ir.ring(driver, ring_id)
    if r is None:
        st.title(ring_id)
        st.warning(f"No ring {md_escape(ring_id)} in the database (a later detection run may have retired it).")
        st.button("Back to the queue", key="back_queue", on_click=go, args=(QUEUE,), kwargs={"ring_id": None})
        return
    st.query_params["ring"] = ring_id
    actor = current_actor()
    header(r)
    flash()
    events = history(driver, ring_id)
    left, right = st.columns([3.3, 1], gap="medium")
    with left:
        waiting = awaiting(driver, ring_id) if r.get("status") in DECIDED_STATUSES else []
        if waiting:
            widgets.awaiting_panel(r, waiting, actor)
        tabs = st.tabs(["Graph", "Members", "Activity", "Features", f"History ({len(events)})"])
        with tabs[0]:
            graph_tab(driver, r)  # a fragment: an expansion reruns it alone
            views_panel(driver, ring_id, f"ring:{ring_id}")  # outside it: a saved view reruns the page (its flash)
        with tabs[1]:
            members_tab(driver, ring_id)
        with tabs[2]:
            activity_tab(driver, ring_id)
        with tabs[3]:
            features_tab(r)
        with tabs[4]:
            history_tab(r, events, actor)
    with right:
        cases.case_panel(driver, r, actor)
        decisions_column(r, events, actor)


if __name__ == "__main__":
    render(data.get_driver())
