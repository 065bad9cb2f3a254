"""Search: an account id, IP address, payment fingerprint, template hash (or prefix), proxy name, ASN or ring id;
one exact match lands on the entity (properties, the rings it touches, its neighbourhood as a graph)."""

from __future__ import annotations

import streamlit as st

from graph.investigate import search as isr
from graph.investigate import subgraph as sg
from graph.vocabulary import KIND_NAMES
from ringwatch.webapp import data, widgets
from ringwatch.webapp.layout import fmt_time, md_escape
from ringwatch.webapp.state import open_ring, open_selected_ring

RING_COLUMNS = {
    "reason": st.column_config.TextColumn(width="large"),
    "score": st.column_config.NumberColumn(format="%.2f"),
}


def search_box() -> bool:
    """The search form; True when it was just submitted."""
    with st.form("search_form", border=False):
        c1, c2 = st.columns([5, 1])
        c1.text_input(
            "Account id, IP address, payment fingerprint, template hash, proxy name, ASN or ring id",
            key="search_text",
            placeholder="e.g. 203.0.113.7 or acct_… or a template hash prefix",
        )
        c2.write("")
        return c2.form_submit_button("Search", type="primary", key="search_btn")


def pick_match(driver, query: str) -> bool:
    """Resolve `query` to one entity (stored as st.session_state["entity"]); False while the analyst
    still has to choose among several matches (or nothing matched)."""
    hits = isr.search(driver, query)
    if hits.empty:
        st.warning(f"Nothing matches {md_escape(repr(query))}.")
        return False
    exact = hits[hits["exact"]]
    if len(exact) == 1 or len(hits) == 1:
        hit = (exact if len(exact) == 1 else hits).iloc[0]
        st.session_state["entity"] = (hit["kind"], hit["key"])
        return True
    st.caption(f"{len(hits)} matches")
    options = [f"{k}|{v}" for k, v in zip(hits["kind"], hits["key"], strict=True)]
    pick = st.selectbox(
        "Matches",
        options,
        key="search_pick",
        format_func=lambda o: f"{KIND_NAMES[o.split('|')[0]]} · {o.split('|', 1)[1]}",
    )
    if st.button("Open", key="search_open", type="primary"):
        kind, key = pick.split("|", 1)
        st.session_state["entity"] = (kind, key)
        st.rerun()
    return False


def entity_view(driver, kind: str, key: str) -> None:
    if kind == "ring":
        st.info(f"{md_escape(key)} is a ring.")
        st.button(f"Open ring {key}", key="entity_open_ring", type="primary", on_click=open_ring, args=(key,))
        return
    info = isr.entity(driver, kind, key)
    if info is None:
        st.warning(f"No {md_escape(KIND_NAMES.get(kind, kind))} {md_escape(key)}.")
        return
    name = KIND_NAMES.get(kind, kind)
    st.subheader(f"{name[:1].upper()}{name[1:]} {key}")
    props = {k: (fmt_time(v) if hasattr(v, "to_native") else v) for k, v in info["props"].items()}
    st.caption(" · ".join(f"**{k}**: {v}" for k, v in props.items()) + f" · **links**: {info['degree']:,}")
    touching = isr.rings_touching(driver, kind, key)
    if len(touching):
        st.markdown(f"**Rings it touches** ({len(touching)})")
        st.dataframe(touching, hide_index=True, width="stretch", column_config=RING_COLUMNS)
        c1, c2 = st.columns([4, 1])
        c1.selectbox("Ring", list(touching["ring"]), key="touch_ring")
        c2.write("")
        c2.button("Open ring", key="touch_open", type="primary", on_click=open_selected_ring, args=("touch_ring",))
    else:
        st.caption("No ring touches it.")
    ctx = f"entity:{kind}:{key}"
    g = st.session_state.get(f"graph:{ctx}")
    if g is None:
        g = sg.entity_graph(driver, kind, key)
        st.session_state[f"graph:{ctx}"] = g
    widgets.graph_panel(driver, g, ctx)


def render(driver) -> None:
    st.title("Search")
    submitted = search_box()
    text = (st.session_state.get("search_text") or "").strip()
    if submitted:
        st.session_state.pop("entity", None)
        st.session_state["search_for"] = text
    query = st.session_state.get("search_for")
    if query and "entity" not in st.session_state and not pick_match(driver, query):
        return
    ent = st.session_state.get("entity")
    if ent:
        entity_view(driver, *ent)


if __name__ == "__main__":
    render(data.get_driver())
