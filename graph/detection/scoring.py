"""From communities to rings: member evidence, ring features, a score in [0, 1], and reasons.

A community is only a candidate. For each one:

1. *Bound entities*: cards, IPs and templates used by >= 2 members and mostly (>= half of
   their users) inside the community. A VPN exit shared with hundreds of strangers is not
   bound; a template used only by the farm is.
2. *Member evidence*: each member is kept only if it holds enough bound entities itself
   (a bound card, or >= 2 bound templates, or a bound template and bound addresses with a
   third of its template traffic on the bound templates, a fifth if it never sent a prompt
   of its own: expansion's rule for the same evidence). A bystander who shares one proxy
   exit with a farm is dropped, whatever Leiden said, and so is a proxy user who borrowed
   one of the farm's templates for a small part of its traffic.
   (Afterwards graph.detection.expand lets found rings take in accounts tied to them only
   by their ring-only entities; `joined` names those, and they are members as they are.)
3. *Features* of the kept members (each in [0, 1]):
   - `private_share`: share of their template traffic on bound templates;
   - `eliciting_share`: share of template traffic on capability-eliciting templates
     (reasoning, coding, tool_use, agentic, extraction);
   - `uniformity`: 1 - coefficient of variation of per-member volume (farms script
     their accounts to look alike; real users are heavy-tailed);
   - `masked_share`: share of IP traffic through datacenter, VPN, proxy or Tor exits;
   - `anonymous_payment`: share of members paying with prepaid, virtual or crypto;
   - `signup_burst`: largest share of members created within `burst_hours`;
   - `no_own_prompts`: share of members who never sent a prompt of their own (every
     template they used, some other account used too). People write some prompts
     nobody else sends; a farm's accounts run its templates. A farm dressed as a company
     can copy a team's card, office addresses, volumes and template mix, but to fake this
     it must spend part of every account's traffic on one-off prompts it has no use for;
   - `partner_flagged`: how much of what binds the members to the ring partner labs
     flagged, weighted by their confidence (see `partner_share`): a flag on a carrier NAT,
     a VPN exit or a popular template says nothing about any one ring and adds nothing.
4. *Score* = behaviour x binding: behaviour is a weighted mean of the behavioural features
   (weights in DEFAULT_PARAMS); binding = 0.5 + 0.5 x private_share, plus 0.25 x
   partner_flagged; clipped to [0, 1]. Once `ringwatch calibrate` has fitted a logistic
   model of the features on analysts' decisions (`behaviour_model`,
   graph.detection.calibrate), the score is the larger of that and the model's own score
   put on the same scale (`ring_score`): a calibration adds rings, takes none off that the
   default weights flag. No single trait makes a ring: researchers share
   public benchmark prompts (eliciting) but not bursts, uniform volumes or masked exits; a
   team shares one card and internal templates but is heavy-tailed, on office IPs, and
   asks ordinary things.

Everything is vectorised over the communities of a batch (pandas group-bys; batches of at
most SCORE_BATCH accounts, so memory holds one batch's links); the cost is linear in the
number of account-entity links.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from graph.detection.evidence import (
    LINK_TABLES,
    Evidence,
    any_flagged,
    distinct_accounts,
    is_scripted,
    rows_flagged,
    share_needed,
)
from graph.vocabulary import FEATURES

DEFAULT_THRESHOLD = 0.5
# accounts whose communities are scored at once: the links of the members of a batch are in
# memory together (at 1,000,000 accounts, one batch of everything was 1.1 GiB above the evidence)
SCORE_BATCH = 200_000

DEFAULT_PARAMS: dict = {
    # community graph
    "max_payment_degree": 500,
    "max_ip_degree": 300,
    "max_template_degree": 5000,
    "w_payment": 2.0,
    "w_ip": 0.5,
    "w_template": 1.0,
    "resolution": 1.0,
    "seed": 42,
    # candidates and members
    "min_size": 3,
    "bound_share": 0.5,
    "min_shared": 2,  # bound entities two members must share to stay in one ring (communities.refine)
    # a member on one bound template and addresses only needs expand_min_share of its template traffic
    # on the bound templates (expand_scripted_share without a prompt of its own), as expansion asks
    "member_share_rule": True,
    "burst_hours": 72,
    # a low-score candidate bigger than this (share of all accounts, and at least min size) is the
    # background population glued together by popular things, not a ring (graph.detection.detect.drop_background)
    "background_share": 0.05,
    "background_min_size": 1000,
    # fragments of one farm put back together before scoring (graph.detection.fragments): accounts with
    # >= merge_min_scarce of their template traffic on scarce templates (2..merge_max_users users, at most
    # merge_max_share of all accounts), through links carrying >= merge_min_link of it, over templates with
    # >= merge_share of their users among those accounts
    "merge_fragments": True,
    "merge_max_users": 100,
    "merge_max_share": 0.01,
    "merge_min_scarce": 0.5,
    "merge_min_link": 0.1,
    "merge_share": 0.8,
    "merge_min_shared": 2,  # ... and two communities tied only when this many accounts of each hold shared ones
    # membership that follows a found ring's own traces (graph.detection.expand): reach entities where
    # the ring's members are >= expand_reach of the users; an entity is ring-only when the ring and the
    # accounts tied to it in more than one way are >= expand_share of its users; one joins with >= 2 ring-only
    # templates/payment methods (or 1 and an address of the ring) and >= expand_min_share of its traffic
    # on them (a third: farm accounts camouflage, but a borrowed template is a small part of a user's;
    # people write prompts of their own, a farm's accounts run its templates)
    "expand": True,
    "expand_reach": 0.05,
    "expand_share": 0.8,
    "expand_min_share": 0.33,
    "expand_scripted_share": 0.2,  # ... a fifth for an account that never sent a prompt of its own
    "expand_pool_members": 0.25,  # a proxy service a quarter of a ring's members use is the ring's pool
    "expand_rounds": 50,
    "expand_max_users": 100,  # entities with more users are never followed (a farm's own are scarce)
    "expand_merge_bridges": 3,  # found rings this many accounts would join only together are one farm
    # behaviour weights (sum to 1); replaced by a fitted model when `ringwatch calibrate` has
    # written one (graph.detection.calibrate): behaviour = sigmoid(intercept + sum(coef x feature))
    "behaviour_model": None,
    # (no_own_prompts came last: it has a fifth, the first five keep the proportions they had alone,
    # 0.30/0.20/0.20/0.15/0.15)
    "weights": {
        "eliciting_share": 0.24,
        "uniformity": 0.16,
        "masked_share": 0.16,
        "anonymous_payment": 0.12,
        "signup_burst": 0.12,
        "no_own_prompts": 0.20,
    },
    # partner flags (graph.sharing): at most this much is added to a ring's score ...
    "partner_bonus": 0.25,
    # ... and only by flagged entities bound to the ring and used by at most this many accounts
    # in all. Farms spread over many scarce things: in generated worlds of 4,000 and 100,000
    # accounts (farms of 5 to 3,150) 99 % of the entities binding a farm have <= 57 users and a
    # farm member holds several; carrier NATs, VPN exits and popular templates have hundreds.
    "partner_max_users": 50,
}


def _binding(
    frame: pd.DataFrame, community: pd.Series, share: float, of_link: np.ndarray | None = None
) -> tuple[np.ndarray, ...]:
    """For the rows of `frame` (account, entity, degree, ...): which have their account in
    `community` (`mask`), and for those rows their community, the entity's users in that
    community (`inside`; `degree` is its users in all) and whether the entity is `bound`
    to the community. `of_link`, when given, is each row's community (-1 for an account
    outside `community`), so that batches need not look each link's account up again."""
    if of_link is None:
        ring = frame["account"].map(community).to_numpy()
        mask = pd.notna(ring)
    else:
        ring, mask = of_link, of_link >= 0
    ring = ring[mask].astype(np.int64)
    entity = pd.factorize(frame["entity"].to_numpy()[mask])[0].astype(np.int64)
    ring_code = pd.factorize(ring)[0]
    per_ring = entity * (int(ring_code.max()) + 1 if len(ring) else 1) + ring_code  # (entity, community)
    inside = distinct_accounts(per_ring, pd.factorize(frame["account"].to_numpy()[mask])[0])
    bound = (inside >= 2) & (inside >= share * frame["degree"].to_numpy()[mask])
    return mask, ring, inside, bound


def _bound(frame: pd.DataFrame, community: pd.Series, share: float, of_link: np.ndarray | None = None) -> pd.DataFrame:
    """Rows of `frame` (account, entity, ...) whose account is in `community`, with its
    `community` and whether the entity is `bound` to the community (`of_link`: see `_binding`)."""
    mask, ring, _, bound = _binding(frame, community, share, of_link)
    # taken block by block: a masked frame would need a .copy() before new columns (a second
    # copy of every column, 3 s at 1,000,000 accounts), and a frame built column by column
    # copies them once more to stack its blocks (0.25 GiB at 1,000,000 accounts)
    f = frame.take(np.flatnonzero(mask))
    f.index = pd.RangeIndex(len(f))
    f["community"] = ring
    f["bound"] = bound
    return f


def bound_links(ev: Evidence, community: pd.Series, share: float) -> pd.DataFrame:
    """(account, entity, community) for every link to an entity bound to the account's
    community. `entity` is an integer code, distinct across kinds (a template and an
    address never share one): a "kind:key" string per link cost 0.8 GB at 1,000,000
    accounts (4.6 M bound links). Only the bound rows are built (a frame of every member's
    links first was refine's peak at 1,000,000 accounts)."""
    parts, offset = [], 0
    for frame in (ev.templates, ev.payments, ev.ips):
        if frame.empty:
            continue
        mask, ring, _, bound = _binding(frame, community, share)
        code, distinct = pd.factorize(frame["entity"])
        parts.append(
            pd.DataFrame(
                {
                    "account": frame["account"].to_numpy()[mask][bound],
                    "entity": code[mask][bound].astype(np.int64) + offset,
                    "community": ring[bound],
                }
            )
        )
        offset += len(distinct)
    if not parts:
        return pd.DataFrame(
            {
                "account": pd.Series(dtype=object),
                "entity": pd.Series(dtype="int64"),
                "community": pd.Series(dtype="int64"),
            }
        )
    return pd.concat(parts, ignore_index=True)


def score_communities(
    ev: Evidence,
    community: pd.Series,
    params: dict | None = None,
    joined: pd.Series | None = None,
    threshold: float | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rings (one row per candidate community that passes the evidence checks) and members.

    rings: community, size, score, FEATURES..., reason, bound (JSON: top binding entities)
    members: community, account, strength, evidence (one line), private_share

    `joined` (account -> evidence line) names accounts that joined their ring through its
    ring-only entities (graph.detection.expand): they are members whatever their strength,
    and their evidence line says how they joined.

    With `threshold`, a candidate of the background population (`is_background`: below the
    threshold and larger than `background_limit`) keeps its row, size, features and score
    but is not explained (empty reason and bound entities) and has no members: the caller
    sets it aside (graph.detection.detect.drop_background), and explaining half the world's
    accounts was scoring's peak at 1,000,000 accounts.
    """
    p = {**DEFAULT_PARAMS, **(params or {})}
    sizes = community.value_counts()
    # (a mask, not a Series: aligning it hashed a million account ids, kept with the index)
    community = community[(community.map(sizes) >= p["min_size"]).to_numpy()]
    if community.empty:
        return _empty_rings(), _empty_members()
    batches = community_batches(sizes[sizes >= p["min_size"]], SCORE_BATCH)
    if len(batches) == 1:
        return _score(ev, community, p, joined, threshold)
    # each community is scored from its own members' links alone, so batches of communities
    # give the rings one pass over all of them gives, with a batch's links in memory at a time;
    # the links stay where they are, each with its community (-1 outside the batch; int32 where
    # the ids allow: a float per link with NaN for none was 46 MB at 1,000,000 accounts)
    code = np.int32 if int(community.max()) < np.iinfo(np.int32).max else np.int64
    of_link = {
        name: getattr(ev, name)["account"].map(community).fillna(-1).to_numpy().astype(code) for name in LINK_TABLES
    }
    of_account = ev.accounts["account"].map(community).to_numpy()
    of_private = ev.private["account"].map(community).to_numpy()
    rings, members = [], []
    for batch in batches:
        part = Evidence(
            accounts=ev.accounts.iloc[:0],  # the batch's are `by_account`: one copy of their rows, not two
            **{name: getattr(ev, name) for name in LINK_TABLES},
            population=ev.n_accounts,
            private=ev.private[np.isin(of_private, batch)],
        )
        by_account = ev.accounts[np.isin(of_account, batch)].set_index("account")
        in_batch = community[np.isin(community.to_numpy(), batch)]
        r, m = _score(part, in_batch, p, joined, threshold, (of_link, batch), by_account)
        del by_account
        if len(r):  # (an empty part's columns would turn the others' dtypes to object)
            rings.append(r)
            members.append(m)
    if not rings:
        return _empty_rings(), _empty_members()
    return pd.concat(rings, ignore_index=True), pd.concat(members, ignore_index=True)


def background_limit(n_accounts: int, p: dict) -> float:
    """The size above which a candidate below the threshold is the background population."""
    return max(p["background_min_size"], p["background_share"] * n_accounts)


def is_background(rings: pd.DataFrame, n_accounts: int, threshold: float, p: dict) -> pd.Series:
    """Per ring (with size and score): whether it is the background population, ordinary
    users linked by popular templates and shared carrier addresses into one candidate of
    up to half the world (206,756 of 400,000 accounts in a generated world); below the
    threshold and larger than `background_limit`. A candidate at or above the threshold is
    never background, whatever its size."""
    return (rings["score"] < threshold) & (rings["size"] > background_limit(n_accounts, p))


def community_batches(sizes: pd.Series, most: int) -> list[np.ndarray]:
    """The communities of `sizes` (community -> accounts) in batches of at most `most`
    accounts, largest first; a community larger than `most` is a batch of its own."""
    batches, current, held = [], [], 0
    for c, n in sizes.sort_values(ascending=False, kind="stable").items():
        if current and held + n > most:
            batches.append(np.asarray(current, dtype=np.int64))
            current, held = [], 0
        current.append(c)
        held += n
    if current:
        batches.append(np.asarray(current, dtype=np.int64))
    return batches


def _score(
    ev: Evidence,
    community: pd.Series,
    p: dict,
    joined: pd.Series | None,
    threshold: float | None = None,
    batch: tuple[dict[str, np.ndarray], np.ndarray] | None = None,
    by_account: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """score_communities over the communities `community` (each of at least min_size);
    `batch`: (per link table, each link's community; the communities of this batch);
    `by_account`: the accounts' rows indexed by account (else `ev.accounts`')."""

    def bound(name: str) -> pd.DataFrame:
        of_batch = None
        if batch is not None:  # each link's community in this batch, -1 outside (see `_binding`)
            of_link, ids = batch
            of_batch = np.where(np.isin(of_link[name], ids), of_link[name], -1)
        return _bound(getattr(ev, name), community, p["bound_share"], of_batch)

    tpl, pay, ips = bound("templates"), bound("payments"), bound("ips")
    if by_account is None:
        by_account = ev.accounts.set_index("account")  # with the TOTALS over all their links
    m = _members(community, tpl, pay, ips, by_account, p, joined)
    if m.empty:
        return _empty_rings(), _empty_members()
    kept = m["community"]

    # --- ring features over kept members ---------------------------------------------
    # from masks over the batch's links: a copy of the kept members' links is made only for
    # the rings explained below (the background population's were scoring's peak at 1,000,000 accounts)
    links = {"templates": tpl, "ips": ips, "payments": pay}
    of_kept = {name: frame["account"].isin(kept.index).to_numpy() for name, frame in links.items()}
    # partner_share needs the members' links only where partners flagged something (a member's
    # ties in every table then count: an unflagged one weighs 0)
    flagged = ()
    if any(any_flagged(frame) for frame in links.values()):
        flagged = tuple(frame[of_kept[name]] for name, frame in links.items())
    on_bound = np.where(tpl["bound"].to_numpy() & of_kept["templates"], tpl["requests"].to_numpy(), 0)
    bound_requests = pd.Series(on_bound).groupby(tpl["community"].to_numpy()).sum()
    del tpl, ips, pay  # (`links` holds them)
    r = ring_features(by_account.loc[kept.index], kept, bound_requests, flagged, p)
    r["score"] = ring_score(r, p)
    r.index.name = "community"

    aside = pd.Index([], dtype="int64")
    if threshold is not None:  # the background population: scored, not explained, no members
        aside = r.index[is_background(r, ev.n_accounts, threshold, p).to_numpy()]
        m, kept = m[~kept.isin(aside)], kept[~kept.isin(aside)]
    # each table's whole frame goes as soon as its explained part is taken
    for name in list(links):
        frame = links.pop(name)
        links[name] = frame[of_kept.pop(name) & ~frame["community"].isin(aside).to_numpy()]
        del frame
    tpl_k, ips_k, pay_k = links["templates"], links["ips"], links["payments"]
    private_k = ev.private[ev.private["account"].isin(kept.index)]
    explained = explain(
        r.drop(aside), tpl_k, pay_k, ips_k, private_k.assign(community=kept.reindex(private_k["account"]).to_numpy())
    )
    if len(aside):
        blank = r.loc[aside].assign(bound="[]", capability_mix="{}", capabilities=[[] for _ in aside], reason="")
        explained = pd.concat([explained, blank]).loc[r.index]
    r = explained
    m["evidence"] = _member_lines(m, joined)
    members = m.reset_index(names="account")[
        ["community", "account", "strength", "private_share", "bound_cards", "bound_templates", "bound_ips", "evidence"]
    ]
    return r.reset_index(), members


def _members(
    community: pd.Series,
    tpl: pd.DataFrame,
    pay: pd.DataFrame,
    ips: pd.DataFrame,
    by_account: pd.DataFrame,
    p: dict,
    joined: pd.Series | None,
) -> pd.DataFrame:
    """Member evidence (indexed by account: community, bound_templates, bound_cards,
    bound_ips, private_share, strength) of the members kept: strength >= 2 or joined, in
    communities that keep at least min_size of them."""
    # per account, unsorted: each is aligned on the account when assigned, and sorting a
    # million id strings per group-by cost seconds at 1,000,000 accounts
    m = pd.DataFrame({"community": community})
    m["bound_templates"] = _bound_entities(tpl)
    m["bound_cards"] = _bound_entities(pay)
    m["bound_ips"] = _bound_entities(ips)
    m = m.fillna(0)
    bound = tpl["bound"].to_numpy()
    tpl_bound = pd.Series(tpl["requests"].to_numpy()[bound]).groupby(tpl["account"].to_numpy()[bound], sort=False).sum()
    # each on the members first: dividing the two unsorted per-account series aligned (and
    # sorted) the union of a million id strings (2.5 s at 1,000,000 accounts)
    m["private_share"] = (tpl_bound.reindex(m.index) / by_account["template_requests"].reindex(m.index)).fillna(0.0)
    m["strength"] = (
        2.0 * (m["bound_cards"] > 0) + np.minimum(m["bound_templates"], 2) + 0.5 * np.minimum(m["bound_ips"], 2)
    )
    # one bound template and addresses (no card, no second template) is the evidence of an
    # account that borrowed a farm's template and goes out through the same proxy service:
    # kept, as expansion would take it in, only with a third of its template traffic on the
    # bound templates (a fifth when it never sent a prompt of its own)
    strong = m["strength"] >= 2.0
    if p["member_share_rule"]:
        weak = (m["bound_cards"] == 0) & (m["bound_templates"] < 2)
        need = share_needed(is_scripted(by_account.reindex(m.index)).to_numpy(), p)
        strong &= ~weak | (m["private_share"] >= need)
    m = m[strong | m.index.isin(joined.index if joined is not None else [])]
    sizes = m.groupby("community").size()
    return m[m["community"].map(sizes) >= p["min_size"]]


def _bound_entities(frame: pd.DataFrame) -> pd.Series:
    """Per account (of `frame`'s rows, see `_bound`), how many distinct bound entities it
    links to: a group-by's nunique on integer codes, without a copy of the bound rows (the
    background population's bound template links were 116 MB at 1,000,000 accounts)."""
    bound = frame["bound"].to_numpy()
    account, accounts = pd.factorize(frame["account"].to_numpy()[bound])
    entity = pd.factorize(frame["entity"].to_numpy()[bound])[0].astype(np.int64)
    width = int(entity.max()) + 1 if len(entity) else 1
    distinct = np.unique(account.astype(np.int64) * width + entity)
    return pd.Series(np.bincount(distinct // width, minlength=len(accounts)), index=accounts, dtype="int64")


def ring_features(
    acc: pd.DataFrame, kept: pd.Series, bound_requests: pd.Series, flagged: tuple[pd.DataFrame, ...], p: dict
) -> pd.DataFrame:
    """Per community: size and FEATURES over its kept members (`acc`, their TOTALS, indexed
    by account; `kept`, account -> community; `bound_requests`, per community, the members'
    requests on its bound templates; `flagged`, the members' links with `community` and
    `bound` (see `_bound`) where partners flagged any link, else none)."""
    # traffic shares over all the members' links (their TOTALS), binding over the shared ones
    r = pd.DataFrame({"size": kept.value_counts()})
    total_tpl = acc["template_requests"].groupby(kept).sum()
    r["private_share"] = bound_requests / total_tpl
    r["eliciting_share"] = acc["eliciting_requests"].groupby(kept).sum() / total_tpl
    with_templates = (acc["template_links"] > 0).to_numpy()  # members without templates have no volume to compare
    per_member = acc.loc[with_templates, "template_requests"].groupby(kept[with_templates])
    r["uniformity"] = 1.0 - (per_member.std(ddof=0) / per_member.mean()).clip(0, 1)
    r["masked_share"] = acc["masked_requests"].groupby(kept).sum() / acc["ip_requests"].groupby(kept).sum()
    r["anonymous_payment"] = acc["anonymous_payment"].astype(float).groupby(kept).mean()
    r["signup_burst"] = _burst(acc["created"], kept, p["burst_hours"] * 3600)
    r["no_own_prompts"] = no_own_prompts(acc, kept)
    r["partner_flagged"] = partner_share(acc, flagged, kept, p)
    return r.fillna(0.0)


def explain(
    r: pd.DataFrame, tpl_k: pd.DataFrame, pay_k: pd.DataFrame, ips_k: pd.DataFrame, private_k: pd.DataFrame
) -> pd.DataFrame:
    """`r` (rings by community, with their features) with what an analyst reads: `bound` (JSON:
    the top binding entities), `capability_mix`, `capabilities` and the one-line `reason`.
    The link frames are the kept members' shared links with `community` and `bound` (see
    `_bound`), `private_k` their private links (Evidence.private) with `community`."""
    cols = ["community", "entity", "account"]  # only these: all-empty columns would make pandas guess dtypes
    # kind by kind: one frame of every kind's bound links, with a kind string per link, was
    # the scoring's peak at 1,000,000 accounts (3 M links)
    bound_summary = pd.concat(
        [
            frame.loc[frame["bound"], cols]
            .groupby(["community", "entity"])["account"]
            .nunique()
            .rename("members")
            .reset_index()
            .assign(kind=kind)
            for kind, frame in (("template", tpl_k), ("payment", pay_k), ("ip", ips_k))
        ],
        ignore_index=True,
    )[["community", "kind", "entity", "members"]]
    proxies = ips_k[ips_k["proxy"].fillna("").astype(str).ne("")].groupby(["community", "proxy"])["requests"].sum()
    own = {kind: part.groupby(["community", "value"]) for kind, part in private_k.groupby("kind")}
    capabilities = _plus(tpl_k.groupby(["community", "capability"])["requests"].sum(), own, "template", "requests")
    # a private payment method is one account's: each link is a distinct method
    methods = _plus(pay_k.groupby(["community", "method_type"])["entity"].nunique(), own, "payment", "links")
    # per ring, ranked once (selecting a ring's rows ring by ring scans every ring's rows for each)
    kinds_of = _ranked(bound_summary.groupby(["community", "kind"]).size())
    proxies_of, methods_of, capabilities_of = _ranked(proxies), _ranked(methods), _ranked(capabilities)
    top = _top_bound(bound_summary)
    r["bound"] = [json.dumps(top.get(c, [])) for c in r.index]
    mixes = [_shares(capabilities_of.get(c, [])) for c in r.index]
    r["capability_mix"] = [json.dumps(mix) for mix in mixes]
    r["capabilities"] = [list(mix) for mix in mixes]  # by share; a native list the queue filters on
    r["reason"] = [
        ring_reason(row, dict(kinds_of.get(c, [])), proxies_of.get(c, []), methods_of.get(c, []))
        for c, row in zip(r.index, r.to_dict("records"), strict=True)
    ]
    return r


def _plus(shared: pd.Series, own: dict, kind: str, column: str) -> pd.Series:
    """(community, value) -> amount over the shared links, plus the private links' `column`."""
    if kind not in own:
        return shared
    extra = own[kind][column].sum()
    extra.index.names = shared.index.names
    return pd.concat([shared, extra]).groupby(level=[0, 1]).sum()


def behaviour_score(r: pd.DataFrame, p: dict) -> pd.Series:
    """Per ring, its behaviour in [0, 1]: the weighted mean of the behavioural features
    (`weights`), or, when `ringwatch calibrate` has fitted one on analysts' decisions, the
    logistic model `behaviour_model` = {intercept, coef: {feature: coefficient}}:
    sigmoid(intercept + sum(coefficient x feature))."""
    model = p.get("behaviour_model")
    if model:
        z = float(model["intercept"]) + sum(float(c) * r[f] for f, c in model["coef"].items())
        return 1.0 / (1.0 + np.exp(-z))
    weights = p["weights"]
    return sum(w * r[f] for f, w in weights.items()) / sum(weights.values())


def on_default_scale(score: pd.Series, threshold: float) -> pd.Series:
    """A calibrated model's scores put on the default score's scale: its `threshold` (the one
    calibrate chose for a target precision) goes to DEFAULT_THRESHOLD, 0 and 1 stay, linear
    in between; the order of the rings does not change."""
    t = min(max(float(threshold), 1e-6), 1 - 1e-6)
    below = score * DEFAULT_THRESHOLD / t
    above = DEFAULT_THRESHOLD + (score - t) * (1 - DEFAULT_THRESHOLD) / (1 - t)
    return below.where(score < t, above)


def model_threshold(model: dict) -> float:
    """The threshold a calibrated `behaviour_model` flags at (DEFAULT_THRESHOLD for a model
    written before models carried one)."""
    threshold = model.get("threshold")
    return DEFAULT_THRESHOLD if threshold is None else float(threshold)


def score_parts(r: pd.DataFrame, p: dict) -> pd.DataFrame:
    """Per ring (`r`: private_share, partner_flagged and the behaviours), `default`: the
    score under the default weights; and, when a calibrated `behaviour_model` is in use,
    `calibrated`: the model's score on the default scale (`on_default_scale`, at the
    threshold the model carries, DEFAULT_THRESHOLD if none)."""
    binding = 0.5 + 0.5 * r["private_share"]
    partner = p["partner_bonus"] * r["partner_flagged"]
    defaults = {**p, "behaviour_model": None}
    parts = pd.DataFrame({"default": (behaviour_score(r, defaults) * binding + partner).clip(0, 1)}, index=r.index)
    model = p.get("behaviour_model")
    if model:
        fitted = (behaviour_score(r, p) * binding + partner).clip(0, 1)
        parts["calibrated"] = on_default_scale(fitted, model_threshold(model))
    return parts


def ring_score(r: pd.DataFrame, p: dict) -> pd.Series:
    """Per ring, its score in [0, 1]: the default weights' score, or with a calibrated
    `behaviour_model` the larger of that and the model's (`score_parts`). The larger, because
    a model fitted on some decisions knows the farm styles those hold: fitted on a world
    whose decided farms were mostly on masked exits and anonymous cards, it scored the
    company-dressed farms of another world below its threshold, farms the default weights
    flag (README, Calibration). So a calibration adds rings to the queue and reorders it,
    and takes off none the default weights flag; analysts' dismissals do that, ring by ring."""
    return score_parts(r, p).max(axis=1)


def _feature_values(ring: dict, p: dict) -> dict[str, float]:
    """The values scoring under `p` reads of one ring given as a dict (a missing one is 0)."""
    return {f: float(ring.get(f) or 0.0) for f in (*p["weights"], "private_share", "partner_flagged")}


def ring_parts(ring: dict, p: dict) -> dict[str, float]:
    """`score_parts` of one ring given as a dict of its features (missing ones 0), as the
    ring page reads it: {"default": ...} and, with a calibrated model, {"calibrated": ...}."""
    frame = pd.DataFrame([_feature_values(ring, p)])
    return {name: float(value) for name, value in score_parts(frame, p).iloc[0].items()}


def score_terms(ring: dict, p: dict) -> tuple[pd.DataFrame, str]:
    """What each feature adds to one ring's score under parameters `p`, for the ring page.

    With the default weights the score is additive: each behaviour adds
    binding x weight x value / sum(weights) score points (binding = 0.5 + 0.5 x private_share),
    partner flags add partner_bonus x partner_flagged, and the rows sum to the score before
    clipping. A calibrated model (`behaviour_model`) is additive only in log-odds: each row is
    coefficient x value, the intercept is a row of its own, and behaviour = sigmoid(their sum).
    Returns (frame with columns feature, value, weight, contribution; the unit, "score points"
    or "log-odds")."""
    value = _feature_values(ring, p)
    binding = 0.5 + 0.5 * value["private_share"]
    model = p.get("behaviour_model")
    if model:
        rows = [("intercept", 1.0, float(model["intercept"]))]
        rows += [(f, value.get(f, float(ring.get(f) or 0.0)), float(c)) for f, c in model["coef"].items()]
        frame = pd.DataFrame(rows, columns=["feature", "value", "weight"])
        frame["contribution"] = frame["value"] * frame["weight"]
        return frame, "log-odds"
    total = sum(p["weights"].values())
    rows = [(f, value[f], w, binding * w * value[f] / total) for f, w in p["weights"].items()]
    bonus = p["partner_bonus"]
    rows.append(("partner_flagged", value["partner_flagged"], bonus, bonus * value["partner_flagged"]))
    return pd.DataFrame(rows, columns=["feature", "value", "weight", "contribution"]), "score points"


def partner_weight(frame: pd.DataFrame) -> pd.Series:
    """Per row, the weight of the partner flags on its entity (or account), in [0, 1]: 0
    when not flagged, else `partner_weight` (the highest confidence / 100 among the
    indicators flagging it, graph.sharing.flags), or 1 for a flag that carries no weight
    (evidence without the column, or flags imported before weights were kept)."""
    if "partner_flagged" not in frame.columns:
        return pd.Series(0.0, index=frame.index)
    flagged = rows_flagged(frame)
    weight = pd.Series(1.0, index=frame.index)
    if "partner_weight" in frame.columns:
        weight = pd.to_numeric(frame["partner_weight"], errors="coerce").fillna(1.0).clip(0.0, 1.0)
    return weight.where(flagged, 0.0)


def partner_share(acc: pd.DataFrame, links: tuple[pd.DataFrame, ...], kept: pd.Series, p: dict) -> pd.Series:
    """Per community: how much of what binds its members to the ring partners flagged.

    For each kept member, its *ties* are its links to entities bound to its community (the
    `bound` rule: >= 2 members and >= `bound_share` of the entity's users) that at most
    `partner_max_users` accounts use in all. The member's share is the mean flag weight
    over its ties (a tie to an unflagged entity weighs 0; a flag with confidence 100 from
    a fully trusted source weighs 1), or the weight of a flag on the account itself if
    higher. The ring's feature is the mean over members, in [0, 1], so the bonus is at most
    `partner_bonus`, reached when partners flagged everything that binds the ring (what a
    partner who found the same ring exports).

    So a flag on a carrier NAT, a VPN exit or a popular template adds nothing (not bound,
    or used by too many), and a flag on one thing a benign group shares among many (a
    team's office address next to its card and its own templates) adds little.
    """
    if not any(any_flagged(frame) for frame in (acc, *links)):
        # no partner flag in the evidence: every weight is 0 (and at 1,000,000 accounts the
        # group-bys below cost 3 s to say so)
        return pd.Series(0.0, index=kept.index).groupby(kept).mean()
    own = partner_weight(acc).reindex(kept.index).fillna(0.0)
    ties = []
    for frame in links:
        if frame.empty:
            continue
        tie = frame["bound"].astype(bool) & (frame["degree"] <= p["partner_max_users"])
        part = pd.DataFrame({"account": frame["account"], "entity": frame["entity"], "w": partner_weight(frame)})
        ties.append(part[tie.to_numpy()].groupby(["account", "entity"], sort=False)["w"].max())
    if ties:
        share = pd.concat(ties).groupby(level="account", sort=False).mean().reindex(kept.index).fillna(0.0)
    else:
        share = pd.Series(0.0, index=kept.index)
    return np.maximum(own, share).groupby(kept).mean()


def no_own_prompts(acc: pd.DataFrame, kept: pd.Series) -> pd.Series:
    """Per community: the share of its members who never sent a prompt of their own.

    `acc` holds the members' TOTALS (graph.detection.evidence), indexed by account. A
    member's own prompt is a template no other account used. Members with no template
    traffic say nothing either way and count as not scripted.
    """
    return is_scripted(acc).reindex(kept.index).astype(float).groupby(kept).mean()


def _burst(created: pd.Series, kept: pd.Series, window_s: float) -> pd.Series:
    """Per community: the largest share of members created within any `window_s` window."""
    out = {}
    frame = pd.DataFrame({"c": kept, "t": created.reindex(kept.index)}).dropna().sort_values(["c", "t"])
    for c, times in frame.groupby("c")["t"]:
        t = times.to_numpy()
        ends = np.searchsorted(t, t + window_s, side="right")
        out[c] = (ends - np.arange(len(t))).max() / len(t)
    return pd.Series(out, dtype=float)


def _ranked(s: pd.Series) -> dict:
    """A series indexed by (community, key) as community -> [(key, value), ...], the largest
    value first, then by key."""
    frame = s.rename("value").reset_index()
    frame.columns = ["community", "key", "value"]
    frame = frame.sort_values(["community", "value", "key"], ascending=[True, False, True])
    out: dict = {}
    for c, key, value in zip(frame["community"], frame["key"], frame["value"], strict=True):
        out.setdefault(c, []).append((key, value))
    return out


def _shares(ranked: list[tuple]) -> dict:
    """[(key, value), ...] as {key: share of the total}, in the same order ({} for no total)."""
    total = sum(value for _, value in ranked)
    return {str(key): round(float(value / total), 3) for key, value in ranked} if total else {}


def _top_bound(summary: pd.DataFrame, per_kind: int = 10) -> dict:
    """community -> its `per_kind` most shared bound entities of each kind (kinds in name
    order, most members first, then by key), as {kind, key, members}."""
    top = (
        summary.sort_values(["community", "kind", "members", "entity"], ascending=[True, True, False, True])
        .groupby(["community", "kind"], sort=False)
        .head(per_kind)
    )
    out: dict = {}
    for c, kind, key, members in zip(top["community"], top["kind"], top["entity"], top["members"], strict=True):
        out.setdefault(c, []).append({"kind": kind, "key": key, "members": int(members)})
    return out


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _n(count: int, noun: str, plural: str | None = None) -> str:
    """`1 ring-only template`, `7 ring-only templates`."""
    return f"{int(count)} {noun if int(count) == 1 else plural or noun + 's'}"


def ring_reason(row: dict, counts: dict, proxies: list[tuple], methods: list[tuple]) -> str:
    """One line an analyst reads at a glance: what binds the ring and what is odd about it.

    For this ring: `counts`, bound entities per kind; `proxies`, (provider, requests) and
    `methods`, (method type, shared payment methods), each most first (see `_ranked`)."""
    parts = [f"{int(row['size'])} accounts"]
    if counts.get("template", 0):
        parts.append(f"{_pct(row['private_share'])} of traffic on {_n(counts['template'], 'ring-only template')}")
    if counts.get("payment", 0):
        kinds = ", ".join(f"{int(n)} {k}" for k, n in methods[:2])
        shared = _n(counts["payment"], "shared payment method")
        parts.append(f"{shared} ({kinds})" if kinds else shared)
    parts.append(f"{_pct(row['eliciting_share'])} capability-eliciting")
    if row["masked_share"] >= 0.2:
        top = f" via {proxies[0][0]}" if proxies else ""
        parts.append(f"{_pct(row['masked_share'])} masked exits{top}")
    if row["anonymous_payment"] >= 0.2:
        parts.append(f"{_pct(row['anonymous_payment'])} pay prepaid/virtual")
    if row["signup_burst"] >= 0.5:
        parts.append(f"{_pct(row['signup_burst'])} signed up within 72 h")
    if row["uniformity"] >= 0.6:
        parts.append("uniform volumes")
    if row.get("no_own_prompts", 0.0) >= 0.6:
        parts.append(f"{_pct(row['no_own_prompts'])} never sent a prompt of their own")
    if row["partner_flagged"] > 0:
        parts.append(f"partners flagged {_pct(row['partner_flagged'])} of what binds it")
    return "; ".join(parts)


def _member_lines(m: pd.DataFrame, joined: pd.Series | None) -> list[str]:
    """Each member's evidence line; a member that joined through the ring's own traces keeps
    the line that says so (graph.detection.expand)."""
    lines = [_member_line(row) for row in m.itertuples()]
    if joined is None:
        return lines
    return [joined.get(account, line) for account, line in zip(m.index, lines, strict=True)]


def _member_line(row) -> str:
    bits = []
    if row.bound_cards:
        bits.append(f"shares {_n(row.bound_cards, 'ring payment method')}")
    if row.bound_templates:
        bits.append(f"uses {_n(row.bound_templates, 'ring-only template')} ({_pct(row.private_share)} of its traffic)")
    if row.bound_ips:
        bits.append(f"{_n(row.bound_ips, 'ring address', 'ring addresses')}")
    return "; ".join(bits)


def _empty_rings() -> pd.DataFrame:
    return pd.DataFrame(
        columns=["community", "size", "score", *FEATURES, "bound", "capability_mix", "capabilities", "reason"]
    )


def _empty_members() -> pd.DataFrame:
    return pd.DataFrame(
        columns=[
            "community",
            "account",
            "strength",
            "private_share",
            "bound_cards",
            "bound_templates",
            "bound_ips",
            "evidence",
        ]
    )
