"""`ringwatch evaluate TRUTH_DIR`: detection quality against a generated world's truth.

Flagged accounts are members of rings whose status is suspected, confirmed or blocked.
Reported: precision, recall and F1 over farm accounts; per planted ring the best Jaccard
with any flagged ring (ring recovery); per benign category the share flagged.

Two baselines are computed on the same graph evidence for comparison:
- `p2p_rules`: the entity-resolution rules of Neo4j's public P2P fraud-detection demo,
  adapted: two accounts are linked when they share a card or an IP address used by
  <= 10 accounts and share >= 2 other identifiers (cards, IPs, templates); flagged are
  the accounts in WCC components of >= 2 accounts.
- `wcc_cards_ips`: plain WCC over shared cards and IP addresses; flagged are the accounts
  in components of >= 3 accounts.
"""

from __future__ import annotations

from pathlib import Path

import neo4j
import networkx as nx
import pandas as pd

from graph.db.connection import read
from graph.detection.evidence import Evidence, entity_degrees

FLAGGED = """
MATCH (a:Account)-[:MEMBER_OF]->(r:Ring)
WHERE r.status IN ['suspected', 'confirmed', 'blocked']
RETURN a.id AS account, r.id AS ring
"""

FLAGGED_BY_SCORE = """
MATCH (a:Account)-[m:MEMBER_OF]->(r:Ring)
WHERE coalesce(m.active, true) AND r.retired_run IS NULL AND r.score >= $threshold
RETURN collect(DISTINCT a.id) AS accounts
"""


def read_truth(truth_dir: Path) -> pd.DataFrame:
    """account_id, ring_id ('' for benign), category."""
    path = truth_dir / "accounts.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: pass the truth/ folder a `ringwatch generate` wrote")
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def quality(truth: pd.DataFrame, flagged: pd.DataFrame) -> dict:
    """Metrics of `flagged` (account, ring) against `truth`."""
    is_farm = truth.set_index("account_id")["ring_id"].ne("")
    flagged_set = set(flagged["account"])
    farm = set(is_farm[is_farm].index)
    tp = len(flagged_set & farm)
    precision = tp / len(flagged_set) if flagged_set else 1.0
    recall = tp / len(farm) if farm else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    benign = truth[truth["ring_id"] == ""]
    fp_by_category = {
        cat: {
            "accounts": len(g),
            "flagged": int(g["account_id"].isin(flagged_set).sum()),
            "rate": round(float(g["account_id"].isin(flagged_set).mean()), 5),
        }
        for cat, g in benign.groupby("category")
    }
    recovery = {}
    detected = {r: set(g["account"]) for r, g in flagged.groupby("ring")} if len(flagged) else {}
    for ring_id, g in truth[truth["ring_id"] != ""].groupby("ring_id"):
        planted = set(g["account_id"])
        best = max((len(planted & d) / len(planted | d) for d in detected.values()), default=0.0)
        recovery[ring_id] = {"style": g["category"].iloc[0], "size": len(planted), "best_jaccard": round(best, 4)}
    by_style = {}
    farms = truth[truth["ring_id"] != ""]
    for style, g in farms.groupby("category"):
        by_style[style] = {"accounts": len(g), "recall": round(float(g["account_id"].isin(flagged_set).mean()), 4)}
    return {
        "flagged": len(flagged_set),
        "farm_accounts": len(farm),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "benign_flagged": fp_by_category,
        "recall_by_style": by_style,
        "ring_recovery": recovery,
        "mean_best_jaccard": round(sum(v["best_jaccard"] for v in recovery.values()) / len(recovery), 4)
        if recovery
        else None,
    }


def flagged_accounts(driver: neo4j.Driver) -> pd.DataFrame:
    return pd.DataFrame(read(driver, FLAGGED), columns=["account", "ring"])


def flagged_set(driver: neo4j.Driver, threshold: float) -> set[str]:
    """The accounts detection flags now, whatever analysts decided: active members of the
    rings (not retired) scoring at or above `threshold`. What an incremental run must leave
    as a full run of the same graph would (graph.detection.incremental)."""
    return set(read(driver, FLAGGED_BY_SCORE, threshold=threshold)[0]["accounts"])


def _components(g: nx.Graph, min_size: int) -> pd.DataFrame:
    rows = [
        (node, f"wcc-{i}")
        for i, comp in enumerate(nx.connected_components(g))
        if len(comp) >= min_size
        for node in comp
    ]
    return pd.DataFrame(rows, columns=["account", "ring"])


def baseline_wcc_cards_ips(ev: Evidence) -> pd.DataFrame:
    g = nx.Graph()
    for frame in (ev.payments, ev.ips):
        for _, accounts in frame.groupby("entity")["account"]:
            accounts = accounts.unique()
            g.add_edges_from((accounts[0], a) for a in accounts[1:])
    return _components(g, 3)


def baseline_p2p_rules(ev: Evidence, device_limit: int = 10, other_identifiers: int = 2) -> pd.DataFrame:
    """Pairs sharing a card/IP linked to <= device_limit accounts and >= 2 other identifiers."""
    small = []
    for kind, frame in (("pay", ev.payments), ("ip", ev.ips), ("tpl", ev.templates)):
        deg = entity_degrees(frame)
        ok = deg[(deg >= 2) & (deg <= device_limit)].index
        part = frame.loc[frame["entity"].isin(ok), ["account", "entity"]].drop_duplicates()
        part["entity"] = kind + ":" + part["entity"].astype(str)
        small.append(part)
    links = pd.concat(small, ignore_index=True)
    pairs = links.merge(links, on="entity")
    pairs = pairs[pairs["account_x"] < pairs["account_y"]]
    pairs["device"] = ~pairs["entity"].str.startswith("tpl:")
    agg = pairs.groupby(["account_x", "account_y"]).agg(shared=("entity", "size"), device=("device", "any"))
    linked = agg[agg["device"] & (agg["shared"] >= 1 + other_identifiers)].reset_index()
    g = nx.Graph()
    g.add_edges_from(zip(linked["account_x"], linked["account_y"], strict=True))
    return _components(g, 2)
