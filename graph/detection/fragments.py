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

A community takes part when most of its accounts hold such links; in a community where they
are a minority (a farm Leiden glued to the ordinary users by its camouflage), the accounts
holding them take part as groups of their own, one per set of accounts tied by the templates
they share (two farms' accounts in one community stay apart: farms keep their templates to
themselves), each of at least `merge_min_shared` accounts; a group tied to nothing stays in
its community. Two taking part are tied
when, on each side, at least `merge_min_shared` accounts (or all of a smaller community's)
hold templates the two share: one team member on a leaked farm template does not tie the
team to the farm, while a farm's fragments, often single accounts, each use several of its
templates. Communities tied directly or through others become one candidate, whole;
everything else keeps its community. Scoring then decides, as for any community, who is a member and
whether it is a ring.

Parameters (graph.detection.scoring.DEFAULT_PARAMS): `merge_fragments` (on/off),
`merge_max_users`, `merge_max_share`, `merge_min_scarce`, `merge_min_link`, `merge_share`,
`merge_min_shared`.

Cost: a few group-bys over the template links and one connected-components pass
over a sparse matrix: linear in links (0.2-0.5 s at 25,000 accounts here).

The thresholds were set on worlds of seeds 4-6 (25,000 accounts, difficulty 0 and 1) and are
measured on others (bench/ablation.py; docs/detection-quality.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from graph.detection.evidence import Evidence, chunked_pairs, entity_degrees, users_per_entity

__all__ = ["Merged", "merge_fragments", "sharing_accounts"]


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
    """(account, template) links to scarce templates that pass rules 1-3 of the module docstring.

    Only the links to scarce templates are taken (a fifth of the template links): an account
    without one puts nothing on scarce templates and fails rule 1 whatever its traffic."""
    most = max(2, min(p["merge_max_users"], round(p["merge_max_share"] * ev.n_accounts)))
    degree = ev.templates["degree"].to_numpy()
    t = ev.templates.loc[(degree >= 2) & (degree <= most), ["account", "entity", "requests", "degree"]]
    # each account's traffic on all its templates (its TOTALS), of the accounts these links hold
    total = ev.accounts.set_index("account")["template_requests"].reindex(t["account"].unique())
    on_scarce = t.groupby("account")["requests"].sum().reindex(total.index).fillna(0) / total
    kept = on_scarce.index[on_scarce >= p["merge_min_scarce"]]
    link_share = (t["requests"] / t["account"].map(total)).to_numpy()
    links = t.loc[t["account"].isin(kept).to_numpy() & (link_share >= p["merge_min_link"]), ["account", "entity"]]
    inside = users_per_entity(links) / entity_degrees(t).reindex(links["entity"].unique())
    return links[links["entity"].map(inside) >= p["merge_share"]]


PAIR_CHUNK = 1_000_000  # pairs of one template's holders made at once


def sharing_accounts(held: pd.DataFrame) -> pd.DataFrame:
    """For each two communities holding a template in common (`held`: community, entity,
    account), how many accounts of each hold templates the two share: a frame indexed by
    (community_x, community_y), community_x < community_y, with columns x and y.

    The rows of a self-join of `held` on the template are made PAIR_CHUNK at a time, as
    integer codes (`chunked_pairs`), and reduced at once to distinct (pair of communities,
    account) keys: the join's frames were the step's peak at 1,000,000 accounts (9.4 M
    rows, 0.85 GiB above the evidence)."""
    held = held.sort_values("entity", kind="stable")
    template = pd.factorize(held["entity"])[0]  # sorted: each template's rows lie together
    sizes = np.bincount(template).astype(np.int64) if len(template) else np.zeros(0, np.int64)
    community, ids = pd.factorize(held["community"], sort=True)  # codes in the ids' order
    community = community.astype(np.int64)
    account = pd.factorize(held["account"])[0].astype(np.int64)
    n_ids, n_accounts = len(ids), int(account.max()) + 1 if len(account) else 1
    x_keys, y_keys = [np.empty(0, np.int64)], [np.empty(0, np.int64)]
    for i, j in chunked_pairs(sizes, PAIR_CHUNK):
        swap = community[j] < community[i]  # the side with the lower community id is x
        i, j = np.where(swap, j, i), np.where(swap, i, j)
        apart = community[i] != community[j]
        i, j = i[apart], j[apart]
        pair = community[i] * n_ids + community[j]
        x_keys.append(np.unique(pair * n_accounts + account[i]))
        y_keys.append(np.unique(pair * n_accounts + account[j]))
    pairs, x = np.unique(np.unique(np.concatenate(x_keys)) // n_accounts, return_counts=True)
    y = np.unique(np.unique(np.concatenate(y_keys)) // n_accounts, return_counts=True)[1]
    index = pd.MultiIndex.from_arrays([ids[pairs // n_ids], ids[pairs % n_ids]], names=["community_x", "community_y"])
    return pd.DataFrame({"x": x, "y": y}, index=index)


def _split_minorities(links: pd.DataFrame, community: pd.Series, taking: pd.Index, p: dict) -> pd.Series:
    """The holders of scarce links in communities that do not take part, split off: per
    community, its holders tied through the templates they share (connected components of
    their account-template links) become a community of their own when at least
    `merge_min_shared` accounts hold it. Returns account -> new community id (above every
    id of `community`) for the accounts split off.

    Leiden can glue a farm to the background population by the popular templates its
    accounts use as camouflage: at 1,000,000 accounts 2,766 of a hydra's 3,648 accounts were
    in the community of about 490,000 ordinary users, where they are a small minority;
    the farm's fragments outside it could not take them in, and expansion grew them back
    as five rings instead of one (and an incremental run, whose region leaves that
    community out, as one)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    minority = links[~links["community"].isin(taking)]
    if minority.empty:
        return pd.Series(dtype="int64")
    account, accounts = pd.factorize(minority["account"])
    template = pd.factorize(minority["entity"])[0] + len(accounts)
    n = int(template.max()) + 1
    graph = coo_matrix((np.ones(len(account), dtype=np.int8), (account, template)), shape=(n, n))
    label = connected_components(graph, directed=False)[1][: len(accounts)]
    # one group per (community, component): a farm's holders in two communities stay two groups
    # (the usual tie rule joins them), and two farms' holders never share a component
    own = community.reindex(accounts).to_numpy()
    group = pd.factorize(pd.MultiIndex.from_arrays([own, label]))[0]
    size = np.bincount(group)
    keep = size[group] >= p["merge_min_shared"]
    first_new = int(community.max()) + 1
    return pd.Series(first_new + pd.factorize(group[keep])[0], index=accounts[keep], dtype="int64")


def merge_fragments(ev: Evidence, community: pd.Series, p: dict) -> tuple[pd.Series, Merged]:
    """(account -> community, with fragments of one farm under one id; what was merged)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    links = _scarce_links(ev, p) if len(ev.templates) else pd.DataFrame(columns=["account", "entity"])
    links = links[links["account"].isin(community.index)]
    links = links.assign(community=community.reindex(links["account"]).to_numpy())
    sizes = community.value_counts()
    # a community takes part when most of its accounts hold such links; in the others, the
    # holders tied by the templates they share take part as groups of their own
    holding = links.groupby("community")["account"].nunique() / sizes
    taking = holding.index[holding > 0.5]
    split = _split_minorities(links, community, taking, p)
    if len(split):
        group = split.reindex(links["account"]).to_numpy()
        links = links.assign(community=np.where(pd.isna(group), links["community"].to_numpy(), group).astype("int64"))
        taking = taking.append(pd.Index(split.unique()))
        sizes = pd.concat([sizes, split.value_counts()])
    by_pair = sharing_accounts(links.loc[links["community"].isin(taking), ["community", "entity", "account"]])
    need = p["merge_min_shared"]
    x_size = sizes.reindex(by_pair.index.get_level_values(0)).to_numpy()
    y_size = sizes.reindex(by_pair.index.get_level_values(1)).to_numpy()
    tied = (by_pair["x"].to_numpy() >= np.minimum(need, x_size)) & (by_pair["y"].to_numpy() >= np.minimum(need, y_size))
    shared = by_pair[tied]
    if shared.empty:
        return community, Merged(0, 0, 0)
    ids = pd.Index(pd.unique(np.concatenate([shared.index.get_level_values(0), shared.index.get_level_values(1)])))
    a = ids.get_indexer(shared.index.get_level_values(0))
    b = ids.get_indexer(shared.index.get_level_values(1))
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(len(ids), len(ids)))
    _, labels = connected_components(graph, directed=False)
    first_new = int(max(community.max(), split.max() if len(split) else 0)) + 1
    target = pd.Series(first_new + labels, index=ids)
    # a group split off and tied to nothing goes back to its community
    grouped = community.copy()
    tied_split = split[split.isin(ids)]
    grouped.loc[tied_split.index] = tied_split.to_numpy()
    merged = grouped.map(target).fillna(community).astype("int64").rename(community.name)
    moved = int(grouped.isin(ids).sum())
    return merged, Merged(int(labels.max()) + 1, len(ids), moved)
