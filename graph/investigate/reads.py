"""How the investigator reads: `q` (a read with the app's timeout) and `key_param` (a node key as stored)."""

from __future__ import annotations

from typing import Any

import neo4j

from graph.db.connection import session

QUERY_TIMEOUT_S = 20.0  # a runaway statement is cut, the app shows an error and stays up


def q(driver: neo4j.Driver, text: str, **params: Any) -> list[dict[str, Any]]:
    """A read with the app's timeout (parameters only).

    An auto-commit read in a read session: unlike `connection.read` it is not retried for
    15 s when the database is gone, so the app shows its banner at once.
    """
    with session(driver) as s:
        return [r.data() for r in s.run(neo4j.Query(text, timeout=QUERY_TIMEOUT_S), params)]


def key_param(kind: str, key: str) -> Any:
    """The stored type of a node key (ASN numbers are integers)."""
    if kind == "asn":
        try:
            return int(str(key).upper().removeprefix("AS"))
        except ValueError:
            return -1
    return key
