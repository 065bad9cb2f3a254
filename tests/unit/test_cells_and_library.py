"""Safe CSV cells and the query library's typed parameters (no database)."""

from __future__ import annotations

import datetime as dt

import neo4j.time
import pandas as pd
import pytest

from graph.library import catalog
from graph.library.cells import neutralise, to_csv, to_json


@pytest.mark.parametrize("value", ["=1+1", "+cmd", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_formula_cells_become_text(value):
    assert neutralise(value) == "'" + value


def test_other_values_pass_unchanged():
    assert [neutralise(v) for v in ("alice", "a=b", 5, None)] == ["alice", "a=b", 5, None]


def test_csv_neutralises_text_columns_and_json_stays_exact():
    frame = pd.DataFrame({"who": ["=HYPERLINK(1)", "bob"], "n": [1, 2]})
    assert to_csv(frame).splitlines() == ["who,n", "'=HYPERLINK(1),1", "bob,2"]
    assert '"=HYPERLINK(1)"' in to_json(frame)


def test_parameters_are_coerced_by_their_declared_type():
    assert catalog.coerce("5", "int") == 5
    assert catalog.coerce("yes", "bool") is True
    assert catalog.coerce("blocked,confirmed", "list") == ["blocked", "confirmed"]
    assert catalog.coerce('["a", 2]', "list") == ["a", 2]
    assert catalog.coerce("2026-01-01", "date") == neo4j.time.Date(2026, 1, 1)
    got = catalog.coerce("2026-01-01T10:00:00", "datetime")
    assert got.to_native() == dt.datetime(2026, 1, 1, 10, tzinfo=dt.UTC)
    assert catalog.coerce("null", "int") is None
    with pytest.raises(catalog.LibraryError):
        catalog.coerce("five", "int")


def test_every_library_query_parses_and_declares_its_writes():
    queries = catalog.list_queries()
    assert {"block-list", "awaiting-review", "ring-decisions"} <= {q.name for q in queries}
    assert all(q.writes is False for q in queries)
    assert catalog.load("block-list").returns[-2:] == ["decision_id", "approved_by"]


@pytest.mark.parametrize(
    "text",
    [
        "LOAD CSV FROM 'file:///etc/passwd' AS row RETURN row",
        "load  csv with headers from 'http://x' as r return r",
        "CALL dbms.setConfigValue('db.logs.query.enabled', 'OFF')",
        "RETURN dbms.components()",
        "CALL apoc.load.json('file:///x') YIELD value RETURN value",
        "CALL gds.graph.drop('g')",
        "MATCH (n) CALL db.create.setNodeVectorProperty(n, 'v', [1]) RETURN n",
    ],
)
def test_statements_that_reach_outside_the_graph_need_write(text):
    assert catalog.outside_reach(text) is not None


@pytest.mark.parametrize(
    "text",
    [
        "MATCH (t:PromptTemplate {hash: 'LOAD CSV'}) RETURN t",  # in a string: data, not code
        "// LOAD CSV is not used here\nMATCH (n) RETURN n",
        "CALL db.labels() YIELD label RETURN label",
        "CALL gds.leiden.stream('g') YIELD nodeId RETURN nodeId",
        "MATCH (r:Ring) CALL (r) { MATCH (r)<-[:MEMBER_OF]-(a) RETURN count(a) AS n } RETURN r, n",
    ],
)
def test_plain_reads_pass(text):
    assert catalog.outside_reach(text) is None


def test_the_library_itself_stays_within_reach():
    assert [q.name for q in catalog.list_queries() if catalog.outside_reach(q.text)] == []
