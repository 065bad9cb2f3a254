"""The query library (queries/*.cypher) in the app: pick a query, fill the form its `@param` header
describes, run it read-only (at most 1,000 rows, the app's 20 s timeout), see the table (and a graph
when the rows hold nodes and relationships), download CSV (formula-safe, as `ringwatch query run`).

A query marked `@writes: true` is listed but not run; a bad value is one line naming the parameter."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import streamlit as st
from neo4j.exceptions import ClientError, DatabaseError, TransientError

from graph.investigate import library as il
from graph.library import catalog
from graph.library.cells import to_csv
from ringwatch.webapp import charts, data

TYPE_HELP = {
    "int": "a whole number",
    "float": "a number",
    "string": "text",
    "date": "a day, 2026-01-01",
    "datetime": "ISO-8601, 2026-01-01T10:00:00Z (no zone = UTC)",
    "list": 'comma-separated (blocked,confirmed) or JSON (["blocked"])',
}


@st.cache_data(ttl=60, show_spinner=False)
def library() -> list[catalog.Query]:
    return catalog.list_queries()


def catalogue(queries: list[catalog.Query]) -> None:
    st.dataframe(
        pd.DataFrame(
            {
                "query": [q.name for q in queries],
                "answers": [q.summary for q in queries],
                "parameters": [", ".join(p.signature() for p in q.params.values()) or "–" for q in queries],
                "writes": ["yes" if q.writes else "no" for q in queries],
            }
        ),
        hide_index=True,
        width="stretch",
        column_config={"answers": st.column_config.TextColumn(width="large")},
    )


def field(query: catalog.Query, p: catalog.Param) -> Any:
    """One form field for parameter `p`, by its declared type; returns what was entered (None: left empty)."""
    key = f"qp:{query.name}:{p.name}"
    label = f"{p.name} ({p.type})" + ("" if p.required else "")
    help_ = " · ".join(x for x in (p.help, TYPE_HELP.get(p.type, "")) if x) or None
    if p.type == "bool":
        return st.checkbox(label, value=bool(p.default), key=key, help=help_)
    if p.type == "int" and p.default is not None:
        return int(st.number_input(label, value=int(p.default), step=1, key=key, help=help_))
    if p.type == "float" and p.default is not None:
        return float(st.number_input(label, value=float(p.default), format="%g", key=key, help=help_))
    if p.type == "date" and p.default is not None:
        return st.date_input(label, value=p.default.to_native(), key=key, help=help_)
    default = "" if p.default_text in (None, "null") else p.default_text
    text = st.text_input(
        label + (" *" if p.required else ""),
        value=default,
        key=key,
        help=help_,
        placeholder="required" if p.required else "no value",
    )
    return text if text.strip() else None


def values_of(query: catalog.Query, entered: dict[str, Any]) -> dict[str, Any]:
    """The values to bind: what was entered; a required parameter left empty is an error (one line)."""
    missing = [p.name for p in query.params.values() if p.required and entered.get(p.name) is None]
    if missing:
        raise catalog.LibraryError(f"fill in {', '.join(missing)}")
    return {k: v for k, v in entered.items() if v is not None or not query.params[k].required}


def run(driver, query: catalog.Query, entered: dict[str, Any]) -> None:
    """Bind and run; the result (or one line saying why not) is kept in the session for this query."""
    s = st.session_state
    s.pop(f"q_error:{query.name}", None)
    try:
        params = catalog.bind(query, values=values_of(query, entered))
        s[f"q_result:{query.name}"] = il.run_read_only(driver, query, params)
    except catalog.LibraryError as e:
        s[f"q_error:{query.name}"] = str(e)
        s.pop(f"q_result:{query.name}", None)
    except (ClientError, DatabaseError, TransientError) as e:
        s[f"q_error:{query.name}"] = f"the database refused it: {(e.message or str(e)).splitlines()[0]}"
        s.pop(f"q_result:{query.name}", None)


def show_result(query: catalog.Query, result: il.Result) -> None:
    more = f" (the first {il.ROW_LIMIT:,}; more rows were left out)" if result.truncated else ""
    st.caption(f"{len(result.rows):,} rows{more}")
    frame = il.display_frame(result)
    st.dataframe(frame, hide_index=True, width="stretch", key=f"q_table:{query.name}")
    csv = to_csv(il.csv_frame(result))
    st.session_state[f"q_csv:{query.name}"] = csv
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    st.download_button(
        "Download CSV", csv, file_name=f"{query.name}-{stamp}.csv", mime="text/csv", key=f"q_download:{query.name}"
    )
    g = il.result_graph(result)
    if g.nodes:
        st.markdown(f"**The result as a graph** ({len(g.nodes)} nodes, {len(g.edges)} relationships)")
        st.altair_chart(charts.result_graph_chart(g), width="stretch")


def render(driver) -> None:
    st.title("Queries")
    st.caption(
        "The query library (`queries/*.cypher`, the same as `ringwatch query`). Queries run read-only, "
        f"at most {il.ROW_LIMIT:,} rows, cut after 20 s; values travel as Cypher parameters."
    )
    queries = library()
    catalogue(queries)
    by_name = {q.name: q for q in queries}
    name = st.selectbox("Query", list(by_name), key="q_pick", format_func=lambda n: f"{n} · {by_name[n].summary}")
    query = by_name[name]
    st.markdown(query.description.replace("\n", " "))
    if query.writes:
        st.warning("This query writes (`@writes: true`): the app does not run it. Use `ringwatch query run --write`.")
        return
    with st.form(f"q_form:{query.name}"):
        entered = {p.name: field(query, p) for p in query.params.values()}
        if not query.params:
            st.caption("No parameters.")
        submitted = st.form_submit_button("Run", type="primary", key="q_run")
    if submitted:
        run(driver, query, entered)
    error = st.session_state.get(f"q_error:{query.name}")
    if error:
        st.error(f"Not run: {error}.")
    result = st.session_state.get(f"q_result:{query.name}")
    if result is not None:
        show_result(query, result)
    with st.expander("Cypher"):
        st.code(query.text, language="cypher")


if __name__ == "__main__":
    render(data.get_driver())
