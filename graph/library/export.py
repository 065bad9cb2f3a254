"""The block list: accounts of decided rings, as enforcement consumes it (CSV or JSON).

One query serves the CLI (`ringwatch export`) and the app's download buttons, so both
give the same file. An account is listed when its ring has one of the requested statuses
(default: blocked) and the account itself was not dismissed, or when the account alone
was given that status by a member decision (MEMBER_OF.status).

Decided by / at are those of the ring's latest decision (or the member's own).
CSV and JSON are written by graph.library.cells.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import neo4j
import pandas as pd

from graph.db.connection import read
from graph.library import catalog
from graph.library.cells import to_csv, to_json

COLUMNS = [
    "account_id", "ring_id", "ring_score", "status", "reason", "decided_by", "decided_at", "is_new",
]

# The query is the library's `queries/block-list.cypher`, so `ringwatch query run block-list`,
# `ringwatch export` and the app list exactly the same accounts.
def block_list_query() -> str:
    """The text of `queries/block-list.cypher`."""
    return catalog.load("block-list").text


def block_list(
    driver: neo4j.Driver, statuses: Iterable[str] = ("blocked",), min_score: float | None = None
) -> pd.DataFrame:
    rows = read(driver, block_list_query(), statuses=list(statuses), min_score=min_score)
    return pd.DataFrame(rows, columns=COLUMNS)


def write_block_list(frame: pd.DataFrame, out: Path, fmt: str) -> None:
    out.write_text(to_csv(frame) if fmt == "csv" else to_json(frame), encoding="utf-8")
