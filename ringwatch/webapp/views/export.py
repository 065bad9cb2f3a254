"""Export: the block list as CSV and JSON downloads, the same files as `ringwatch export` (graph/library/export.py).

Only accounts a decision names are listed. Each download is an audit event (who, which
statuses, how many accounts, the file's SHA-256), as for `ringwatch export`.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pandas as pd
import streamlit as st
from neo4j.exceptions import Neo4jError

from graph.library.export import block_list, record_export
from graph.library.export import render as render_file
from graph.vocabulary import DECIDED_STATUSES
from ringwatch.webapp import data
from ringwatch.webapp.auth import current_actor

SHOWN_ROWS = 500


def record_download(statuses: list[str], frame: pd.DataFrame, fmt: str, text: str) -> None:
    """A download button's callback: the export's audit event (a failure is shown, the file was served anyway)."""
    sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()
    try:
        record_export(data.get_driver(), current_actor(), statuses, frame, fmt, sha256, target="app download")
    except data.DB_ERRORS + (Neo4jError,) as e:
        st.session_state["export_error"] = f"The download was not recorded in the audit trail: {e}"


def render(driver) -> None:
    st.title("Export the block list")
    st.caption(
        "The same files as `ringwatch export` (graph/library/export.py): every account a decision gave one of "
        "these statuses (accounts that joined a decided ring later are not on it until the decision is extended)."
    )
    error = st.session_state.pop("export_error", None)
    if error:
        st.error(error)
    c1, c2 = st.columns([3, 1])
    statuses = c1.multiselect("Statuses", DECIDED_STATUSES, default=["blocked"], key="x_status") or ["blocked"]
    min_score = c2.number_input("Minimum ring score (0 = any)", 0.0, 1.0, 0.0, 0.05, key="x_min_score")
    frame = block_list(driver, statuses, min_score or None)
    csv_text, json_text = render_file(frame, "csv"), render_file(frame, "json")
    st.session_state["export_csv"] = csv_text  # what the buttons offer (checked by the tests)
    st.session_state["export_json"] = json_text
    m1, m2 = st.columns(2)
    m1.metric("Accounts", f"{len(frame):,}")
    m2.metric("Rings", f"{frame['ring_id'].nunique():,}")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    b1, b2, _ = st.columns([1, 1, 3])
    b1.download_button(
        "Download CSV",
        csv_text,
        file_name=f"block-list-{stamp}.csv",
        mime="text/csv",
        key="dl_csv",
        type="primary",
        on_click=record_download,
        args=(statuses, frame, "csv", csv_text),
    )
    b2.download_button(
        "Download JSON",
        json_text,
        file_name=f"block-list-{stamp}.json",
        mime="application/json",
        key="dl_json",
        on_click=record_download,
        args=(statuses, frame, "json", json_text),
    )
    st.dataframe(frame.head(SHOWN_ROWS), hide_index=True, width="stretch")
    if len(frame) > SHOWN_ROWS:
        st.caption(f"First {SHOWN_ROWS} of {len(frame):,} rows shown; the downloads hold all of them.")


if __name__ == "__main__":
    render(data.get_driver())
