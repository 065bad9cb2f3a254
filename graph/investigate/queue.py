"""The ring queue: rings by score with their filters, counts, and the sidebar's run and status figures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import neo4j
import pandas as pd

from graph.investigate.present import age_text, review_flags, to_py, top_capabilities
from graph.investigate.reads import q
from graph.investigate.statements import CAPABILITIES, LAST_RUN, QUEUE, QUEUE_COUNT, STATUS_COUNTS

QUEUE_LIMIT = 100


@dataclass
class QueueFilter:
    statuses: tuple[str, ...] = ("suspected", "confirmed", "blocked", "dismissed")
    min_score: float = 0.0
    min_size: int = 0
    max_size: int | None = None
    capability: str | None = None
    changed_only: bool = False
    assignee: str | None = None  # only rings assigned to this user
    unassigned: bool = False  # only rings nobody has
    case_state: str | None = None  # only cases in this state (open, in progress, decided)

    def params(self) -> dict[str, Any]:
        return {
            "statuses": list(self.statuses),
            "min_score": float(self.min_score),
            "min_size": int(self.min_size),
            "max_size": None if self.max_size is None else int(self.max_size),
            "capability": self.capability or None,
            "changed_only": bool(self.changed_only),
            "assignee": self.assignee or None,
            "unassigned": bool(self.unassigned),
            "case_state": self.case_state or None,
        }


def queue(driver: neo4j.Driver, flt: QueueFilter, skip: int = 0, limit: int = QUEUE_LIMIT) -> pd.DataFrame:
    """Rings by score, with age, growth, review flags (`flags`: needs review, waiting for approval,
    members awaiting review) and the case (`assignee`, `case_state`); one row per ring."""
    rows = q(driver, QUEUE, skip=int(skip), limit=int(limit), **flt.params())
    frame = pd.DataFrame(
        rows,
        columns=[
            "id",
            "status",
            "score",
            "size",
            "previous_size",
            "new_members",
            "first_detected",
            "last_detected",
            "reason",
            "capability_mix",
            "decided_by",
            "decided_at",
            "needs_review",
            "pending",
            "awaiting",
            "assignee",
            "case_state",
        ],
    )
    now = datetime.now(UTC)
    frame["growth"] = [
        None if pd.isna(p) else int(s) - int(p) for s, p in zip(frame["size"], frame["previous_size"], strict=True)
    ]
    frame["is_new"] = [
        pd.isna(p) and first == last
        for p, first, last in zip(frame["previous_size"], frame["first_detected"], frame["last_detected"], strict=True)
    ]
    frame["age"] = [age_text(now, t) for t in frame["first_detected"]]
    frame["top_capabilities"] = [top_capabilities(c) for c in frame["capability_mix"]]
    frame["decided"] = [
        "" if not by else f"{by}, {to_py(at):%Y-%m-%d %H:%M}"
        for by, at in zip(frame["decided_by"], frame["decided_at"], strict=True)
    ]
    frame["flags"] = [
        review_flags(bool(n), p, a)
        for n, p, a in zip(frame["needs_review"], frame["pending"], frame["awaiting"], strict=True)
    ]
    return frame


def queue_count(driver: neo4j.Driver, flt: QueueFilter) -> dict[str, int]:
    rows = q(driver, QUEUE_COUNT, **flt.params())
    row = rows[0] if rows else {}
    return {k: int(row.get(k) or 0) for k in ("rings", "accounts", "new_rings", "grown_rings")}


def status_counts(driver: neo4j.Driver) -> pd.DataFrame:
    return pd.DataFrame(q(driver, STATUS_COUNTS), columns=["status", "rings", "accounts"])


def last_run(driver: neo4j.Driver) -> dict[str, Any] | None:
    rows = q(driver, LAST_RUN)
    return rows[0] if rows else None


def capabilities(driver: neo4j.Driver) -> list[str]:
    """The capabilities in any ring's traffic (the queue filter's choices), in the most rings first.

    One pass over the Ring label returning a row per capability (a handful), instead of every
    ring's mix to the client."""
    return [row["capability"] for row in q(driver, CAPABILITIES)]
