"""The block list, as enforcement consumes it (CSV or JSON), and the accounts awaiting review.

One query serves the CLI (`ringwatch export`) and the app's download buttons, so both
give the same file: the library's `queries/block-list.cypher`, which lists an account
only when a decision names it, with the analyst and time of that decision (see
graph.review.decisions). `--status awaiting` lists instead the members of decided rings
that no decision covers yet (`queries/awaiting-review.cypher`); they are never on the
block list until someone extends the decision to them.

Files are written to NAME.part and renamed, so enforcement never reads half a list, and
every export is an audit event naming who took it, how many rows and the file's SHA-256.
CSV and JSON cells are written by graph.library.cells.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

import neo4j
import pandas as pd

from graph.db.connection import read
from graph.library import catalog
from graph.library.cells import to_csv, to_json
from graph.review import audit
from graph.review.actors import Actor, require

__all__ = ["AWAITING", "COLUMNS", "block_list", "block_list_query", "record_export", "render", "write_block_list"]

COLUMNS = [
    "account_id",
    "ring_id",
    "ring_score",
    "status",
    "reason",
    "decided_by",
    "decided_at",
    "decision_id",
    "approved_by",
]
AWAITING_COLUMNS = [
    "account_id",
    "ring_id",
    "ring_score",
    "status",
    "joined_run",
    "joined_at",
    "decided_by",
    "decided_at",
]
AWAITING = "awaiting"  # the pseudo-status that asks for the accounts awaiting review


def block_list_query() -> str:
    """The text of `queries/block-list.cypher`, which `ringwatch query run block-list` runs too."""
    return catalog.load("block-list").text


def block_list(
    driver: neo4j.Driver, statuses: Iterable[str] = ("blocked",), min_score: float | None = None
) -> pd.DataFrame:
    """Accounts a decision gave one of `statuses`; or, for ["awaiting"], members awaiting review."""
    statuses = list(statuses)
    if AWAITING in statuses:
        if statuses != [AWAITING]:
            raise ValueError("awaiting review is exported on its own: --status awaiting")
        rows = read(driver, catalog.load("awaiting-review").text, statuses=["blocked", "confirmed", "dismissed"])
        frame = pd.DataFrame(rows, columns=AWAITING_COLUMNS)
        return frame if min_score is None else frame[frame["ring_score"] >= min_score].reset_index(drop=True)
    rows = read(driver, block_list_query(), statuses=statuses, min_score=min_score)
    return pd.DataFrame(rows, columns=COLUMNS)


def render(frame: pd.DataFrame, fmt: str) -> str:
    """The file's text: CSV (formula-safe) or JSON."""
    return to_csv(frame) if fmt == "csv" else to_json(frame)


def write_block_list(frame: pd.DataFrame, out: Path, fmt: str) -> str:
    """Write the file via OUT.part + rename; returns the SHA-256 of what was written."""
    text = render(frame, fmt)
    part = out.with_name(out.name + ".part")
    part.write_text(text, encoding="utf-8")
    os.replace(part, out)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def record_export(
    driver: neo4j.Driver,
    actor: Actor,
    statuses: Iterable[str],
    frame: pd.DataFrame,
    fmt: str,
    sha256: str,
    target: str,
) -> dict:
    """The audit event of an export: who, which statuses, how many accounts, the file's hash and where it went."""
    require(actor, "read")
    return audit.record(
        driver,
        "export",
        actor.name,
        actor.channel,
        role=actor.role,
        statuses=sorted(statuses),
        format=fmt,
        rows=len(frame),
        accounts=int(frame["account_id"].nunique()) if len(frame) else 0,
        sha256=sha256,
        target=target,
    )
