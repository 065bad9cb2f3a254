"""The block list: accounts of decided rings, as enforcement consumes it (CSV or JSON).

One query serves the CLI (`ringwatch export`) and the app's download buttons, so both
give the same file. An account is listed when its ring has one of the requested statuses
(default: blocked) and the account itself was not dismissed, or when the account alone
was given that status by a member decision (MEMBER_OF.status).

Decided by / at are those of the ring's latest decision (or the member's own).
CSV cells that a spreadsheet would run as a formula (leading = + - @, tab, CR) are
prefixed with an apostrophe; JSON is left exact.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from pathlib import Path

import neo4j
import pandas as pd

from graph import library
from graph.connection import read

COLUMNS = [
    "account_id", "ring_id", "ring_score", "status", "reason", "decided_by", "decided_at", "is_new",
]

# The query is the library's `queries/block-list.cypher`, so `ringwatch query run block-list`,
# `ringwatch export` and the app list exactly the same accounts.
BLOCK_LIST = library.load("block-list").text

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def block_list(
    driver: neo4j.Driver, statuses: Iterable[str] = ("blocked",), min_score: float | None = None
) -> pd.DataFrame:
    rows = read(driver, BLOCK_LIST, statuses=list(statuses), min_score=min_score)
    return pd.DataFrame(rows, columns=COLUMNS)


def neutralise(value):
    """A spreadsheet shows this cell as text, never runs it."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def to_csv(frame: pd.DataFrame) -> str:
    safe = frame.copy()
    for col in safe.columns:
        if safe[col].dtype == object:
            safe[col] = safe[col].map(neutralise)
    buf = io.StringIO()
    safe.to_csv(buf, index=False)
    return buf.getvalue()


def to_json(frame: pd.DataFrame) -> str:
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return json.dumps(records, indent=2, ensure_ascii=False, default=str)


def write_block_list(frame: pd.DataFrame, out: Path, fmt: str) -> None:
    out.write_text(to_csv(frame) if fmt == "csv" else to_json(frame), encoding="utf-8")
