"""The app's entry: page set-up, log-in, navigation between the pages, the sidebar, and the database guard.

`streamlit run app.py` (the repository's entry) and `streamlit run ringwatch/webapp/main.py`
(an installed package) both end in `run()`. Each run: page config and CSS; until someone
logs in, only the login page (views/login.py); then a pending page switch applied
(state.apply_goto), the sidebar (who is logged in, Log out, the data's origin), a banner
when the audit trail does not verify, and the chosen page, all inside a guard that turns
a lost database into a banner with a Retry button instead of a traceback.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from neo4j.exceptions import Neo4jError

from graph.db.connection import resolve_target
from graph.review.actors import Actor
from ringwatch.webapp import auth, data
from ringwatch.webapp.layout import CSS, fmt_time, md_escape
from ringwatch.webapp.state import EXPORT, QUERIES, QUEUE, RING, SEARCH, apply_goto, go

VIEWS = Path(__file__).resolve().parent / "views"
PAGE_FILES = {
    QUEUE: ("queue.py", ":material/format_list_numbered:"),
    RING: ("ring.py", ":material/hub:"),
    SEARCH: ("search.py", ":material/search:"),
    QUERIES: ("queries.py", ":material/terminal:"),
    EXPORT: ("export.py", ":material/download:"),
}


LOGIN = ("login.py", ":material/login:")


def pages() -> dict[str, st.Page]:
    """The app's pages by title, each a file in views/ (the queue is the default one)."""
    return {
        title: st.Page(VIEWS / file, title=title, icon=icon, default=title == QUEUE)
        for title, (file, icon) in PAGE_FILES.items()
    }


def boot() -> None:
    """On a session's first run, a `?ring=R-000042`, `?view=ID` (a saved view) or `?search=...` link opens
    that ring, view or search."""
    if "booted" in st.session_state:
        return
    st.session_state["booted"] = True
    params = st.query_params
    if params.get("view"):
        go(RING, view_id=str(params["view"]))
        del st.query_params["view"]
    elif params.get("ring"):
        go(RING, ring_id=str(params["ring"]))
    elif params.get("search"):
        go(SEARCH, search_text=str(params["search"]), search_for=str(params["search"]))


def sidebar_header(actor: Actor) -> None:
    with st.sidebar:
        st.markdown("## ringwatch")
        st.caption("fake-account ring investigator")
        via = " via single sign-on" if actor.channel == "sso" else ""
        st.markdown(f"Logged in as **{md_escape(actor.name)}** ({actor.role}){via}")
        st.button("Log out", key="logout", on_click=auth.log_out, icon=":material/logout:")
        ring_id = st.session_state.get("ring_id")
        if ring_id:
            st.caption(f"Open ring: **{md_escape(ring_id)}**")


def audit_banner() -> None:
    """A warning on every page while the audit trail does not verify (checked at most once a minute)."""
    problem = data.audit_problem()
    if problem:
        st.warning(
            f"**The audit trail does not verify**: {problem}. Decisions may have been altered outside "
            "the app: tell a lead (`ringwatch audit verify`).",
            icon=":material/gpp_bad:",
        )


def sidebar_figures() -> None:
    """Where the data comes from: the database, the last detection run, rings per status (cached)."""
    with st.sidebar:
        st.caption(f"Database: {resolve_target().describe()}")
        run, counts = data.sidebar_figures()
        if run:
            st.caption(
                f"Last detection run {fmt_time(run['at'])} UTC ({run['backend']}): "
                f"{run['rings']} rings, {run['flagged']:,} accounts flagged"
            )
        if len(counts):
            st.caption(
                "Rings: " + " · ".join(f"{s} {n}" for s, n in zip(counts["status"], counts["rings"], strict=True))
            )


def navigate() -> st.Page:
    """The page to show this run; a pending switch (a button's callback) is applied first."""
    registry = pages()
    page = st.navigation(list(registry.values()))
    target = apply_goto()
    if target is not None and target != page.title:
        st.switch_page(registry[target])  # reruns on the target page
    st.session_state["nav"] = page.title
    return page


def guarded(banner, show) -> None:
    """Run `show()`; a lost database or a refused query becomes one line (and Retry) in `banner`."""
    try:
        show()
    except data.DB_ERRORS as e:
        with banner:
            data.db_banner(e)
    except Neo4jError as e:
        with banner:
            st.error(
                f"The database refused a query: {e.message or e}. Try again; if it persists, check the logs "
                "(`ringwatch db logs`)."
            )


def login_only() -> None:
    """Nobody is logged in: the login page is the only page there is."""
    page = st.navigation([st.Page(VIEWS / LOGIN[0], title="Log in", icon=LOGIN[1], default=True)], position="hidden")
    banner = st.container()
    guarded(banner, page.run)


def run() -> None:
    st.set_page_config(page_title="ringwatch", page_icon=":material/hub:", layout="wide")
    st.markdown(CSS, unsafe_allow_html=True)
    boot()
    actor = auth.current_actor()
    if actor is None:
        login_only()
        return
    page = navigate()
    sidebar_header(actor)
    banner = st.container()

    def show() -> None:
        data.get_driver()
        audit_banner()
        sidebar_figures()
        if page.title != RING and "ring" in st.query_params:
            del st.query_params["ring"]
        page.run()

    guarded(banner, show)


if __name__ == "__main__":
    run()
