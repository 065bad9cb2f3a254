"""The one way ringwatch connects to Neo4j.

Every command and the app resolve their database here: `NEO4J_URI`, `NEO4J_USER`,
`NEO4J_PASSWORD` and `NEO4J_DATABASE` point at any Neo4j (a single server, a cluster with
`neo4j://`, Aura with `neo4j+s://`); without `NEO4J_URI` the local server that
`ringwatch db start` runs is used, with the password it generated.

Failures to reach or log in to the database become `DatabaseUnavailable`, whose message
is one line saying what to do; the CLI prints it instead of a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import neo4j
from neo4j import GraphDatabase
from neo4j.exceptions import AuthError, ClientError, ServiceUnavailable, SessionExpired

if TYPE_CHECKING:  # imported when used: the client pulls in pandas and pyarrow
    from graphdatascience import GraphDataScience

DEFAULT_BOLT_PORT = 7687
LOCAL_USER = "neo4j"


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached or refused us; the message says what to do."""


@dataclass(frozen=True)
class Target:
    """Where the database is and how to log in."""

    uri: str
    user: str
    password: str
    database: str | None = None
    local: bool = False

    def describe(self) -> str:
        db = f" (database {self.database})" if self.database else ""
        return f"{self.uri}{db}"


def state_dir() -> Path:
    """The local server's state directory: `RINGWATCH_STATE`, default `.ringwatch/`."""
    return Path(os.environ.get("RINGWATCH_STATE", ".ringwatch")).resolve()


def local_bolt_port() -> int:
    """The local server's Bolt port: `RINGWATCH_BOLT_PORT`, default 7687."""
    return int(os.environ.get("RINGWATCH_BOLT_PORT", DEFAULT_BOLT_PORT))


def password_file(state: Path | None = None) -> Path:
    """Where the local server's generated password is kept (mode 0600)."""
    return (state or state_dir()) / "password"


def local_password(state: Path | None = None) -> str | None:
    """The local server's password: `RINGWATCH_NEO4J_PASSWORD`, else the generated file."""
    if os.environ.get("RINGWATCH_NEO4J_PASSWORD"):
        return os.environ["RINGWATCH_NEO4J_PASSWORD"]
    path = password_file(state)
    return path.read_text().strip() if path.exists() else None


def resolve_target(
    uri: str | None = None,
    user: str | None = None,
    password: str | None = None,
    database: str | None = None,
) -> Target:
    """Explicit arguments win, then the NEO4J_* environment, then the local server."""
    uri = uri or os.environ.get("NEO4J_URI")
    database = database or os.environ.get("NEO4J_DATABASE") or None
    if uri:
        return Target(
            uri=uri,
            user=user or os.environ.get("NEO4J_USER", "neo4j"),
            password=password or os.environ.get("NEO4J_PASSWORD", ""),
            database=database,
        )
    secret = password or local_password()
    if secret is None:
        raise DatabaseUnavailable(
            f"no local database in {state_dir()}: run `ringwatch db start`, "
            "or set NEO4J_URI/NEO4J_USER/NEO4J_PASSWORD to use another Neo4j"
        )
    return Target(
        uri=f"bolt://127.0.0.1:{local_bolt_port()}",
        user=user or LOCAL_USER,
        password=secret,
        database=database,
        local=True,
    )


def unavailable_message(target: Target, error: Exception) -> str:
    """One line saying what to do when `target` cannot be reached or refused us."""
    if isinstance(error, AuthError):
        return (
            f"Neo4j at {target.describe()} refused the credentials for user '{target.user}': "
            "check NEO4J_USER/NEO4J_PASSWORD"
        )
    hint = "start it with `ringwatch db start`" if target.local else "check NEO4J_URI and that the server is up"
    return f"cannot reach Neo4j at {target.describe()}: {hint}"


def open_driver(target: Target | None = None, verify: bool = True) -> neo4j.Driver:
    """A driver for `target` (default: `resolve_target()`), checked to answer."""
    target = target or resolve_target()
    driver = GraphDatabase.driver(
        target.uri,
        auth=(target.user, target.password),
        connection_timeout=5.0,
        max_transaction_retry_time=15.0,
        user_agent="ringwatch/0.1",
        notifications_min_severity="OFF",  # schema-less first loads warn of unknown keys
    )
    if verify:
        try:
            driver.verify_connectivity()
        except BaseException as error:  # whatever it was, the driver is closed, not left to the GC
            driver.close()
            if isinstance(error, ServiceUnavailable | SessionExpired | AuthError | OSError | ValueError):
                raise DatabaseUnavailable(unavailable_message(target, error)) from error
            raise
    driver._ringwatch_target = target  # type: ignore[attr-defined]  # so helpers know the database
    return driver


def target_of(driver: neo4j.Driver) -> Target:
    """The target the driver was opened for (by open_driver; else the configured one)."""
    target: Target | None = getattr(driver, "_ringwatch_target", None)
    return target or resolve_target()


def database_of(driver: neo4j.Driver) -> str | None:
    """The database name the driver was opened for (None: the server's default)."""
    target: Target | None = getattr(driver, "_ringwatch_target", None)
    return target.database if target else None


@contextmanager
def session(driver: neo4j.Driver, write: bool = False, **kwargs: Any) -> Iterator[neo4j.Session]:
    """A session on the configured database, in read or write access mode."""
    access = neo4j.WRITE_ACCESS if write else neo4j.READ_ACCESS
    with driver.session(database=database_of(driver), default_access_mode=access, **kwargs) as s:
        yield s


def read(driver: neo4j.Driver, query: str, **params: Any) -> list[dict[str, Any]]:
    """Run a read query (parameters only, never spliced) and return its rows as dicts."""
    records, _, _ = driver.execute_query(
        query,
        params,
        database_=database_of(driver),
        routing_=neo4j.RoutingControl.READ,
    )
    return [r.data() for r in records]


def write(driver: neo4j.Driver, query: str, **params: Any) -> list[dict[str, Any]]:
    """Run a write query in its own transaction and return its rows as dicts."""
    records, _, _ = driver.execute_query(
        query,
        params,
        database_=database_of(driver),
        routing_=neo4j.RoutingControl.WRITE,
    )
    return [r.data() for r in records]


def gds_available(driver: neo4j.Driver) -> bool:
    """True when the Graph Data Science library answers on this database."""
    try:
        read(driver, "RETURN gds.version() AS version")
        return True
    except ClientError:
        return False


def gds_client(driver: neo4j.Driver) -> GraphDataScience:
    """A graphdatascience client sharing `driver` (Bolt transport; no Arrow)."""
    from graphdatascience import GraphDataScience

    return GraphDataScience.from_neo4j_driver(driver, database=database_of(driver), arrow=False)
