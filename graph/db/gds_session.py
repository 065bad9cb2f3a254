"""GDS sessions (Aura Graph Analytics): a GDS of its own size, in Aura, for graphs past this machine.

`ringwatch detect --backend gds-session` projects the graph from the database ringwatch is
connected to into a session (a remote projection: the database runs the query and streams
the rows to the session over Arrow), runs Leiden there and streams the communities back.
The session is created (or reused by name) through the Aura API with the graphdatascience
client's `GdsSessions`, configured from the environment:

  RINGWATCH_AURA_CLIENT_ID, RINGWATCH_AURA_CLIENT_SECRET  Aura API credentials (required)
  RINGWATCH_AURA_PROJECT_ID        the Aura project, when the credentials belong to several
  RINGWATCH_GDS_SESSION_NAME       default `ringwatch`; an existing session of that name is reused
  RINGWATCH_GDS_SESSION_MEMORY     e.g. 16GB; default: Aura's estimate for the projected graph
  RINGWATCH_GDS_SESSION_LOCATION   provider/region (gcp/europe-west1): required for a
                                   self-managed Neo4j, not allowed for AuraDB
  RINGWATCH_GDS_SESSION_TTL        minutes of inactivity before Aura expires it (default 60)
  RINGWATCH_GDS_SESSION_KEEP       1: keep the session after the run (the TTL ends it);
                                   default: delete it, so that it stops costing

Cost: a session is billed while it exists (Aura's prices); creating one takes minutes.
The database must be AuraDB or a self-managed Neo4j >= 5.24 that the session can reach
(Aura's documented requirement); the local server of `ringwatch db start` is neither.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from graph.db.connection import Target

if TYPE_CHECKING:  # imported when used: the client pulls in pandas and pyarrow
    from graphdatascience.session.aura_graph_data_science import AuraGraphDataScience

CLIENT_ID = "RINGWATCH_AURA_CLIENT_ID"
CLIENT_SECRET = "RINGWATCH_AURA_CLIENT_SECRET"
PROJECT_ID = "RINGWATCH_AURA_PROJECT_ID"
NAME = "RINGWATCH_GDS_SESSION_NAME"
MEMORY = "RINGWATCH_GDS_SESSION_MEMORY"
LOCATION = "RINGWATCH_GDS_SESSION_LOCATION"
TTL = "RINGWATCH_GDS_SESSION_TTL"
KEEP = "RINGWATCH_GDS_SESSION_KEEP"
VARIABLES = (CLIENT_ID, CLIENT_SECRET, PROJECT_ID, NAME, MEMORY, LOCATION, TTL, KEEP)


class GdsSessionError(RuntimeError):
    """A GDS session cannot be configured, created or used; the message (one line) says what to do."""


@dataclass(frozen=True)
class SessionConfig:
    """How to reach Aura and which session to use."""

    client_id: str
    client_secret: str = field(repr=False)  # never printed with the config
    project_id: str | None = None
    name: str = "ringwatch"
    memory: str | None = None  # a SessionMemory value such as "16GB"; None: estimated by Aura
    location: tuple[str, str] | None = None  # (provider, region)
    ttl: timedelta = timedelta(minutes=60)
    keep: bool = False


def session_config(env: Mapping[str, str] | None = None) -> SessionConfig:
    """The session configuration from the environment; GdsSessionError names what is missing or wrong."""
    from graphdatascience.session import SessionMemory

    env = os.environ if env is None else env
    value = {k: env.get(k, "").strip() for k in VARIABLES}
    missing = [k for k in (CLIENT_ID, CLIENT_SECRET) if not value[k]]
    if missing:
        raise GdsSessionError(
            f"--backend gds-session needs Aura API credentials: set {' and '.join(missing)} "
            f"(and {PROJECT_ID} if they belong to several Aura projects)"
        )
    size = re.fullmatch(r"(\d+)\s*(G|GB|GI|GIB)?", value[MEMORY].upper())
    memory = f"{size[1]}GB" if size else value[MEMORY] or None
    sizes = [m.value.value for m in SessionMemory]
    if memory is not None and memory not in sizes:
        raise GdsSessionError(f"{MEMORY}={value[MEMORY]!r} is not a session size: use one of {', '.join(sizes)}")
    location = None
    if value[LOCATION]:
        provider, _, region = value[LOCATION].partition("/")
        if not provider or not region:
            raise GdsSessionError(f"{LOCATION}={value[LOCATION]!r}: write provider/region, e.g. gcp/europe-west1")
        location = (provider, region)
    try:
        minutes = float(value[TTL] or 60)
    except ValueError:
        minutes = -1.0
    if not 0 < minutes <= 7 * 24 * 60:  # Aura's limit: 7 days
        raise GdsSessionError(f"{TTL}={value[TTL]!r}: give minutes of inactivity, more than 0 and at most 10080")
    return SessionConfig(
        client_id=value[CLIENT_ID],
        client_secret=value[CLIENT_SECRET],
        project_id=value[PROJECT_ID] or None,
        name=value[NAME] or "ringwatch",
        memory=memory,
        location=location,
        ttl=timedelta(minutes=minutes),
        keep=value[KEEP].lower() in {"1", "true", "yes"},
    )


@contextmanager
def open_session(
    target: Target, config: SessionConfig, node_count: int, relationship_count: int
) -> Iterator[AuraGraphDataScience]:
    """A GDS session attached to `target`'s database: created or reused, deleted afterwards unless kept.

    Without a configured memory, Aura's estimate for a graph of `node_count` nodes and
    `relationship_count` relationships running community detection is used.
    """
    from graphdatascience.session import (
        AlgorithmCategory,
        AuraAPICredentials,
        CloudLocation,
        DbmsConnectionInfo,
        GdsSessions,
        SessionMemory,
        SessionMemoryValue,
    )

    try:
        sessions = GdsSessions(
            api_credentials=AuraAPICredentials(config.client_id, config.client_secret, config.project_id)
        )
        if config.memory:
            memory = SessionMemory(SessionMemoryValue(config.memory))
        else:
            memory = sessions.estimate(node_count, relationship_count, [AlgorithmCategory.COMMUNITY_DETECTION])
        gds = sessions.get_or_create(
            config.name,
            memory=memory,
            db_connection=DbmsConnectionInfo(target.uri, target.user, target.password, target.database),
            ttl=config.ttl,
            cloud_location=CloudLocation(*config.location) if config.location else None,
        )
    except Exception as error:  # the Aura API, the network, the client's own checks: one line for the user
        raise GdsSessionError(f"GDS session {config.name!r} could not be opened: {first_line(error)}") from error
    try:
        yield gds
    finally:
        if config.keep:
            gds.close()
        else:
            try:
                gds.delete()
            except Exception as error:  # it keeps costing until its TTL: say so, in one line
                raise GdsSessionError(
                    f"GDS session {config.name!r} was not deleted ({first_line(error)}): "
                    "delete it in the Aura console, or it expires after RINGWATCH_GDS_SESSION_TTL"
                ) from error


def first_line(error: Exception) -> str:
    """The first line of an error's message (its type when it has none)."""
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]
