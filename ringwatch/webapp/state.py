"""Session state and navigation between the app's pages.

Buttons that move to another page do it in a callback (`go`, `open_ring`): the move is
stored and applied at the start of the next run by `apply_goto`, before any widget is
drawn (a callback cannot switch pages itself). `flash` carries a one-line outcome (a
decision recorded, or why not) across that rerun.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

QUEUE, RING, SEARCH, QUERIES, EXPORT = "Ring queue", "Ring", "Search", "Queries", "Export"
PAGES = (QUEUE, RING, SEARCH, QUERIES, EXPORT)


def state(key: str, default: Any) -> Any:
    """st.session_state[key], set to `default` first if missing."""
    if key not in st.session_state:
        st.session_state[key] = default
    return st.session_state[key]


def go(page: str, **values: Any) -> None:
    """Switch to `page` (and set state); applied at the start of the next run, before any widget is drawn."""
    st.session_state["_goto"] = (page, values)


def apply_goto() -> str | None:
    """Apply a pending `go`: set its values, return the page to switch to (None when nothing is pending)."""
    pending = st.session_state.pop("_goto", None)
    if not pending:
        return None
    page, values = pending
    for k, v in values.items():
        st.session_state[k] = v
    return page


def open_ring(ring_id: str) -> None:
    go(RING, ring_id=ring_id)


def open_selected_ring(widget_key: str) -> None:
    """Open the ring chosen in a selectbox (the callback reads its current value, not the previous run's)."""
    ring_id = st.session_state.get(widget_key)
    if ring_id:
        open_ring(ring_id)


def flash() -> None:
    """Show (once) the outcome a callback left for this run."""
    msg = st.session_state.pop("flash", None)
    if msg:
        kind, text = msg
        (st.success if kind == "ok" else st.error)(text)
