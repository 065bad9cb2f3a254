"""Named locks held in the database, so two processes on different machines exclude each other.

    (:Lock {name, holder, since, expires})

`hold(driver, "detect", holder)` takes the lock for the length of a `with` block. Taking it
is one write transaction that first writes the lock node (taking Neo4j's write lock on
it) and only then reads who holds it, so two takers are serialised by the database. A
holder that died leaves a lock that expires after `ttl` seconds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import neo4j

from graph.db.connection import session

__all__ = ["LockBusy", "hold"]

TAKE = """
MERGE (l:Lock {name: $name})
SET l.touched = timestamp()
WITH l
RETURN l.holder AS holder, l.since AS since, l.expires AS expires, timestamp() AS now
"""
CLAIM = """
MATCH (l:Lock {name: $name})
SET l.holder = $holder, l.since = datetime(), l.expires = timestamp() + $ttl_ms
"""
RELEASE = "MATCH (l:Lock {name: $name}) WHERE l.holder = $holder REMOVE l.holder, l.since, l.expires"


class LockBusy(RuntimeError):
    """Someone else holds the lock; the message says who and since when."""


def _take(tx: neo4j.ManagedTransaction, name: str, holder: str, ttl_s: float) -> None:
    row = tx.run(TAKE, name=name).single()
    if row["holder"] and row["holder"] != holder and (row["expires"] or 0) > row["now"]:
        raise LockBusy(f"{name} is in progress elsewhere ({row['holder']}, since {row['since'].iso_format()[:19]}Z)")
    tx.run(CLAIM, name=name, holder=holder, ttl_ms=int(ttl_s * 1000)).consume()


@contextmanager
def hold(driver: neo4j.Driver, name: str, holder: str, wait_s: float = 0.0, ttl_s: float = 6 * 3600) -> Iterator[None]:
    """Hold lock `name` for the block; waits up to `wait_s` seconds for it, then raises LockBusy."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            with session(driver, write=True) as s:
                s.execute_write(_take, name, holder, ttl_s)
            break
        except LockBusy:
            if time.monotonic() >= deadline:
                raise
            time.sleep(min(2.0, max(0.1, deadline - time.monotonic())))
    try:
        yield
    finally:
        with session(driver, write=True) as s:
            s.run(RELEASE, name=name, holder=holder).consume()
