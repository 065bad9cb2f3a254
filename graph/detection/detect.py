"""`ringwatch detect`: evidence -> communities -> scored rings -> the graph.

Steps and where they live:
  graph.detection.evidence     read accounts and what they share (one read per relationship type)
  graph.detection.communities  community detection in GDS (Leiden) or networkx (Louvain)
  graph.detection.fragments    fragments of one farm that community detection cut apart, put back together
  graph.detection.scoring      member evidence, ring features, score, reasons
  graph.detection.expand       found rings take in accounts tied to them only by their ring-only entities
  graph.detection.rings        persist, matching previous rings so ids and decisions survive

Asked for (`incremental`), a run after a small delivery covers only the region it touched,
with the same steps, when that can be trusted (graph.detection.incremental). It is not the
default: its flagged set is a full run's only as far as the region holds everything that
decides its rings (measured at 100,000 accounts: 2 accounts apart of 7,000).
"""

from __future__ import annotations

import ctypes
import json
import os
import socket
import time
import uuid
from dataclasses import dataclass, field

import neo4j
import pandas as pd

from graph.db import locks
from graph.db.schema import ensure_schema
from graph.detection.calibrate import detection_params
from graph.detection.communities import find_communities, resolve_backend
from graph.detection.evidence import read_evidence, read_region_evidence
from graph.detection.expand import expand_found_rings
from graph.detection.fragments import merge_fragments
from graph.detection.incremental import Plan, flagged_outside, plan_run, remap_communities
from graph.detection.rings import persist
from graph.detection.scoring import DEFAULT_PARAMS, DEFAULT_THRESHOLD, is_background, score_communities


@dataclass
class DetectionResult:
    run_id: str
    backend: str
    rings: pd.DataFrame  # every persisted ring (suspected and watch), with id and status
    members: pd.DataFrame
    timings: dict[str, float]
    threshold: float
    plan: dict = field(default_factory=dict)  # kind (full/incremental), delivery mark, region size

    @property
    def flagged_rings(self) -> pd.DataFrame:
        return self.rings[self.rings["score"] >= self.threshold].sort_values("score", ascending=False)


def drop_background(
    rings: pd.DataFrame, members: pd.DataFrame, n_accounts: int, threshold: float, p: dict
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Set aside the background population (graph.detection.scoring.is_background): a
    candidate below the threshold holding a large share of all accounts, ordinary users
    linked by popular templates and shared carrier addresses. It is never flagged, and as
    a `watch` ring it would only cost writes and mislead. A candidate at or above the
    threshold is always kept, whatever its size.
    """
    background = rings[is_background(rings, n_accounts, threshold, p).to_numpy()]
    if background.empty:
        return rings, members, background
    keep = ~rings["community"].isin(background["community"])
    return rings[keep], members[~members["community"].isin(background["community"])], background


def release_freed_memory() -> None:
    """Give the heap pages the step just done freed back to the system (glibc's malloc_trim).

    glibc keeps freed blocks for reuse, but each step's large tables are arrays it maps
    anew, so what one step freed (0.1-0.2 GiB at 1,000,000 accounts, scattered among blocks
    still in use) sat under the next step's peak. A no-op where the C library has no
    malloc_trim (not glibc)."""
    if trim := _glibc("malloc_trim"):
        trim(0)


# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
OWN_MAPPING = 128 * 1024  # glibc's initial threshold for a block mapped on its own


def map_large_blocks() -> None:
    """Have glibc map every block of OWN_MAPPING bytes or more on its own, and give it back
    when freed, for the rest of the process.

    glibc starts at that threshold but raises it (up to 32 MiB) each time a mapped block is
    freed, so after the first step most of detection's arrays were carved from the heap,
    and what they left when freed stayed in the process under the next step's peak. Fixed,
    the client's peak at 1,000,000 accounts was 38 MiB lower (see docs/scale.md); no slower
    (a fresh mapping per large array). A no-op where the C library is not glibc."""
    if mallopt := _glibc("mallopt"):
        mallopt(M_MMAP_THRESHOLD, OWN_MAPPING)
        mallopt(M_TRIM_THRESHOLD, OWN_MAPPING)


def _glibc(name: str):
    """The C library's function `name`, or None where it has none (not glibc)."""
    try:
        return getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError):
        return None


def detect(
    driver: neo4j.Driver,
    backend: str = "auto",
    threshold: float = DEFAULT_THRESHOLD,
    params: dict | None = None,
    write: bool = True,
    log=print,
    wait_s: float = 0.0,
    incremental: bool = False,
) -> DetectionResult:
    """Run detection and (by default) persist the rings: over the whole graph, or with
    `incremental` (and `write`) over the region the deliveries since the previous run
    touched, when that can be trusted; the first line logged says which and why.

    A persisting run holds the database lock `detect` from reading the evidence to writing
    the rings, so two runs never both mint ids for the same rings; a second run waits up
    to `wait_s` seconds, then raises graph.db.locks.LockBusy naming the run in progress.
    """
    if not write:
        return _detect(driver, backend, threshold, params, write, log)
    run_id = f"run-{uuid.uuid4().hex[:10]}"
    ensure_schema(driver)
    with locks.hold(driver, "detect", f"{run_id} on {socket.gethostname()} pid {os.getpid()}", wait_s=wait_s):
        return _detect(driver, backend, threshold, params, write, log, run_id, incremental)


def _detect(
    driver, backend, threshold, params, write, log, run_id: str | None = None, incremental: bool = False
) -> DetectionResult:
    p = {**DEFAULT_PARAMS, **(params or {})}
    map_large_blocks()
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    ensure_schema(driver)
    p, weights_line = detection_params(driver, p)
    log(weights_line)
    plan = plan_run(driver, p, threshold, resolve_backend(driver, backend), incremental)
    log(plan.line)
    timings["plan"] = time.monotonic() - t0
    ev = read_region_evidence(driver, plan.region) if plan.incremental else read_evidence(driver)
    timings["read"] = time.monotonic() - t0 - timings["plan"]
    links = len(ev.templates) + len(ev.ips) + len(ev.payments)
    log(f"read {len(ev.accounts):,} accounts, {links:,} links in {timings['read']:.1f} s")
    release_freed_memory()  # (between steps: see its docstring)
    t1 = time.monotonic()
    seeds = (plan.seeds if plan.seeds is not None else pd.Series(dtype="int64")) if plan.incremental else None
    community, raw, used = find_communities(driver, ev, backend, p, seeds)
    timings["communities"] = time.monotonic() - t1
    log(f"{used}: {community.nunique():,} communities in {timings['communities']:.1f} s")
    release_freed_memory()
    if p["merge_fragments"]:
        t_merge = time.monotonic()
        community, merged = merge_fragments(ev, community, p)
        timings["fragments"] = time.monotonic() - t_merge
        log(merged.summary(timings["fragments"]))
        release_freed_memory()
    t2 = time.monotonic()
    rings, members = score_communities(ev, community, p, threshold=threshold)
    rings, members, background = drop_background(rings, members, ev.n_accounts, threshold, p)
    timings["scoring"] = time.monotonic() - t2
    release_freed_memory()
    if len(background):
        log(
            f"not kept: {len(background):,} low-score candidate(s) of "
            f"{', '.join(f'{int(n):,}' for n in background['size'])} accounts (the background population)"
        )
    if p["expand"]:
        t_expand = time.monotonic()
        rings, members, joined = expand_found_rings(ev, community, rings, members, threshold, p)
        timings["expand"] = time.monotonic() - t_expand
        log(joined.summary(timings["expand"]))
        release_freed_memory()
    run_id = run_id or f"run-{uuid.uuid4().hex[:10]}"
    flagged = rings[rings["score"] >= threshold]
    log(
        f"{len(rings):,} candidate rings, {len(flagged):,} above {threshold} "
        f"({int(flagged['size'].sum()) if len(flagged) else 0:,} accounts) in {timings['scoring']:.1f} s"
    )
    del ev, community  # (the evidence is most of the process; writing needs none of it)
    release_freed_memory()
    if write:
        t3 = time.monotonic()
        rings = _persist(driver, plan, rings, members, raw, threshold, run_id, used, p, t0)
        timings["persist"] = time.monotonic() - t3
    timings["total"] = time.monotonic() - t0
    return DetectionResult(run_id, used, rings, members, timings, threshold, plan.record())


def _persist(
    driver, plan: Plan, rings, members, raw: pd.Series, threshold: float, run_id: str, used: str, p: dict, t0: float
) -> pd.DataFrame:
    """Write the run (see graph.detection.rings.persist): a full run all rings, an
    incremental one those of its region, with the totals over all rings either way."""
    flagged = rings[rings["score"] >= threshold]
    n_rings, n_flagged = len(flagged), int(flagged["size"].sum()) if len(flagged) else 0
    if plan.incremental:
        outside = flagged_outside(driver, plan, threshold)
        n_rings, n_flagged = n_rings + outside[0], n_flagged + outside[1]
    seeds = None
    if plan.incremental:  # Louvain (networkx) was not seeded: none of its ids is a seed's
        seeds = plan.seeds if used == "gds" else pd.Series(dtype="int64")
    communities, next_id = remap_communities(raw, seeds, plan.next_community)
    if seeds is not None and len(seeds):  # an account whose community kept its id holds it already
        communities = communities[communities.ne(seeds.reindex(communities.index))]
    run = {
        "id": run_id,
        "backend": used,
        "threshold": threshold,
        "params": json.dumps(p, default=str),
        "seconds": round(time.monotonic() - t0, 2),
        "rings": n_rings,
        "flagged": n_flagged,
        "communities": max(next_id, plan.next_community),
        **plan.record(),
    }
    scope = plan.rings if plan.incremental else None
    return persist(driver, rings, members, threshold, run, scope, communities)
