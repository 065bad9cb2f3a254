"""The query library as the app runs it: read-only, bounded in rows and time, results as frames.

  run_read_only   a library query's first `limit` rows (catalog.stream in a READ transaction with the
                  app's timeout; a query marked `@writes: true`, or one the planner sees writing, is refused)
  display_frame   rows as a table to show (lists and maps as JSON text)
  csv_frame       rows as the CLI's CSV writes them (lists and maps as JSON, true/false), for cells.to_csv
  result_graph    the nodes and relationships in the rows (to draw), if any

Parameters are bound by graph.library.catalog.bind and always travel as Cypher parameters.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import neo4j
import pandas as pd

from graph.db.connection import session
from graph.investigate.reads import QUERY_TIMEOUT_S
from graph.library import catalog

ROW_LIMIT = 1000


class ReadOnlyRefused(catalog.LibraryError):
    """The app runs only queries that read; this one writes."""


@dataclass
class Result:
    keys: list[str]
    rows: list[dict[str, Any]]
    truncated: bool  # more rows than the limit: the rest were not fetched


def run_read_only(driver: neo4j.Driver, query: catalog.Query, params: dict[str, Any], limit: int = ROW_LIMIT) -> Result:
    """The first `limit` rows of `query`, in a READ transaction with the app's timeout; never writes."""
    if query.writes:
        raise ReadOnlyRefused(f"{query.name} writes (@writes: true); the app runs only queries that read")
    with session(driver) as s, s.begin_transaction(timeout=QUERY_TIMEOUT_S) as tx:
        try:
            keys, rows = catalog.stream(tx, query, params, allow_write=False)
        except catalog.WritesError as e:
            raise ReadOnlyRefused(f"{query.name} writes; the app runs only queries that read") from e
        got = list(islice(rows, limit + 1))
        tx.rollback()  # nothing to keep; the rows beyond the limit are dropped with it
    return Result(keys, got[:limit], len(got) > limit)


def _json_cell(value: Any) -> Any:
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return value


def display_frame(result: Result) -> pd.DataFrame:
    """The rows as shown: one column per key, lists and maps as JSON text."""
    return pd.DataFrame([{k: _json_cell(r[k]) for k in result.keys} for r in result.rows], columns=result.keys)


def _csv_cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return _json_cell(value)


def csv_frame(result: Result) -> pd.DataFrame:
    """The rows as `ringwatch query run --format csv` writes them (cells.to_csv neutralises the text)."""
    rows = [{k: _csv_cell(r[k]) for k in result.keys} for r in result.rows]
    return pd.DataFrame(rows, columns=result.keys, dtype=object)


@dataclass
class ResultGraph:
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)  # _id -> node (labels, properties)
    edges: dict[str, dict[str, Any]] = field(default_factory=dict)  # _id -> relationship (_type, _start, _end)


def _collect(value: Any, g: ResultGraph) -> None:
    if isinstance(value, list):
        for v in value:
            _collect(v, g)
    elif isinstance(value, dict):
        if "_labels" in value and "_id" in value:
            g.nodes.setdefault(value["_id"], value)
        elif "_type" in value and "_start" in value:
            g.edges.setdefault(value["_id"], value)
        elif "nodes" in value and "relationships" in value:
            _collect(value["nodes"], g)
            _collect(value["relationships"], g)


def result_graph(result: Result) -> ResultGraph:
    """Every node and relationship in the rows (catalog.to_plain's forms, paths included); relationships
    whose ends are not both in the result are dropped."""
    g = ResultGraph()
    for row in result.rows:
        for value in row.values():
            _collect(value, g)
    g.edges = {k: e for k, e in g.edges.items() if e["_start"] in g.nodes and e["_end"] in g.nodes}
    return g


def node_caption(node: dict[str, Any]) -> str:
    """A short caption: the first of id, address, hash, fingerprint, name, else the label."""
    for key in ("id", "address", "hash", "fingerprint", "name", "number"):
        if node.get(key) is not None:
            return str(node[key])[:24]
    return (node.get("_labels") or ["?"])[0]
