"""Fragments of one farm put back together: communities tied by the scarce templates they hold between them.

Modularity methods (Leiden, Louvain) cut a large, evenly spread farm into pieces. A hydra at
the generator's hardest level is close to a random bipartite graph: 788 accounts, each on 2-4
of about 200 templates drawn at random from the farm's pool, so every template's 5-30 users
fall into different communities. Leiden then finds 551 communities of at most 15 hydra
accounts, none of which holds half the users of any template, so no member has a bound
entity and no ring forms (recall 0.0 on three seeds at 25,000 accounts).

What it computes: a bipartite graph of accounts and *scarce* templates (used by 2 to
`merge_max_users` accounts, and at most `merge_max_share` of all accounts: in a small world a
template of 100 users is a popular one), keeping only

1. accounts that put at least `merge_min_scarce` of their template traffic on scarce
   templates (a farm's accounts run its templates; an ordinary user's traffic is mostly on
   popular prompts and prompts of its own);
2. links that carry at least `merge_min_link` of the account's template traffic (a template a
   team member borrowed once is a small part of its traffic: without this rule one borrowed
   prompt chains a whole team to the farm it came from);
3. templates at least `merge_share` of whose users are among the accounts kept in (1).

Templates only: a shared card already binds its users in one community (and makes each a
member), and a farm's exits are shared with bystanders (graph.detection.expand's rule keeps
those out).

Its connected components of at least 3 accounts are candidates: each community whose
majority of accounts lies in one component joins that component whole (so a community that
was a ring already stays whole). Everything else keeps its community. Scoring then decides,
as for any community, who is a member and whether it is a ring.

Parameters (graph.detection.scoring.DEFAULT_PARAMS): `merge_fragments` (on/off),
`merge_max_users`, `merge_max_share`, `merge_min_scarce`, `merge_min_link`, `merge_share`.

Cost: a few group-bys over the template links and one connected-components pass
over a sparse matrix: linear in links (0.2-0.5 s at 25,000 accounts here).

The thresholds were set on worlds of seeds 4-6 (25,000 accounts, difficulty 0 and 1) and are
measured on others (bench/ablation.py; docs/detection-quality.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from graph.detection.evidence import Evidence

__all__ = ["Merged", "merge_fragments"]


@dataclass
class Merged:
    """What merging did: components formed and communities joined into them."""

    components: int
    communities: int
    accounts: int

    def summary(self, seconds: float) -> str:
        if not self.components:
            return f"fragments: nothing to put together ({seconds:.1f} s)"
        return (
            f"fragments: {self.communities:,} communities put together into {self.components:,} candidate(s) "
            f"of {self.accounts:,} accounts through the scarce templates they share ({seconds:.1f} s)"
        )


def _scarce_links(ev: Evidence, p: dict) -> pd.DataFrame:
    """(account, template) links to scarce templates that pass rules 1-3 of the module docstring."""
    t = ev.templates[["account", "entity", "requests"]]
    degree = t.groupby("entity")["account"].nunique()
    most = max(2, min(p["merge_max_users"], round(p["merge_max_share"] * ev.n_accounts)))
    scarce = t["entity"].map(degree).between(2, most).to_numpy()
    total = t.groupby("account")["requests"].sum()
    on_scarce = t[scarce].groupby("account")["requests"].sum().reindex(total.index).fillna(0) / total
    kept = on_scarce.index[on_scarce >= p["merge_min_scarce"]]
    link_share = (t["requests"] / t["account"].map(total)).to_numpy()
    links = t.loc[
        scarce & t["account"].isin(kept).to_numpy() & (link_share >= p["merge_min_link"]), ["account", "entity"]
    ]
    inside = links.groupby("entity")["account"].nunique() / degree.reindex(links["entity"].unique())
    return links[links["entity"].map(inside) >= p["merge_share"]]


def merge_fragments(ev: Evidence, community: pd.Series, p: dict) -> tuple[pd.Series, Merged]:
    """(account -> community, with fragments of one farm under one id; what was merged)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    links = _scarce_links(ev, p) if len(ev.templates) else pd.DataFrame(columns=["account", "entity"])
    links = links[links["account"].isin(community.index)]
    if links.empty:
        return community, Merged(0, 0, 0)
    accounts = pd.Index(links["account"].unique())
    entities = pd.Index(links["entity"].unique())
    rows = accounts.get_indexer(links["account"])
    cols = len(accounts) + entities.get_indexer(links["entity"])
    n = len(accounts) + len(entities)
    graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    component = pd.Series(labels[: len(accounts)], index=accounts)
    component = component[component.map(component.value_counts()) >= 3]
    # a community joins the component holding the majority of its accounts, whole
    held = pd.DataFrame({"community": community.reindex(component.index).to_numpy(), "component": component.to_numpy()})
    counts = held.groupby(["community", "component"]).size().rename("n").reset_index()
    counts = counts[counts["n"] / counts["community"].map(community.value_counts()) > 0.5]
    joined = counts.groupby("component")["community"].nunique()
    counts = counts[counts["component"].isin(joined.index[joined >= 2])]  # one community alone stays as it is
    if counts.empty:
        return community, Merged(0, 0, 0)
    first_new = int(community.max()) + 1
    target = pd.Series(first_new + counts["component"].to_numpy(), index=counts["community"].to_numpy())
    merged = community.map(target).fillna(community).astype("int64").rename(community.name)
    moved = int(community.isin(counts["community"]).sum())
    return merged, Merged(counts["component"].nunique(), len(counts), moved)
