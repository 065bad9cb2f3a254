"""The ring queue: rings by score with status, size, age, change since the last run and the reason."""

from __future__ import annotations

import hashlib
import math

import pandas as pd
import streamlit as st

from graph.investigate import queue as iq
from graph.review.actors import Actor
from graph.review.cases import CASE_STATES
from graph.vocabulary import DEFAULT_QUEUE_STATUSES, RING_STATUSES
from ringwatch.webapp import cases, data
from ringwatch.webapp.auth import current_actor
from ringwatch.webapp.layout import STATUS_COLOUR, change_text
from ringwatch.webapp.state import flash, open_ring, open_selected_ring

COLUMNS = {
    "score": st.column_config.ProgressColumn("score", min_value=0.0, max_value=1.0, format="%.2f", width="small"),
    "size": st.column_config.NumberColumn("size", width="small"),
    "reason": st.column_config.TextColumn("reason", width="large"),
    "change": st.column_config.TextColumn("change", width="small", help="since the last detection run"),
    "capabilities": st.column_config.TextColumn("capabilities", width="medium"),
    "ring": st.column_config.TextColumn("ring", width="small"),
    "assignee": st.column_config.TextColumn("assignee", width="small"),
    "case": st.column_config.TextColumn("case", width="small", help="open · in progress · decided"),
    "review": st.column_config.TextColumn(
        "review",
        width="medium",
        help="needs review (members changed a lot since the decision) · waiting for approval (a large block "
        "needs a second lead) · members awaiting review (joined after the decision, not covered by it)",
    ),
}


CASE_FILTERS = ("all cases", "assigned to me", "unassigned")


def filters(caps: list[str], actor: Actor) -> iq.QueueFilter:
    with st.container(border=True):
        c1, c2, c3, c4, c5 = st.columns([3, 2, 1.2, 1.2, 2])
        statuses = c1.multiselect(
            "Status",
            RING_STATUSES,
            default=list(DEFAULT_QUEUE_STATUSES),
            key="f_status",
            help="`watch` rings scored below the threshold; add it to see them.",
        )
        min_score = c2.slider("Minimum score", 0.0, 1.0, 0.0, 0.05, key="f_score")
        min_size = c3.number_input("Min size", 0, 1_000_000, 0, key="f_min_size")
        max_size = c4.number_input("Max size (0 = any)", 0, 1_000_000, 0, key="f_max_size")
        capability = c5.selectbox("Capability in traffic", ["any", *caps], key="f_cap")
        d1, d2, d3 = st.columns([2, 2, 3])
        whose = d1.selectbox("Cases", CASE_FILTERS, key="f_case")
        case_state = d2.selectbox("Case state", ["any", *CASE_STATES], key="f_case_state")
        d3.write("")
        changed = d3.checkbox("Only new or grown since the last run", key="f_changed")
    return iq.QueueFilter(
        tuple(statuses),
        min_score,
        int(min_size),
        int(max_size) or None,
        None if capability == "any" else capability,
        changed,
        assignee=actor.name if whose == "assigned to me" else None,
        unassigned=whose == "unassigned",
        case_state=None if case_state == "any" else case_state,
    )


def table(frame: pd.DataFrame) -> pd.DataFrame:
    """The queue as shown: one row per ring."""
    return pd.DataFrame(
        {
            "ring": frame["id"],
            "status": frame["status"],
            "score": frame["score"].astype(float),
            "size": frame["size"].astype(int),
            "change": [change_text(r) for r in frame.itertuples()],
            "review": frame["flags"],
            "assignee": frame["assignee"].fillna(""),
            "case": frame["case_state"],
            "age": frame["age"],
            "reason": frame["reason"],
            "capabilities": frame["top_capabilities"],
            "decided": frame["decided"],
        }
    )


def styled(frame: pd.DataFrame, show: pd.DataFrame):
    """New rings yellow, grown rings red, statuses in their colour."""
    flags = [
        "new" if r.is_new else ("grown" if (r.growth or 0) > 0 or r.new_members else "") for r in frame.itertuples()
    ]

    def highlight(row):
        colour = {"new": "background-color: #fff3cd", "grown": "background-color: #ffe0db"}.get(flags[row.name], "")
        return [colour] * len(row)

    def status_colour(value):
        return f"color: {STATUS_COLOUR.get(value, '#222')}; font-weight: 600"

    return show.style.apply(highlight, axis=1).map(status_colour, subset=["status"]).format({"score": "{:.2f}"})


def selected_rows(event) -> list[int]:
    return list(getattr(getattr(event, "selection", None), "rows", []) or []) if event is not None else []


def queue_table(frame: pd.DataFrame, filter_key: str, bulk: bool):
    """The queue as a table: one selected row opens its ring, or (bulk) several rows feed the assign form."""
    show = table(frame)
    return st.dataframe(
        styled(frame, show),
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="multi-row" if bulk else "single-row",
        key=f"queue_table:{filter_key}:{'bulk' if bulk else 'open'}",
        column_config=COLUMNS,
        height=min(38 + 35 * len(show), 620),
    )


def open_picked(frame: pd.DataFrame, filter_key: str, rows: list[int]) -> None:
    """A row selected in the table opens its ring (once per selection)."""
    picked = frame["id"].iloc[rows[0]]
    if st.session_state.get("queue_picked") != (filter_key, picked):
        st.session_state["queue_picked"] = (filter_key, picked)
        open_ring(picked)
        st.rerun()


def open_ring_picker(frame: pd.DataFrame) -> None:
    c1, c2 = st.columns([4, 1])
    labels = {r.id: f"{r.id} · {r.status} · score {r.score:.2f} · {int(r.size)} accounts" for r in frame.itertuples()}
    choice = c1.selectbox("Open ring", list(frame["id"]), key="open_ring_select", format_func=labels.get)
    c2.write("")
    # the callback reads the selectbox's current value (args would hold the previous run's choice)
    c2.button(
        "Open ring",
        key="open_ring_btn",
        type="primary",
        on_click=open_selected_ring,
        args=("open_ring_select",),
        disabled=choice is None,
    )


def render(driver) -> None:
    st.title("Ring queue")
    actor = current_actor()
    flash()
    flt = filters(iq.capabilities(driver), actor)
    counts = iq.queue_count(driver, flt)
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Rings in queue", f"{counts['rings']:,}")
    m2.metric("Accounts", f"{counts['accounts']:,}")
    m3.metric("New rings (this run)", counts["new_rings"])
    m4.metric("Grown since last run", counts["grown_rings"])
    pages = max(1, math.ceil(counts["rings"] / iq.QUEUE_LIMIT))
    page = 0
    if pages > 1:
        page = st.number_input(f"Page (of {pages}, {iq.QUEUE_LIMIT} rings each)", 1, pages, 1, key="queue_page") - 1
    frame = iq.queue(driver, flt, skip=page * iq.QUEUE_LIMIT)
    if frame.empty:
        st.info("No ring matches these filters." + ("" if "watch" in flt.statuses else " `watch` rings are hidden."))
        return
    can_assign = actor is not None and actor.can("comment")
    bulk = can_assign and st.toggle("Select several rings to assign them", key="bulk_mode")
    filter_key = hashlib.sha256(repr(flt).encode() + str(page).encode()).hexdigest()[:8]
    rows = selected_rows(queue_table(frame, filter_key, bulk))
    st.caption(
        "Yellow rows: new this run (NEW) · red rows: grown since the last run (▲ size change, "
        "+ new members) · review: what a decided ring still needs. "
        + ("Select rows to assign them below." if bulk else "Select a row to open the ring.")
    )
    if bulk:
        cases.bulk_assign_form(driver, list(frame["id"]), [frame["id"].iloc[i] for i in rows], actor)
    elif rows:
        open_picked(frame, filter_key, rows)
    open_ring_picker(frame)


if __name__ == "__main__":
    render(data.get_driver())
