"""Membership that follows a found ring's own traces: accounts tied to it only through its
ring-only entities join it, with evidence saying why.

Refine (graph.detection.communities) keeps two members of a community together only when
they share two bound entities, and scoring keeps a member only when it holds enough of
them. A farm spread thin (a hydra whose accounts each touch one or two exits of a large
proxy pool and a few of its hundreds of templates) loses most of its accounts there: two
of them rarely share two things, although every one of them uses the farm's own templates.

This step runs after scoring, once per detection, on the rings at or above the threshold
(a ring is *found*). It is a ring-scoped second pass over the evidence already read, in
rounds; in each round, for each found ring R (its members, plus those who joined in
earlier rounds):

1. *Reach.* An entity (template, payment method, address; used by 2 up to the detection
   caps) *leans* to R when R's members are at least `expand_reach` (5 %) of its users.
   Candidates are the accounts outside every found ring that use a leaning entity. A VPN
   exit or a popular template with a few farm users among hundreds leans nowhere.
2. *Ring-only entities.* A candidate is *tied* to R beyond one link when it uses another
   leaning entity or goes out through one of R's proxy pools (see 3), or, for an address,
   uses a leaning template or payment method. An entity
   is ring-only for R when a member of R uses it, and R's members and tied candidates are
   at least `expand_share` (80 %) of all its users (and at least two): used almost only
   by the ring and by accounts bound to it in more than one way. A hydra's template whose
   ten users are two members and eight thin accounts with other hydra templates is
   ring-only for the hydra; a rare public template a farm member used as camouflage,
   whose other users are ordinary accounts with nothing else of the ring, is not.
3. *The rule.* A candidate joins R when it uses two ring-only templates or payment
   methods of R, or one of them and one address of R, and at least `expand_min_share`
   (a third) of its template traffic is on R's ring-only templates; a fifth
   (`expand_scripted_share`) for an account that never sent a prompt of its own (every
   template it used, another account used too: people write some prompts nobody else
   sends, a farm's accounts run its templates). An address of R is a ring-only address,
   an address leaning to R, or an exit of one of R's *proxy pools* (a proxy service at
   least `expand_pool_members`, a quarter, of R's members go out through; every exit of
   a proxy service counts, an exit only one account uses too): a hydra spread over a
   pool of thousands of residential exits rarely puts two members on one exit, but its
   members all go out through the same service or two.
   Addresses alone never qualify, so a VPN or proxy user who shares exits with a farm, or
   its proxy service, stays out however many it shares; no account joins through one
   link; and a borrowed template that carries a small part of an account's traffic fails
   the share.

4. *Pieces of one farm.* Community detection can cut a thin farm into many small found
   rings (a hydra into one per window of its templates); then an account holds one
   ring-only template of each and joins none. An account that would meet the rule over
   its holdings in several found rings together, and in none alone, bridges them; found
   rings that `expand_merge_bridges` (3) accounts bridge are merged into the largest
   before anyone joins. Farms keep their templates and cards to themselves, so distinct
   farms are not bridged.

Joined accounts become members of R, and the next round reaches from them; rounds stop
when nobody joins (at most `expand_rounds`). The rings that changed are scored again with
their new members (graph.detection.scoring, `joined`): their features, score and reasons
describe every member.

An account two rings reach joins the one it holds most ring-only entities of. Each joined
account gets one evidence line: how many ring-only templates, payment methods and
addresses it uses and how much of its traffic is on them.

Why this and not personalised PageRank or label propagation in GDS: the rule is a
statement an analyst can check on the ring page (these counts, this share), it has a
bystander guarantee by construction (addresses alone never qualify), it is deterministic,
and it needs no second projection: it reuses the evidence tables detection has read.
Cost: a few group-bys over the links of found rings and of the accounts around them per
round (one to three rounds, about a second, at 20,000 accounts; at 1,000,000, 30 rounds
of 1.5 million candidate links, 27 s), then scoring the changed rings again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from graph.detection.evidence import Evidence, scripted_accounts, share_needed

__all__ = ["Joined", "expand_found_rings", "expand_rings", "join_line"]

KIND = {"tpl": 0, "pay": 1, "ip": 2}  # the `kind` column of the links, as small integers
PRIVATE_KINDS = (KIND["tpl"], KIND["pay"])  # a ring's own templates and payment methods
CAP_KEYS = {"tpl": "max_template_degree", "pay": "max_payment_degree", "ip": "max_ip_degree"}


@dataclass
class Joined:
    """Accounts that joined found rings: one row per account (index), with its ring
    (`community`), the ring-only templates, payment methods and addresses it uses, the
    ring's other exits it uses, the share of its template traffic on the ring-only
    templates, and the evidence line."""

    frame: pd.DataFrame  # index account; community, templates, payments, ips, exits, share, evidence
    rounds: int
    merged: dict[int, int] = field(default_factory=dict)  # found ring -> the ring of the same farm it joined

    def summary(self, seconds: float) -> str:
        """The line detection logs."""
        pieces = len(set(self.merged.values()))
        merged = f"{len(self.merged) + pieces:,} found rings merged into {pieces:,} farm(s); " if self.merged else ""
        rings = self.community.nunique() if len(self) else 0
        return (
            f"expand: {merged}{len(self):,} accounts joined {rings:,} found ring(s) "
            f"through their ring-only entities in {seconds:.1f} s"
        )

    @property
    def community(self) -> pd.Series:
        return self.frame["community"]

    def __len__(self) -> int:
        return len(self.frame)


def _links(ev: Evidence, owner: pd.Series, params: dict) -> tuple[pd.DataFrame, pd.Index]:
    """(account, entity, requests, pool, degree, kind) of every entity used by 2 up to
    `expand_max_users` accounts (and the detection caps), and of every exit of a proxy
    service up to those caps: the only links expansion follows.
    A farm's own templates, cards and exits are scarce; a popular template, a VPN exit or a
    carrier NAT is never one, however many farm accounts use it as camouflage.

    Accounts and entities are integer codes, and `kind` a KIND code: expansion runs a few
    group-bys and merges over these links per round, and keys of integers hash several
    times faster than the id strings (at 1,000,000 accounts expansion took 177 s on the
    strings). Returns (links, accounts): `accounts[code]` is the account's id."""
    frames = [(k, f) for k, f in (("tpl", ev.templates), ("pay", ev.payments), ("ip", ev.ips)) if not f.empty]
    ids = [ev.accounts["account"], owner.index.to_series(), *(f["account"] for _, f in frames)]
    accounts = pd.Index(pd.unique(pd.concat(ids, ignore_index=True)), name="account")
    pools = pd.Index(ev.ips["proxy"].dropna().unique()) if len(ev.ips) else pd.Index([])
    parts, offset = [], 0
    for kind, frame in frames:
        cap = min(params[CAP_KEYS[kind]], params["expand_max_users"])
        # and every exit of a proxy service, shared or not: a pool a ring's members go out
        # through is one of its traces even where each member has an exit to itself
        degree = frame["degree"].to_numpy()
        followed = (degree >= 2) | (frame["proxy"].notna().to_numpy() if kind == "ip" else False)
        frame = frame[followed & (degree <= cap)]  # before the group-by: a fifth of the links at 1M
        entity, distinct = pd.factorize(frame["entity"])
        # codes and counts as int32 (below 2**31 at any size one client holds): the links and the
        # candidates' copies of them, per round, were most of expansion's memory at 1,000,000 accounts
        part = pd.DataFrame(
            {
                "account": accounts.get_indexer(frame["account"]).astype("int32"),
                # kinds apart: a template and an address never share a code
                "entity": (entity + offset).astype("int32"),
                "requests": frame["requests"].to_numpy() if "requests" in frame.columns else 0,
                # an address's proxy service (the farm's pool), -1 for none and for other kinds
                "pool": pools.get_indexer(frame["proxy"]).astype("int32") if kind == "ip" else np.int32(-1),
                "degree": frame["degree"].to_numpy().astype("int32"),
            }
        )
        offset += len(distinct)
        part = part.groupby(["account", "entity"], as_index=False, sort=False).agg(
            requests=("requests", "sum"), pool=("pool", "first"), degree=("degree", "first")
        )
        parts.append(part.assign(kind=np.int8(KIND[kind])))
    if not parts:
        empty = pd.DataFrame({c: pd.Series(dtype="int64") for c in ("account", "entity", "requests", "pool", "degree")})
        return empty.assign(kind=pd.Series(dtype="int8")), accounts
    return pd.concat(parts, ignore_index=True), accounts


def _split_links(links: pd.DataFrame, owner: pd.Series) -> tuple[pd.DataFrame, np.ndarray]:
    """(the links of ring members with their ring, `community`; per link, whether it is
    everyone else's: a mask, where a copy of those links each round was a copy of most of them)."""
    account = links["account"].to_numpy()
    ring = np.full(max(int(account.max(initial=-1)), int(owner.index.max())) + 1, -1, dtype=np.int64)
    ring[owner.index.to_numpy()] = owner.to_numpy()
    mine = ring[account] >= 0
    return links[mine].assign(community=ring[account[mine]]), ~mine


def _pair_key(code: np.ndarray, community: np.ndarray, n: int) -> np.ndarray:
    """(entity or account code, ring) as one int64, code x `n` + ring (`n` above every ring id)."""
    return code.astype(np.int64) * n + community.astype(np.int64)


@dataclass
class _RingUse:
    """How many members of each found ring use each entity, for one round: the sorted keys
    entity x `n` + ring (one int64 per pair: a join on it is a binary search, where a
    two-column join over the million rows of a large world's candidates cost seconds a
    round), the members, and the entity's users in the whole graph (`degree`)."""

    n: int
    keys: np.ndarray
    members: np.ndarray
    degree: np.ndarray

    @classmethod
    def of(cls, ring_links: pd.DataFrame) -> _RingUse:
        n = int(ring_links["community"].max()) + 1 if len(ring_links) else 1
        keys = _pair_key(ring_links["entity"].to_numpy(), ring_links["community"].to_numpy(), n)
        keys, first, members = np.unique(keys, return_index=True, return_counts=True)
        return cls(n, keys, members, ring_links["degree"].to_numpy()[first])

    def key(self, code: np.ndarray, community: np.ndarray) -> np.ndarray:
        """One int64 per (entity or account `code`, ring) pair, as `keys` holds them."""
        return _pair_key(code, community, self.n)

    def leaning(self, params: dict) -> np.ndarray:
        """Keys of the (entity, ring) pairs where the ring's members are at least
        `expand_reach` of the entity's users: the entity leans to the ring."""
        return self.keys[self.members >= params["expand_reach"] * self.degree]

    def members_of(self, entity: np.ndarray, community: np.ndarray) -> np.ndarray:
        """Per row, how many members of ring `community` use `entity` (0 for none)."""
        if not len(self.keys):
            return np.zeros(len(entity), dtype=np.int64)
        key = self.key(entity, community)
        at = np.searchsorted(self.keys, key).clip(max=len(self.keys) - 1)
        return np.where(self.keys[at] == key, self.members[at], 0)


def _candidates(links: pd.DataFrame, free: np.ndarray, use: _RingUse, params: dict) -> pd.DataFrame:
    """Links of every (candidate account, ring) pair: accounts outside the found rings
    (`free`: which `links` are theirs) that use an entity leaning to a ring, with all their
    links, tagged with that ring."""
    lean = use.leaning(params)
    lean = pd.DataFrame({"entity": lean // use.n, "community": lean % use.n})
    reaching = links.loc[free & links["entity"].isin(lean["entity"]).to_numpy(), ["account", "entity"]]
    pairs = reaching.merge(lean, on="entity")[["account", "community"]].drop_duplicates()
    if pairs.empty:
        return links.iloc[:0].assign(community=pd.Series(dtype="int64"))
    return _tagged(links, pairs)


def _tagged(links: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """`links.merge(pairs, on="account")` (pairs: account, community; accounts are codes):
    each link of an account once per ring it is paired with, in the links' order, by
    positions (the merge's copies and indexers were expansion's peak at 1,000,000 accounts).
    The paired accounts are outside the rings, so every link of theirs is a free one."""
    account = links["account"].to_numpy()
    pairs = pairs.sort_values("account", kind="stable")
    paired = np.bincount(pairs["account"].to_numpy(), minlength=int(account.max(initial=-1)) + 1)
    rows = np.flatnonzero(paired[account] > 0)
    repeat = paired[account[rows]]
    row = np.repeat(rows, repeat)
    first = (np.cumsum(paired) - paired)[account[row]]  # the account's first pair
    step = np.arange(len(row)) - np.repeat(np.cumsum(repeat) - repeat, repeat)
    tagged = links.take(row)
    tagged.index = pd.RangeIndex(len(tagged))
    tagged["community"] = pairs["community"].to_numpy()[first + step]
    return tagged


def _ring_pools(ring_links: pd.DataFrame, owner: pd.Series, params: dict) -> pd.MultiIndex:
    """(ring, proxy service) pairs where at least `expand_pool_members` of the ring's members
    use an exit of that service: the ring's pools. A farm spread over a residential-proxy
    pool of thousands of exits rarely puts two members on one exit, but most of its members
    go out through the same one or two services."""
    exits = ring_links[(ring_links["kind"] == KIND["ip"]) & (ring_links["pool"] >= 0)]
    users = exits.groupby(["community", "pool"])["account"].nunique()
    size = owner.value_counts().reindex(users.index.get_level_values("community")).to_numpy()
    return users.index[users.to_numpy() >= params["expand_pool_members"] * size]


def _per_row(codes: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The sum of `values` over each row's group (`codes` from pd.factorize), on every row."""
    return np.bincount(codes, weights=values)[codes]


def _holdings(
    cand: pd.DataFrame,
    use: _RingUse,
    pools: pd.MultiIndex,
    tpl_total: np.ndarray,
    scripted: pd.Index,
    params: dict,
) -> pd.DataFrame:
    """Per (account, ring) pair of `cand` holding a ring-only entity of the ring: how many
    ring-only templates, payment methods and addresses, how many other exits of the ring
    (`exits`: addresses leaning to it, exits of its `pools`), the requests and the share of
    the account's template traffic on the ring-only templates, and whether the account is
    one of the `scripted` (no prompt of its own).

    Grouped sums are bincounts over integer codes: this runs once a round over every
    candidate link (1.5 million rows at 1,000,000 accounts, 30 rounds)."""
    entity, community = cand["entity"].to_numpy(), cand["community"].to_numpy()
    kind, degree = cand["kind"].to_numpy(), cand["degree"].to_numpy()
    in_r = use.members_of(entity, community)
    # entities leaning to some found ring (pieces of one farm that detection cut apart tie
    # their accounts to each other)
    lean = np.isin(entity, np.unique(use.leaning(params) // use.n))
    private = np.isin(kind, PRIVATE_KINDS)
    pair, pairs = pd.factorize(use.key(cand["account"].to_numpy(), community))
    # a candidate is tied to the rings beyond this link: it uses another leaning entity (for a
    # template or payment method), or a leaning template or payment method (for an address) ...
    lean_any = _per_row(pair, lean)
    lean_private = _per_row(pair, lean & private)
    # ... or, for a template or payment method, it goes out through one of the ring's pools
    pool = cand["pool"].to_numpy().astype(np.int64) + 1  # 0: no proxy service
    ring_pool = np.asarray(pools.get_level_values(1), dtype=np.int64) + 1
    width = int(max(pool.max(initial=0), ring_pool.max(initial=0))) + 1
    pool_keys = np.asarray(pools.get_level_values(0), dtype=np.int64) * width + ring_pool
    in_pool = np.isin(community.astype(np.int64) * width + pool, pool_keys)
    pooled = _per_row(pair, in_pool) > 0
    is_tied = np.where(private, (lean_any - lean >= 1) | pooled, lean_private >= 1)
    entity_ring, _ = pd.factorize(use.key(entity, community))
    users = in_r + _per_row(entity_ring, is_tied)
    own = (in_r >= 1) & (users >= 2) & (users >= params["expand_share"] * degree)
    # the ring's exits that are not ring-only: addresses leaning to it, and exits of its pools
    uses = (kind == KIND["ip"]) & ((in_r >= params["expand_reach"] * degree) | in_pool) & ~own
    per = _per_pair(cand[own], tpl_total)
    held = use.key(per.index.get_level_values("account").to_numpy(), per.index.get_level_values("community").to_numpy())
    per["exits"] = np.bincount(pair, weights=uses)[pd.Index(pairs).get_indexer(held)].astype("int64")
    per["scripted"] = per.index.get_level_values("account").isin(scripted)
    return per


def _per_pair(own: pd.DataFrame, tpl_total: np.ndarray) -> pd.DataFrame:
    """Counts of the ring-only links `own` per (account, ring), with the traffic share
    (`tpl_total`: each account's template traffic, at its code)."""
    by = [own["account"], own["community"]]
    kind = own["kind"]
    per = pd.DataFrame(
        {
            "templates": (kind == KIND["tpl"]).groupby(by).sum(),
            "payments": (kind == KIND["pay"]).groupby(by).sum(),
            "ips": (kind == KIND["ip"]).groupby(by).sum(),
            "requests": own["requests"].where(kind == KIND["tpl"], 0).groupby(by).sum(),
        }
    )
    per.index.names = ["account", "community"]
    total = tpl_total[per.index.get_level_values("account").to_numpy()]
    per["share"] = np.where(total > 0, per["requests"].to_numpy() / np.maximum(total, 1), 0.0)
    return per


def _joins(held: pd.DataFrame, params: dict) -> pd.Series:
    """The rule: two ring-only templates or payment methods, or one and an address of the
    ring (ring-only, leaning to it, or an exit of its proxy pools); and at least
    `expand_min_share` of the account's template traffic on them (`expand_scripted_share`
    for an account that never sent a prompt of its own)."""
    private = held["templates"] + held["payments"]
    two_traces = (private >= 2) | ((private >= 1) & (held["ips"] + held["exits"] >= 1))
    return two_traces & (held["share"] >= share_needed(held["scripted"], params))


def _bridges(held: pd.DataFrame, owner: pd.Series, params: dict) -> dict[int, int]:
    """Found rings that are pieces of one farm: ring -> the ring it merges into.

    Community detection can cut a thin farm into many small rings (a hydra into one ring
    per window of its templates). An account that holds ring-only templates of several
    found rings and would join them if they were one ring (the rule over its holdings in
    all of them), and none of them alone, bridges them; rings that at least
    `expand_merge_bridges` such accounts bridge are one farm. Farms keep their templates
    and cards to themselves, so no account holds ring-only entities of two farms. Pieces
    merge into the largest (then the lowest id)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    flat = held[~_joins(held, params) & (held["templates"] + held["payments"] >= 1)].reset_index()
    several = flat.groupby("account")["community"].transform("size") >= 2
    flat = flat[several]
    union = flat.groupby("account").agg(
        **{k: (k, "sum") for k in ("templates", "payments", "ips", "exits", "share")}, scripted=("scripted", "first")
    )
    bridging = union.index[_joins(union, params)]
    flat = flat[flat["account"].isin(bridging)]
    pairs = flat.merge(flat, on="account")
    pairs = pairs[pairs["community_x"] < pairs["community_y"]]
    counts = pairs.groupby(["community_x", "community_y"])["account"].nunique()
    strong = counts[counts >= params["expand_merge_bridges"]].reset_index()
    if strong.empty:
        return {}
    rings = pd.Index(sorted(set(strong["community_x"]) | set(strong["community_y"])))
    a, b = rings.get_indexer(strong["community_x"]), rings.get_indexer(strong["community_y"])
    _, label = connected_components(coo_matrix((np.ones(len(a)), (a, b)), shape=(len(rings), len(rings))))
    frame = pd.DataFrame({"community": rings, "label": label, "size": owner.value_counts().reindex(rings).to_numpy()})
    frame = frame.sort_values(["label", "size", "community"], ascending=[True, False, True])
    into = frame.groupby("label")["community"].transform("first")
    return {int(c): int(t) for c, t in zip(frame["community"], into, strict=True) if c != t}


def _best_ring(per: pd.DataFrame) -> pd.DataFrame:
    """One ring per joined account: the one it holds most ring-only entities of, then the
    highest share of traffic, then the lowest ring id (deterministic)."""
    flat = per.reset_index()
    flat["held"] = flat["templates"] + flat["payments"] + flat["ips"]
    flat = flat.sort_values(["account", "held", "share", "community"], ascending=[True, False, False, True])
    return flat.drop_duplicates("account").set_index("account")


def join_line(row) -> str:
    """The evidence of one joined account, e.g. `joined through the ring's own traces: uses
    1 ring-only template (41% of its traffic), 1 exit of the ring's addresses or proxy pool`."""
    bits = []
    if row.templates:
        n = int(row.templates)
        bits.append(f"uses {n} ring-only template{'s' if n != 1 else ''} ({100 * row.share:.0f}% of its traffic)")
    if row.payments:
        n = int(row.payments)
        bits.append(f"{n} ring-only payment method{'s' if n != 1 else ''}")
    if row.ips:
        n = int(row.ips)
        bits.append(f"{n} ring address{'es' if n != 1 else ''}")
    if row.exits:
        n = int(row.exits)
        bits.append(f"{n} exit{'s' if n != 1 else ''} of the ring's addresses or proxy pool")
    return "joined through the ring's own traces: " + ", ".join(bits)


def expand_rings(ev: Evidence, owner: pd.Series, params: dict) -> Joined:
    """Accounts that join the found rings through their ring-only entities (see the module
    docstring). `owner`: account -> ring (community id) of every member of a found ring;
    those never move. Accounts in no found ring (members of other rings included) may join."""
    columns = ["community", "templates", "payments", "ips", "exits", "share", "evidence"]
    empty = pd.DataFrame(columns=columns)
    if owner.empty:
        return Joined(empty, 0)
    links, accounts = _links(ev, owner, params)
    owner = pd.Series(owner.to_numpy(), index=accounts.get_indexer(owner.index))  # by account code from here
    # each account's traffic on all its templates (its TOTALS), at its account code (0 for
    # an account without a row): an array, where a Series by code kept a hash of a million codes
    tpl_total = np.zeros(len(accounts), dtype=np.int64)
    tpl_total[accounts.get_indexer(ev.accounts["account"])] = ev.accounts["template_requests"].to_numpy()
    scripted = pd.Index(accounts.get_indexer(scripted_accounts(ev.accounts)))
    # the ids by position from here, without the hash table the lookups built (32 MB at 1,000,000)
    accounts = pd.Index(accounts.to_numpy(), name=accounts.name)
    joined: list[pd.DataFrame] = []
    merged: dict[int, int] = {}
    rounds = 0
    while rounds < int(params["expand_rounds"]):
        rounds += 1
        ring_links, free = _split_links(links, owner)
        use = _RingUse.of(ring_links)
        cand = _candidates(links, free, use, params)
        if cand.empty:
            break
        held = _holdings(cand, use, _ring_pools(ring_links, owner, params), tpl_total, scripted, params)
        merge = _bridges(held, owner, params)
        if merge:  # the same round again, with the pieces as one ring (merges do not count as rounds)
            merged = {k: merge.get(v, v) for k, v in merged.items()} | merge
            owner = owner.replace(merge)
            joined = [j.assign(community=j["community"].replace(merge)) for j in joined]
            rounds -= 1
            continue
        per = held[_joins(held, params)]
        if per.empty:
            break
        best = _best_ring(per)
        joined.append(best)
        owner = pd.concat([owner, best["community"].astype("int64")])
    frame = pd.concat(joined) if joined else empty
    if joined:
        frame.index = accounts[frame.index]
    frame["community"] = frame["community"].astype("int64")
    frame["evidence"] = [join_line(row) for row in frame.itertuples()]
    return Joined(frame[columns], rounds, merged)


def expand_found_rings(
    ev: Evidence, community: pd.Series, rings: pd.DataFrame, members: pd.DataFrame, threshold: float, params: dict
) -> tuple[pd.DataFrame, pd.DataFrame, Joined]:
    """Merge the found rings (score >= `threshold`) that are pieces of one farm, expand
    them, and score again the rings that changed (merged, joined, or left by accounts
    that joined); returns (rings, members, joined)."""
    from graph.detection.scoring import score_communities

    found = set(rings.loc[rings["score"] >= threshold, "community"].astype("int64"))
    owner = members.loc[members["community"].isin(found)].set_index("account")["community"].astype("int64")
    joined = expand_rings(ev, owner, params)
    merged = joined.merged
    if not len(joined) and not merged:
        return rings, members, joined
    moved = members.loc[members["account"].isin(joined.frame.index), "community"]
    affected = set(joined.community) | set(moved) | set(merged) | set(merged.values())
    now = pd.concat([community.drop(joined.frame.index, errors="ignore"), joined.community])
    now = now.replace(merged) if merged else now
    again, again_members = score_communities(ev, now[now.isin(affected)], params, joined=joined.frame["evidence"])
    rings = pd.concat([rings[~rings["community"].isin(affected)], again], ignore_index=True)
    members = pd.concat([members[~members["community"].isin(affected)], again_members], ignore_index=True)
    return rings, members, joined
