"""The import files' node numbers: each node's row in its label's file, relationships naming them.

The whole-graph comparison with an online load is tests/test_bulk.py; these check the
numbering itself, and that a key that is missing or given twice stops the writer (fold never
produces one, so either would be a bug, which the importer would no longer catch by text).
"""

from __future__ import annotations

import pandas as pd
import pyarrow.csv as pa_csv
import pytest

from ingest.bulk_files import BY_NAME, write_import_files

TEXT = "string[pyarrow]"


def _with_every_column(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with the output's other columns empty (text, or numbers for numbers and times)."""
    output = BY_NAME[name]
    for col, header in output.header.items():
        if col not in frame:
            numeric = col in output.times or header.endswith(":long")
            frame[col] = pd.Series(pd.NA, index=frame.index, dtype="Int64" if numeric else TEXT)
    return frame


def _graph() -> dict[str, pd.DataFrame]:
    # "shared" is both an account id and a template hash: each label numbers its own nodes
    accounts = pd.DataFrame({"account_id": ["a1", "shared", "a3"], "created_at": [0, 1000, 2000]}).astype(
        {"account_id": TEXT}
    )
    templates = pd.DataFrame({"template_hash": ["shared", "t2"]}).astype(TEXT)
    used = pd.DataFrame(
        {
            "account_id": ["a3", "shared", "a3"],
            "template_hash": ["t2", "shared", "shared"],
            "requests": [5, 6, 7],
            "first_seen": [0, 0, 0],
            "last_seen": [0, 0, 0],
        }
    ).astype({"account_id": TEXT, "template_hash": TEXT})
    graph = {"Account": accounts, "PromptTemplate": templates, "USED_TEMPLATE": used}
    return {name: _with_every_column(name, frame) for name, frame in graph.items()}


def test_relationships_name_nodes_by_their_row_in_their_label(tmp_path):
    files = write_import_files(_graph(), tmp_path)

    accounts = pa_csv.read_csv(tmp_path / "accounts.csv").to_pydict()
    assert accounts[":ID(Account)"] == [0, 1, 2]
    assert accounts["id"] == ["a1", "shared", "a3"]
    templates = pa_csv.read_csv(tmp_path / "templates.csv").to_pydict()
    assert templates[":ID(PromptTemplate)"] == [0, 1] and templates["hash"] == ["shared", "t2"]
    used = pa_csv.read_csv(tmp_path / "used_template.csv").to_pydict()
    assert used[":START_ID(Account)"] == [2, 1, 2]
    assert used[":END_ID(PromptTemplate)"] == [1, 0, 0]
    assert used["requests:long"] == [5, 6, 7]
    assert "--id-type=integer" in files.arguments()


def test_a_relationship_to_a_node_not_written_stops_the_writer(tmp_path):
    graph = _graph()
    graph["USED_TEMPLATE"].loc[1, "template_hash"] = "t9"
    with pytest.raises(ValueError, match="template_hash names 1 PromptTemplate node"):
        write_import_files(graph, tmp_path)


def test_a_key_given_twice_stops_the_writer(tmp_path):
    graph = _graph()
    graph["Account"].loc[2, "account_id"] = "a1"
    with pytest.raises(ValueError, match="Account: a key is given twice"):
        write_import_files(graph, tmp_path)
