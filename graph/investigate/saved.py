"""Saved views: a ring's drawn graph with its expansions, kept under a name so a colleague can open it.

    (:SavedView {id, name, ring, members_drawn, expansions, nodes, by, at})

A view is view state only (which members were drawn, which nodes were expanded, in order, and
the node ids that were on screen), never a decision, so saving one is not an audit event.
Opening a view draws the ring again and replays its expansions (`restore`); when the data
changed since (a later detection run), the nodes that could not be drawn again are named.

  save_view    store a Subgraph's view under a name; returns the view's id
  load_view    a saved view by id, or None
  ring_views   a ring's saved views, newest first
  restore      the Subgraph a view describes (ring_graph + the same expansions)
"""

from __future__ import annotations

import uuid
from typing import Any

import neo4j

from graph.db.connection import session
from graph.investigate.reads import q
from graph.investigate.subgraph import DEFAULT_MEMBERS_DRAWN, Subgraph, expand, ring_graph
from graph.review.actors import Actor, require

MAX_NAME = 120
MAX_EXPANSIONS = 200

SAVE = """
MATCH (r:Ring {id: $ring})
CREATE (v:SavedView {id: $id, name: $name, ring: r.id, members_drawn: $members_drawn, expansions: $expansions,
                     nodes: $nodes, by: $by, at: datetime()})
RETURN v.id AS id
"""
LOAD = "MATCH (v:SavedView {id: $id}) RETURN properties(v) AS view LIMIT 1"
RING_VIEWS = """
MATCH (v:SavedView {ring: $ring})
RETURN v.id AS id, v.name AS name, v.by AS by, v.at AS at, size(v.nodes) AS nodes
ORDER BY v.at DESC LIMIT $limit
"""


class ViewError(ValueError):
    """A view that cannot be saved; the message says why in one line."""


def save_view(driver: neo4j.Driver, actor: Actor, g: Subgraph, name: str) -> str:
    """Keep `g` (a ring's graph) as a view named `name`; returns its id. Any logged-in role may save views."""
    require(actor, "read")
    name = " ".join((name or "").split())
    if not name:
        raise ViewError("a view needs a name")
    if len(name) > MAX_NAME:
        raise ViewError(f"a view's name has at most {MAX_NAME} characters")
    if not g.ring_id:
        raise ViewError("only a ring's graph can be saved as a view")
    view_id = uuid.uuid4().hex[:16]
    with session(driver, write=True) as s:
        saved = s.run(
            SAVE,
            id=view_id,
            name=name,
            ring=g.ring_id,
            members_drawn=int(g.members_drawn or DEFAULT_MEMBERS_DRAWN),
            expansions=list(g.expansions)[:MAX_EXPANSIONS],
            nodes=sorted(g.nodes),
            by=actor.name,
        ).single()
    if saved is None:
        raise ViewError(f"no ring {g.ring_id!r}")
    return view_id


def load_view(driver: neo4j.Driver, view_id: str) -> dict[str, Any] | None:
    rows = q(driver, LOAD, id=str(view_id or ""))
    return rows[0]["view"] if rows else None


def ring_views(driver: neo4j.Driver, ring_id: str, limit: int = 50) -> list[dict[str, Any]]:
    return q(driver, RING_VIEWS, ring=ring_id, limit=int(limit))


def restore(driver: neo4j.Driver, r: dict[str, Any], view: dict[str, Any]) -> Subgraph:
    """The ring drawn as the view was: the same members drawn, the same expansions in the same order."""
    g = ring_graph(driver, r, int(view.get("members_drawn") or DEFAULT_MEMBERS_DRAWN))
    for nid in view.get("expansions") or []:
        try:
            expand(driver, g, nid)
        except ValueError:  # a node kind this version does not know
            continue
    missing = sorted(set(view.get("nodes") or []) - set(g.nodes))
    if missing:
        g.notes.append(
            f"view {view.get('name')!r}: {len(missing)} of its nodes are no longer drawn (the data changed since)"
        )
    return g
