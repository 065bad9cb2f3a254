"""One ring: its properties, members (paged, with evidence), activity over time, the feature population,
and `ring_view` (everything the ring page reads, timed piece by piece for bench/app_latency.py)."""

from __future__ import annotations

import time
from typing import Any

import neo4j
import pandas as pd

from graph.investigate.present import parse_json
from graph.investigate.reads import q
from graph.investigate.statements import MEMBERS_COUNT, MEMBERS_PAGE, POPULATION, RING, SIGNUPS, TIMELINE
from graph.investigate.subgraph import DEFAULT_MEMBERS_DRAWN, ring_graph
from graph.review.decisions import history
from graph.vocabulary import FEATURES

MEMBERS_PAGE_SIZE = 50
TIMELINE_MEMBERS = 2000  # a larger ring's activity is drawn from this many of its members
POPULATION_LIMIT = 20_000


def ring(driver: neo4j.Driver, ring_id: str) -> dict[str, Any] | None:
    rows = q(driver, RING, ring=ring_id)
    if not rows:
        return None
    r = dict(rows[0]["ring"])
    r["bound_list"] = parse_json(r.get("bound"), [])
    r["capability_shares"] = parse_json(r.get("capability_mix"), {})  # r["capabilities"] is the stored list
    return r


def members_count(driver: neo4j.Driver, ring_id: str, search: str | None = None, only_new: bool = False) -> int:
    """How many members of the ring match the filter."""
    return int(q(driver, MEMBERS_COUNT, **_member_filter(ring_id, search, only_new))[0]["members"])


def members_rows(
    driver: neo4j.Driver,
    ring_id: str,
    page: int = 0,
    page_size: int = MEMBERS_PAGE_SIZE,
    search: str | None = None,
    only_new: bool = False,
) -> pd.DataFrame:
    """One page of matching members, strongest evidence first."""
    rows = q(
        driver,
        MEMBERS_PAGE,
        skip=max(0, int(page)) * int(page_size),
        limit=int(page_size),
        **_member_filter(ring_id, search, only_new),
    )
    cols = [
        "account",
        "member_status",
        "new",
        "evidence",
        "strength",
        "private_share",
        "created_at",
        "country",
        "email_domain",
        "plan",
        "joined_at",
    ]
    return pd.DataFrame(rows, columns=cols)


def members_page(
    driver: neo4j.Driver,
    ring_id: str,
    page: int = 0,
    page_size: int = MEMBERS_PAGE_SIZE,
    search: str | None = None,
    only_new: bool = False,
) -> tuple[pd.DataFrame, int]:
    """One page of members (strongest evidence first) and the number of matching members."""
    return (
        members_rows(driver, ring_id, page, page_size, search, only_new),
        members_count(driver, ring_id, search, only_new),
    )


def _member_filter(ring_id: str, search: str | None, only_new: bool) -> dict[str, Any]:
    return {"ring": ring_id, "q": (search or "").strip() or None, "only_new": bool(only_new)}


def timeline(driver: neo4j.Driver, ring_id: str, limit: int = TIMELINE_MEMBERS) -> pd.DataFrame:
    """Per member (up to `limit`): created, first/last activity (epoch s) and requests."""
    rows = q(driver, TIMELINE, ring=ring_id, limit=int(limit))
    return pd.DataFrame(rows, columns=["account", "created", "first_seen", "last_seen", "requests"])


def signups(driver: neo4j.Driver, ring_id: str) -> pd.DataFrame:
    """Sign-ups per day (days since the epoch) over every member of the ring."""
    return pd.DataFrame(q(driver, SIGNUPS, ring=ring_id), columns=["day", "signups"])


def population(driver: neo4j.Driver, limit: int = POPULATION_LIMIT) -> pd.DataFrame:
    rows = q(driver, POPULATION, limit=int(limit))[0]["rows"]
    return pd.DataFrame(rows, columns=["id", "status", "score", "size", *FEATURES])


def ring_view(
    driver: neo4j.Driver,
    ring_id: str,
    members_drawn: int = DEFAULT_MEMBERS_DRAWN,
    page: int = 0,
    page_size: int = MEMBERS_PAGE_SIZE,
) -> dict[str, Any] | None:
    """Everything the ring page shows (each piece timed, in `timings`); None if no such ring."""
    timings: dict[str, float] = {}

    def timed(name, fn, *args, **kwargs):
        t = time.perf_counter()
        out = fn(*args, **kwargs)
        timings[name] = time.perf_counter() - t
        return out

    r = timed("ring", ring, driver, ring_id)
    if r is None:
        return None
    view = {
        "ring": r,
        "graph": timed("graph", ring_graph, driver, r, members_drawn),
        "members": timed("members", members_page, driver, ring_id, page, page_size),
        "timeline": timed("timeline", timeline, driver, ring_id),
        "signups": timed("signups", signups, driver, ring_id),
        "population": timed("population", population, driver),
        "history": timed("history", history, driver, ring_id),
    }
    view["timings"] = timings
    return view
