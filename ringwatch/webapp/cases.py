"""Case work in the app: a ring's case (assignee, state, comments) and bulk assignment from the queue.

  case_panel            the ring page's case box: who has it, its state, "Assign to me", comments
  submit_assign         assign rings (one, or the queue's selection) to a user, or unassign them
  submit_state          move a ring's case to another state
  submit_comment        add a comment (analysts and leads; viewers read)
  bulk_assign_form      the queue's "assign the selected rings" form
  assignees             whom a ring can be given to (enabled analysts and leads, and the user)

Every change goes through graph.review.cases as the logged-in Actor, which checks the role
again and writes the audit event in the same transaction; callbacks leave their outcome
in st.session_state["flash"].
"""

from __future__ import annotations

import html

import streamlit as st
from neo4j.exceptions import Neo4jError

from graph.review import cases
from graph.review.actors import Actor, PermissionDenied
from graph.review.users import list_users
from ringwatch.webapp import data
from ringwatch.webapp.auth import current_actor
from ringwatch.webapp.layout import fmt_time

NOBODY = "nobody (unassign)"
COMMENTS_SHOWN = 50


def _changed(call, failed: str):
    """Run a case change; on failure flash why (prefixed by `failed`) and return None."""
    try:
        result = call()
    except (cases.CaseError, PermissionDenied) as e:
        st.session_state["flash"] = ("error", f"{failed}: {e}.")
    except data.DB_ERRORS + (Neo4jError,) as e:
        st.session_state["flash"] = ("error", f"{failed}, the database failed: {e}")
    else:
        return True if result is None else result
    return None


def submit_assign(rings: list[str] | None, assignee: str | None, picked_key: str | None = None) -> None:
    """Give `rings` (or the rings picked in the multiselect `picked_key`) to `assignee` (None: unassign)."""
    s = st.session_state
    chosen = list(rings if rings is not None else s.get(picked_key) or [])
    n = _changed(lambda: cases.assign(data.get_driver(), current_actor(), chosen, assignee), "Not assigned")
    if n is None:
        return
    who = f"to {assignee}" if assignee else "to nobody"
    what = chosen[0] if len(chosen) == 1 else f"{len(chosen)} rings"
    s["flash"] = ("ok", f"Assigned {what} {who}" + ("" if n == len(chosen) else f" ({n} changed)") + ".")
    data.forget_reads()


def submit_bulk_assign() -> None:
    """The queue's bulk form: the picked rings to the picked user."""
    s = st.session_state
    who = s.get("bulk_assignee")
    submit_assign(None, None if who in (None, NOBODY) else who, "bulk_rings")
    if s.get("flash", ("",))[0] == "ok":
        s["bulk_rings"] = []


def submit_state(ring_id: str) -> None:
    s = st.session_state
    state = s.get(f"case_state_pick:{ring_id}")
    if _changed(lambda: cases.set_state(data.get_driver(), current_actor(), ring_id, state), "State not changed"):
        s["flash"] = ("ok", f"Case {ring_id} is now {state}.")


def submit_comment(ring_id: str) -> None:
    s = st.session_state
    text = s.get(f"case_comment:{ring_id}") or ""
    if _changed(lambda: cases.comment(data.get_driver(), current_actor(), ring_id, text), "Comment not added"):
        s["flash"] = ("ok", f"Comment added to {ring_id}.")
        s[f"case_comment:{ring_id}"] = ""


def assignees(driver, actor: Actor) -> list[str]:
    """Enabled local analysts and leads, and the logged-in user (an SSO user has no local account)."""
    try:
        names = {u["name"] for u in list_users(driver) if not u.get("disabled") and u.get("role") != "viewer"}
    except Neo4jError:
        names = set()
    return sorted(names | {actor.name})


def _status_line(assignee: str | None, state: str) -> None:
    who = html.escape(assignee) if assignee else "nobody"
    st.markdown(
        f"<div class='rw-case' data-assignee='{html.escape(assignee or '')}' data-state='{html.escape(state)}'>"
        f"Assigned to <b>{who}</b> · <b>{html.escape(state)}</b></div>",
        unsafe_allow_html=True,
    )


def _controls(ring_id: str, assignee: str | None, state: str, actor: Actor) -> None:
    # the panel's full width: in half of the narrow right column "Assign to me" was cut to "Assign ..."
    if assignee != actor.name:
        st.button(
            "Assign to me", key="case_assign_me", on_click=submit_assign, args=([ring_id], actor.name), width="stretch"
        )
    else:
        st.button("Unassign", key="case_unassign", on_click=submit_assign, args=([ring_id], None), width="stretch")
    key = f"case_state_pick:{ring_id}"
    if st.session_state.get(f"case_state_seen:{ring_id}") != state:  # the case moved: the picker follows it
        st.session_state[f"case_state_seen:{ring_id}"] = state
        st.session_state[key] = state
    with st.form(f"case_state:{ring_id}", border=False):
        st.selectbox("Case state", cases.CASE_STATES, key=key)
        st.form_submit_button("Set state", on_click=submit_state, args=(ring_id,), key="case_state_btn")


def _comments(driver, ring_id: str) -> None:
    rows = cases.comments(driver, ring_id, limit=COMMENTS_SHOWN)
    st.markdown(f"**Comments ({len(rows)}{'+' if len(rows) == COMMENTS_SHOWN else ''})**")
    if not rows:
        st.caption("No comments yet.")
    for c in rows:
        st.markdown(
            f"<div class='rw-event rw-comment'><span class='rw-meta'>{html.escape(c['actor'] or '')} "
            f"({html.escape(c['role'] or '')}), {fmt_time(c['at'])} UTC</span><br>"
            f"{html.escape(c['text'] or '')}</div>",
            unsafe_allow_html=True,
        )


def case_panel(driver, r: dict, actor: Actor) -> None:
    """The ring's case: assignee and state (with "Assign to me"), the comments, and the comment form."""
    ring_id = r["id"]
    assignee, state = r.get("assignee"), r.get("case_state") or "open"
    with st.container(border=True):
        st.markdown("**Case**")
        _status_line(assignee, state)
        if actor.can("comment"):
            _controls(ring_id, assignee, state, actor)
        _comments(driver, ring_id)
        if not actor.can("comment"):
            st.caption("Viewers read the case; analysts and leads assign, move and comment.")
            return
        with st.form(f"comment:{ring_id}", border=False):
            st.text_area("Add a comment", key=f"case_comment:{ring_id}", max_chars=cases.MAX_COMMENT, height=80)
            st.form_submit_button("Add comment", on_click=submit_comment, args=(ring_id,), key="comment_submit")


def bulk_assign_form(driver, ring_ids: list[str], selected: list[str], actor: Actor) -> None:
    """Assign several rings at once: the rings selected in the table (or picked here) to one user."""
    s = st.session_state
    if s.get("bulk_synced") != selected:  # a new table selection fills the picker (before it is drawn)
        s["bulk_synced"] = selected
        s["bulk_rings"] = [r for r in selected if r in ring_ids]
    s["bulk_rings"] = [r for r in s.get("bulk_rings") or [] if r in ring_ids]
    people = assignees(driver, actor)
    with st.form("bulk_assign", border=True):
        st.markdown("**Assign the selected rings**")
        c1, c2 = st.columns([3, 1.4])
        c1.multiselect("Rings", ring_ids, key="bulk_rings", placeholder="select rows in the table, or pick here")
        c2.selectbox("To", [*people, NOBODY], index=people.index(actor.name), key="bulk_assignee")
        st.form_submit_button("Assign", type="primary", on_click=submit_bulk_assign, key="bulk_assign_btn")
