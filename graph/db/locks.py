"""Named locks held in the database, so two processes on different machines exclude each other.

    (:Lock {name, holder, since, expires})

`hold(driver, "detect", holder)` takes the lock for the length of a `with` block. Taking it
is one write transaction that first writes the lock node (taking Neo4j's write lock on
it) and only then reads who holds it, so two takers are serialised by the database.

A holder that dies (SIGKILL, a crash, the database lost under it) cannot release its lock,
so a lock records the host and process id that took it, and its holder renews it every
`ttl / 4` seconds from a background thread while the block runs. A lock is free when:

- it was released, or
- it expired: its holder stopped renewing it `ttl` seconds ago (2 minutes by default; a
  holder on another machine that died is waited out this long), or
- its holder process was on this host and is gone (found at once, with `os.kill(pid, 0)`).
"""

from __future__ import annotations

import os
import socket
import threading
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
RETURN l.holder AS holder, l.since AS since, l.expires AS expires, l.host AS host, l.pid AS pid,
       timestamp() AS now
"""
CLAIM = """
MATCH (l:Lock {name: $name})
SET l.holder = $holder, l.since = datetime(), l.expires = timestamp() + $ttl_ms, l.host = $host, l.pid = $pid
"""
RENEW = "MATCH (l:Lock {name: $name}) WHERE l.holder = $holder SET l.expires = timestamp() + $ttl_ms"
RELEASE = "MATCH (l:Lock {name: $name}) WHERE l.holder = $holder REMOVE l.holder, l.since, l.expires, l.host, l.pid"
DEFAULT_TTL_S = 120.0


class LockBusy(RuntimeError):
    """Someone else holds the lock; the message says who and since when."""


def _gone(host: str | None, pid: int | None) -> bool:
    """Whether the process `pid` that took a lock on `host` is known to have ended: only a
    process of this host can be looked at; one elsewhere is waited out (its lock expires)."""
    if host != socket.gethostname() or not pid or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def _take(tx: neo4j.ManagedTransaction, name: str, holder: str, ttl_s: float) -> None:
    row = tx.run(TAKE, name=name).single()
    held = row["holder"] and row["holder"] != holder and (row["expires"] or 0) > row["now"]
    if held and not _gone(row["host"], row["pid"]):
        raise LockBusy(f"{name} is in progress elsewhere ({row['holder']}, since {row['since'].iso_format()[:19]}Z)")
    tx.run(
        CLAIM, name=name, holder=holder, ttl_ms=int(ttl_s * 1000), host=socket.gethostname(), pid=os.getpid()
    ).consume()


def _renew(driver: neo4j.Driver, name: str, holder: str, ttl_s: float, stop: threading.Event) -> None:
    """Push the lock's expiry on every ttl/4 seconds until `stop` (a failed renewal is
    retried at the next beat: the database may be back by then)."""
    while not stop.wait(ttl_s / 4):
        try:
            with session(driver, write=True) as s:
                s.run(RENEW, name=name, holder=holder, ttl_ms=int(ttl_s * 1000)).consume()
        except Exception:  # noqa: BLE001 - the holder's own work reports a lost database
            pass


@contextmanager
def hold(
    driver: neo4j.Driver, name: str, holder: str, wait_s: float = 0.0, ttl_s: float = DEFAULT_TTL_S
) -> Iterator[None]:
    """Hold lock `name` for the block; waits up to `wait_s` seconds for it, then raises LockBusy.

    While the block runs the lock is renewed every `ttl_s / 4` seconds, so it outlives a
    long run but not a dead holder (see the module docstring)."""
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
    stop = threading.Event()
    beat = threading.Thread(target=_renew, args=(driver, name, holder, ttl_s, stop), daemon=True, name=f"lock-{name}")
    beat.start()
    try:
        yield
    finally:
        stop.set()
        beat.join(timeout=10)  # a renewal stuck on a lost database must not hold the exit up
        with session(driver, write=True) as s:
            s.run(RELEASE, name=name, holder=holder).consume()
