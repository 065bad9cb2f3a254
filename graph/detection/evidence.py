"""What detection reads from the graph: accounts and the things they share, as DataFrames.

One read per relationship type, of the *shared* links only (about 0.6 M of the 1 M links
of a 100,000-account world), and one of the accounts, each with its totals over all its
links counted in the database (ACCOUNT_TOTALS; see Evidence): a link to a card, address or
template no other account uses ties no one to anyone, and detection needs of it only the
traffic, prompts and payment types it adds to its account. At 1,000,000 accounts the
client then holds 6.0 M links and 0.26 M distinct entity keys instead of 9.7 M and 4.0 M
(0.78 GiB of evidence instead of 1.28). Both community backends and the scoring use these
same tables, so the GDS and networkx backends see the same evidence.

Accounts are read BATCH at a time and each batch's links come back as one record holding
a list of rows: the driver then builds one record per batch instead of one per link,
which was most of the read's time (the templates of a 100,000-account world: 9.3 s as a
record per link, 2.3 s as lists of rows). A batch becomes a frame at once, so the
driver's rows never pile up, and equal strings become one object (see `_intern`).

Every link carries its entity's `degree`: how many accounts use the entity in the whole
graph. A full read counts it once over its rows (the weights, refine, fragments, scoring
and expansion all need it, and each used to count it again). A region (incremental
detection, graph.detection.incremental) is read the same way for a given list of accounts
(`read_region_evidence`); its rows cannot give the whole graph's counts, so the store
gives each link's degree (in O(1)) and the evidence its `population` (all accounts): the
weights and scoring then see the numbers a full read gives.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import neo4j
import numpy as np
import pandas as pd

from graph.db.connection import read, session
from graph.vocabulary import ANONYMOUS_PAYMENT, ELICITING, MASKED_IP_TYPES

# Per account, over all its links (see Evidence): template traffic and links, eliciting
# template traffic, links to templates no other account used (own prompts), IP traffic and
# its masked part, and whether any payment method is anonymous.
TOTALS = (
    "template_requests",
    "template_links",
    "eliciting_requests",
    "own_prompts",
    "ip_requests",
    "masked_requests",
    "anonymous_payment",
)
PRIVATE_COLUMNS = ("account", "kind", "value", "requests", "links")

# Per table: its columns, and the rows of one account `a` (what to match, what each row holds).
# DEGREE: per table, its entity's users in the whole graph (a region's links carry it).
# An account's row carries its TOTALS over all its links, counted in the database, and the
# capability and requests of each template link, and the method type of each payment
# method, no other account uses (own_templates, own_payments: Evidence.private). Only the
# shared links are read as links (Evidence), so most of a large world's entity keys never
# reach the client.
ACCOUNT_TOTALS = """
  CALL (a) {
    MATCH (a)-[e:USED_TEMPLATE]->(t:PromptTemplate)
    WITH e, coalesce(e.capability, t.capability) AS capability, COUNT { (t)<-[:USED_TEMPLATE]-() } = 1 AS own
    RETURN sum(e.requests) AS template_requests, count(e) AS template_links,
           sum(CASE WHEN capability IN $eliciting THEN e.requests ELSE 0 END) AS eliciting_requests,
           sum(CASE WHEN own THEN 1 ELSE 0 END) AS own_prompts,
           collect(CASE WHEN own THEN [capability, e.requests] END) AS own_templates
  }
  CALL (a) {
    MATCH (a)-[e:USED_IP]->(i:IP)
    RETURN sum(e.requests) AS ip_requests,
           sum(CASE WHEN i.ip_type IN $masked OR coalesce(i.proxy_provider, '') <> '' THEN e.requests ELSE 0 END)
             AS masked_requests
  }
  CALL (a) {
    MATCH (a)-[:PAID_WITH]->(p:PaymentMethod)
    RETURN sum(CASE WHEN p.method_type IN $anonymous THEN 1 ELSE 0 END) > 0 AS anonymous_payment,
           collect(CASE WHEN COUNT { (p)<-[:PAID_WITH]-() } = 1 THEN [p.method_type] END) AS own_payments
  }"""
ACCOUNTS = (
    (
        "account",
        "created",
        "partner_flagged",
        "partner_weight",
        *TOTALS,
        "own_templates",
        "own_payments",
    ),
    ACCOUNT_TOTALS,
    "a.id, a.created_at.epochSeconds, a.partner_flags IS NOT NULL, a.partner_weight, "
    + ", ".join(TOTALS)
    + ", own_templates, own_payments",
)
PAYMENTS = (
    ("account", "entity", "method_type", "bin", "partner_flagged", "partner_weight"),
    "MATCH (a)-[:PAID_WITH]->(p:PaymentMethod) WHERE COUNT { (p)<-[:PAID_WITH]-() } >= 2",
    "a.id, p.fingerprint, p.method_type, p.bin, p.partner_flags IS NOT NULL, p.partner_weight",
)
IPS = (
    ("account", "entity", "requests", "ip_type", "proxy", "partner_flagged", "partner_weight"),
    "MATCH (a)-[e:USED_IP]->(i:IP) WHERE i.proxy_provider IS NOT NULL OR COUNT { (i)<-[:USED_IP]-() } >= 2",
    "a.id, i.address, e.requests, i.ip_type, i.proxy_provider, i.partner_flags IS NOT NULL, i.partner_weight",
)
TEMPLATES = (
    ("account", "entity", "requests", "capability", "partner_flagged", "partner_weight"),
    "MATCH (a)-[e:USED_TEMPLATE]->(t:PromptTemplate) WHERE COUNT { (t)<-[:USED_TEMPLATE]-() } >= 2",
    "a.id, t.hash, e.requests, coalesce(e.capability, t.capability), t.partner_flags IS NOT NULL, t.partner_weight",
)
# what ACCOUNT_TOTALS counts as eliciting, masked and anonymous: the vocabulary's sets
VOCABULARY = {
    "eliciting": sorted(ELICITING),
    "masked": sorted(MASKED_IP_TYPES),
    "anonymous": sorted(ANONYMOUS_PAYMENT),
}
LISTS = ("own_templates", "own_payments")  # list columns of the accounts' rows
# The accounts in batches of $batch; per batch one record: `rows`, a list of [values...].
# (collect() of a list keeps the nulls inside it, where collect() of a value would drop them.)
BATCHED = """
MATCH (a:Account)
WITH collect(a) AS accounts
UNWIND range(0, size(accounts) - 1, $batch) AS start
CALL {{
  WITH accounts, start
  UNWIND accounts[start..start + $batch] AS a
  {match}
  RETURN collect([{row}]) AS rows
}}
RETURN rows
"""
# The same per batch of the accounts $ids (a region), with each link's DEGREE.
REGION_BATCHED = """
UNWIND range(0, size($ids) - 1, $batch) AS start
CALL {{
  WITH start
  UNWIND $ids[start..start + $batch] AS id
  MATCH (a:Account {{id: id}})
  {match}
  RETURN collect([{row}]) AS rows
}}
RETURN rows
"""
# label-less degree counts: read from the store, not by expanding the entity's links
DEGREE = {
    "payments": "COUNT { (p)<-[:PAID_WITH]-() }",
    "ips": "COUNT { (i)<-[:USED_IP]-() }",
    "templates": "COUNT { (t)<-[:USED_TEMPLATE]-() }",
}
POPULATION = "MATCH (a:Account) RETURN count(a) AS n"
LINK_TABLES = ("payments", "ips", "templates")
BATCH = 20_000  # accounts per record: about 130,000 template links, a few MB on the wire


@dataclass
class Evidence:
    """What detection reads. The link tables hold the *shared* links only: to an entity at
    least two accounts use (`degree` >= 2), and every link to an exit of a proxy service
    (expansion follows a farm's pool even where each member has an exit to itself). A link
    to an entity nobody else uses ties no one to anyone; what detection needs of those
    (traffic totals, own prompts, capability mix, payment types) is in each account's
    TOTALS and in `private`. At 1,000,000 accounts that leaves 6.0 M of 9.7 M links, and
    0.26 M of 4.0 M distinct entity keys, in the client.

    Frames built with every link (tests, hand-made evidence) get their TOTALS and `private`
    counted over their rows here, then keep the shared links: one rule, whatever the source.
    """

    accounts: pd.DataFrame  # account, created, partner_flagged, partner_weight, TOTALS...
    payments: pd.DataFrame  # account, entity, method_type, bin, partner_flagged, partner_weight, degree
    ips: pd.DataFrame  # account, entity, requests, ip_type, proxy, partner_flagged, partner_weight, degree
    templates: pd.DataFrame  # account, entity, requests, capability, partner_flagged, partner_weight, degree
    # a region's evidence: all accounts of the graph (its links' `degree` is the store's)
    population: int | None = None
    # links to entities no other account uses, per account, kind ("template", "payment") and
    # `value` (capability, method type): their `requests` and number of `links`
    private: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        # links read or built without their entity's degree get it counted over their rows
        for name in LINK_TABLES:
            frame = getattr(self, name)
            if "degree" not in frame.columns:
                setattr(self, name, frame.assign(degree=_row_degrees(frame).astype(np.int32)))
        if self.private is None:
            self.accounts = with_totals(self.accounts, self.templates, self.ips, self.payments)
            self.private = private_links(self.templates, self.payments)
            self.templates = self.templates[shared(self.templates)]
            self.payments = self.payments[shared(self.payments)]
            self.ips = self.ips[shared(self.ips, proxies=True)]

    @property
    def n_accounts(self) -> int:
        """Accounts in the graph: those read, or the whole population for a region."""
        return len(self.accounts) if self.population is None else self.population


def _frame(
    driver: neo4j.Driver,
    table: tuple,
    strings: dict[str, str],
    ids: list[str] | None = None,
    degree: str = "",
    private: list[pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """The table's rows as a frame, read BATCH accounts at a time (of the accounts `ids`,
    with the entity's `degree`, when given). The accounts' rows leave their private links
    in `private` (a part per batch, PRIVATE_COLUMNS)."""
    columns, match, row = table
    statement, params = BATCHED, {}
    if ids is not None:
        statement, params = REGION_BATCHED, {"ids": ids}
        if degree:
            columns, row = (*columns, "degree"), f"{row}, {degree}"
    parts = []
    with session(driver, fetch_size=1) as s:
        for record in s.run(statement.format(match=match, row=row), batch=BATCH, **params, **VOCABULARY):
            if not record["rows"]:  # a batch without links (an empty part would turn columns to object)
                continue
            part = pd.DataFrame(record["rows"], columns=list(columns))
            for name in part.select_dtypes(include=object).columns.difference(LISTS):
                part[name] = _intern(part[name], strings)
            if private is not None:  # the accounts: their private links become rows at once
                own = _private_of(part)
                own["value"] = _intern(own["value"], strings)
                private.append(own)
                part = part.drop(columns=list(LISTS))
            parts.append(part)
    if not parts:
        return pd.DataFrame(columns=[c for c in columns if c not in LISTS])
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def _accounts(driver: neo4j.Driver, strings: dict[str, str], ids: list[str] | None = None) -> tuple:
    """(the accounts with their TOTALS, their private links as PRIVATE_COLUMNS)."""
    private: list[pd.DataFrame] = []
    accounts = _frame(driver, ACCOUNTS, strings, ids, private=private)
    if not private:
        private = [private_links(*(pd.DataFrame(columns=["account", "degree"]),) * 2)]
    return accounts, pd.concat(private, ignore_index=True)


def _private_of(part: pd.DataFrame) -> pd.DataFrame:
    """PRIVATE_COLUMNS from a batch of accounts' `own_templates` and `own_payments` lists."""
    sizes_t, sizes_p = part["own_templates"].map(len).to_numpy(), part["own_payments"].map(len).to_numpy()
    pairs = [pair for pairs in part["own_templates"] for pair in pairs]
    templates = pd.DataFrame(
        {
            "account": np.repeat(part["account"].to_numpy(), sizes_t),
            "capability": [c for c, _ in pairs],
            "requests": np.array([r for _, r in pairs], dtype=np.int64),
            "degree": 1,
        }
    )
    payments = pd.DataFrame(
        {
            "account": np.repeat(part["account"].to_numpy(), sizes_p),
            "method_type": [m for methods in part["own_payments"] for (m,) in methods],
            "degree": 1,
        }
    )
    return private_links(templates, payments)


def _intern(column: pd.Series, strings: dict[str, str]) -> pd.Series:
    """The column with each distinct string one object (`strings`, shared by the four reads).

    The driver makes a new string for every value, and an account id or a template hash
    recurs in every row of its links, a capability or IP type in hundreds of thousands. The
    frames are the same; they hold each distinct string once instead of once per row.
    """
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    if not len(uniques):
        return column
    shared = np.array([strings.setdefault(v, v) if isinstance(v, str) else v for v in uniques], dtype=object)
    values = shared[codes]
    values[codes < 0] = None
    return pd.Series(values, index=column.index, name=column.name, dtype=object)


def read_evidence(driver: neo4j.Driver) -> Evidence:
    """Every account and its links. Cost: linear in links (see the module docstring)."""
    strings: dict[str, str] = {}
    accounts, private = _accounts(driver, strings)
    links = {
        name: _frame(driver, table, strings)
        for name, table in zip(LINK_TABLES, (PAYMENTS, IPS, TEMPLATES), strict=True)
    }
    for frame in links.values():
        # in place: the frames are this read's own. Counted over the shared links, which hold
        # every link of an entity with other users; a proxy exit of one account counts 1.
        frame["degree"] = _row_degrees(frame)
    return _typed(Evidence(accounts=accounts, **links, private=private))


def read_region_evidence(driver: neo4j.Driver, ids: list[str]) -> Evidence:
    """The accounts `ids` and their links, each link with its entity's degree in the whole
    graph, and the graph's population: what detection needs to score a region as a full
    read would. Cost: linear in the region's links."""
    strings: dict[str, str] = {}
    accounts, private = _accounts(driver, strings, ids)
    ev = Evidence(
        accounts=accounts,
        payments=_frame(driver, PAYMENTS, strings, ids, DEGREE["payments"]),
        ips=_frame(driver, IPS, strings, ids, DEGREE["ips"]),
        templates=_frame(driver, TEMPLATES, strings, ids, DEGREE["templates"]),
        population=int(read(driver, POPULATION)[0]["n"]),
        private=private,
    )
    return _typed(ev)


def _typed(ev: Evidence) -> Evidence:
    # a table nobody flagged loses its flag columns (scoring reads a missing column as no
    # flag): at 1,000,000 accounts the templates' weights alone were 35 MB of None pointers
    for name in ("accounts", *LINK_TABLES):
        frame = getattr(ev, name)
        if not any_flagged(frame):
            setattr(ev, name, frame.drop(columns=["partner_flagged", "partner_weight"], errors="ignore"))
    for f in (ev.ips, ev.templates):
        if len(f):
            f["requests"] = f["requests"].astype("int64")
    for f in (ev.payments, ev.ips, ev.templates):
        f["degree"] = f["degree"].astype("int32")  # a count of accounts (half the bytes of int64 per link)
    if len(ev.accounts):
        ev.accounts["created"] = ev.accounts["created"].astype("float64")
        ev.accounts["anonymous_payment"] = ev.accounts["anonymous_payment"].astype(bool)
        for name in TOTALS[:-1]:
            ev.accounts[name] = ev.accounts[name].astype("int64")
    return ev


def rows_flagged(frame: pd.DataFrame) -> pd.Series:
    """Per row (with `partner_flagged`), whether partners flagged its entity (or account)."""
    return frame["partner_flagged"].fillna(False).astype(bool)


def any_flagged(frame: pd.DataFrame) -> bool:
    """Whether partners flagged any row's entity (a frame without the column: none)."""
    return "partner_flagged" in frame.columns and bool(rows_flagged(frame).any())


def entity_degrees(frame: pd.DataFrame) -> pd.Series:
    """How many accounts use each entity in the whole graph (the links' `degree`), indexed
    by entity in order of first use."""
    first = frame.drop_duplicates("entity")
    return pd.Series(first["degree"].to_numpy(np.int64), index=pd.Index(first["entity"], name="entity"), name="account")


def users_per_entity(frame: pd.DataFrame) -> pd.Series:
    """How many distinct accounts of the frame's rows use each entity (indexed by entity,
    in order of first use): the users among some of the links, where `entity_degrees`
    gives the users in the whole graph."""
    entity, names = pd.factorize(frame["entity"])
    per_row = distinct_accounts(entity, pd.factorize(frame["account"])[0])
    degree = np.zeros(len(names), dtype=np.int64)
    degree[entity[entity >= 0]] = per_row[entity >= 0]
    return pd.Series(degree, index=pd.Index(names, name="entity"), name="account")


def is_scripted(accounts: pd.DataFrame) -> pd.Series:
    """Per row of accounts with TOTALS, whether the account used templates and never sent a
    prompt of its own: a prompt of one's own is a template no other account used (`degree`
    1). People write some prompts nobody else sends; a farm's accounts run its templates
    (scoring's `no_own_prompts` and member rule, expansion's `expand_scripted_share`)."""
    return (accounts["template_links"] > 0) & (accounts["own_prompts"] == 0)


def share_needed(scripted, params: dict) -> np.ndarray:
    """Per account (`scripted`, as `is_scripted` says), the share of its template traffic a
    ring's own templates must carry for one template and an address to make it the ring's:
    `expand_min_share` (a third), `expand_scripted_share` (a fifth) for an account that never
    sent a prompt of its own. Expansion's joining rule, and scoring's for a member with that
    evidence."""
    return np.where(scripted, params["expand_scripted_share"], params["expand_min_share"])


def scripted_accounts(accounts: pd.DataFrame) -> pd.Index:
    """The ids of evidence's `accounts` that are scripted (see `is_scripted`)."""
    return pd.Index(accounts.loc[is_scripted(accounts).to_numpy(), "account"])


def shared(links: pd.DataFrame, proxies: bool = False) -> np.ndarray:
    """Per row of `links` (with `degree`), whether evidence keeps it: its entity has other
    users, or (`proxies`, the IP links) it is an exit of a proxy service."""
    keep = links["degree"].to_numpy() >= 2
    if proxies and "proxy" in links.columns:
        keep |= links["proxy"].notna().to_numpy()
    return keep


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    return frame[name] if name in frame.columns else pd.Series(None, index=frame.index, dtype=object)


def _requests(frame: pd.DataFrame) -> pd.Series:
    return frame["requests"].astype("int64") if "requests" in frame.columns else pd.Series(0, index=frame.index)


def link_totals(templates: pd.DataFrame, ips: pd.DataFrame, payments: pd.DataFrame) -> pd.DataFrame:
    """TOTALS per account (indexed by account) over all the links given, each with `degree`.
    The pandas statement of what the evidence read computes in the database
    (`ACCOUNT_TOTALS`); a test holds the two equal."""
    t_requests = _requests(templates)
    eliciting = _column(templates, "capability").isin(ELICITING).to_numpy()
    masked = (
        _column(ips, "ip_type").isin(MASKED_IP_TYPES) | _column(ips, "proxy").fillna("").astype(str).ne("")
    ).to_numpy()
    i_requests = _requests(ips)
    parts = [
        pd.DataFrame(
            {
                "account": templates["account"].to_numpy(),
                "template_requests": t_requests.to_numpy(),
                "template_links": 1,
                "eliciting_requests": np.where(eliciting, t_requests.to_numpy(), 0),
                "own_prompts": (templates["degree"].to_numpy() == 1).astype(np.int64),
            }
        ),
        pd.DataFrame(
            {
                "account": ips["account"].to_numpy(),
                "ip_requests": i_requests.to_numpy(),
                "masked_requests": np.where(masked, i_requests.to_numpy(), 0),
            }
        ),
        pd.DataFrame(
            {
                "account": payments["account"].to_numpy(),
                "anonymous_payment": _column(payments, "method_type")
                .isin(ANONYMOUS_PAYMENT)
                .to_numpy()
                .astype(np.int64),
            }
        ),
    ]
    totals = pd.concat(parts, ignore_index=True).groupby("account", sort=False).sum()
    return totals.reindex(columns=list(TOTALS), fill_value=0)


def with_totals(
    accounts: pd.DataFrame, templates: pd.DataFrame, ips: pd.DataFrame, payments: pd.DataFrame
) -> pd.DataFrame:
    """`accounts` with TOTALS over the links given (0 for an account without links)."""
    totals = link_totals(templates, ips, payments).reindex(accounts["account"]).fillna(0)
    out = accounts.copy()
    for name in TOTALS:
        out[name] = totals[name].to_numpy().astype(np.int64)
    out["anonymous_payment"] = out["anonymous_payment"] > 0
    return out


def private_links(templates: pd.DataFrame, payments: pd.DataFrame) -> pd.DataFrame:
    """PRIVATE_COLUMNS over the links (with `degree`) to entities no other account uses: per
    account, their requests and number by capability (templates) and method type (payments)."""
    parts = []
    for kind, frame, value in (("template", templates, "capability"), ("payment", payments, "method_type")):
        own = frame[frame["degree"].to_numpy() == 1]
        part = pd.DataFrame(
            {
                "account": own["account"].to_numpy(),
                "value": _column(own, value).to_numpy(),
                "requests": _requests(own).to_numpy(),
            }
        )
        part = part.groupby(["account", "value"], sort=False).agg(
            requests=("requests", "sum"), links=("requests", "size")
        )
        parts.append(part.reset_index().assign(kind=kind))
    private = pd.concat(parts, ignore_index=True)[list(PRIVATE_COLUMNS)]
    return private.astype({"requests": "int64", "links": "int64"})


def _row_degrees(frame: pd.DataFrame) -> np.ndarray:
    """Per row, how many distinct accounts of the frame use the row's entity."""
    return distinct_accounts(pd.factorize(frame["entity"])[0], pd.factorize(frame["account"])[0])


def distinct_accounts(group: np.ndarray, account: np.ndarray) -> np.ndarray:
    """Per row, how many distinct accounts are in the row's group; both are integer codes
    (pd.factorize), so the counting is numpy's, not a group-by of strings (at 1,000,000
    accounts a group-by nunique over the id strings took 13 s for the three link tables)."""
    if not len(group):
        return np.zeros(0, dtype=np.int64)
    # each (group, account) pair as one int64, group x width + account + 1 (codes start at -1,
    # pd.factorize's missing value); sorting those is faster than dropping duplicate pairs
    width = int(account.max()) + 2
    pairs = np.unique(group.astype(np.int64) * width + (account.astype(np.int64) + 1))
    keys, counts = np.unique(pairs // width, return_counts=True)
    return counts[np.searchsorted(keys, group)]


def pairs_within(sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of positions (i, j), i < j, in the same group, for groups laid out one
    after another with these `sizes` (rows sorted by a key, then the key's group sizes):
    the rows of a self-join on the key, as two position arrays and without the join's
    frames (a pandas self-merge of 2 M rows held about 300 MB of copies and indexers).
    Cost: three int64 arrays of the pairs' length."""
    sizes = np.asarray(sizes, dtype=np.int64)
    if not len(sizes):
        return np.empty(0, np.int64), np.empty(0, np.int64)
    ends = np.cumsum(sizes)
    position = np.arange(ends[-1], dtype=np.int64)
    later = np.repeat(ends, sizes) - position - 1  # positions after each one in its group
    first = np.repeat(position, later)
    step = np.arange(len(first), dtype=np.int64) - np.repeat(np.cumsum(later) - later, later)
    return first, first + 1 + step


def chunked_pairs(sizes: np.ndarray, most: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """`pairs_within(sizes)`, a chunk of whole groups at a time, each of about `most` pairs
    (a group with more is a chunk of its own): positions in the whole layout, so that the
    caller holds one chunk's pairs, not every pair at once."""
    sizes = np.asarray(sizes, dtype=np.int64)
    if not len(sizes):
        return
    first_row = np.r_[0, np.cumsum(sizes)]
    chunk = np.cumsum(sizes * (sizes - 1) // 2) // most
    bounds = np.flatnonzero(np.r_[True, chunk[1:] != chunk[:-1], True])
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        i, j = pairs_within(sizes[start:stop])
        yield i + first_row[start], j + first_row[start]


def has_link_edges(ev: Evidence, params: dict) -> bool:
    """Whether `link_edges` has any edge, without building them (a kind:key string per edge
    was 1 GB at 1,000,000 accounts, to learn that there are some)."""
    return any(
        bool(((frame["degree"] >= 2) & (frame["degree"] <= params[cap])).any())
        for frame, cap in (
            (ev.payments, "max_payment_degree"),
            (ev.ips, "max_ip_degree"),
            (ev.templates, "max_template_degree"),
        )
    )


def link_edges(ev: Evidence, params: dict) -> pd.DataFrame:
    """Weighted account->entity edges for community detection.

    An entity is evidence of a tie only if it is shared (degree >= 2) and not so common
    that it says nothing (degree above a cap: a mobile NAT, a VPN exit, an app's
    template). Its weight is an inverse-document-frequency, log(N / degree): a card
    shared by 30 accounts weighs far more than an exit seen by 900.
    Columns: account, entity (prefixed by kind), w.
    """
    n = max(ev.n_accounts, 2)
    parts = []
    for kind, frame, weight_key, cap_key in (
        ("pay", ev.payments, "w_payment", "max_payment_degree"),
        ("ip", ev.ips, "w_ip", "max_ip_degree"),
        ("tpl", ev.templates, "w_template", "max_template_degree"),
    ):
        if frame.empty:
            continue
        deg = entity_degrees(frame)
        keep = deg[(deg >= 2) & (deg <= params[cap_key])]
        edges = frame.loc[frame["entity"].isin(keep.index), ["account", "entity"]].drop_duplicates()
        edges["w"] = params[weight_key] * np.log(n / edges["entity"].map(keep).astype(float))
        edges["entity"] = kind + ":" + edges["entity"].astype(str)
        parts.append(edges)
    if not parts:
        return pd.DataFrame(columns=["account", "entity", "w"])
    return pd.concat(parts, ignore_index=True)
