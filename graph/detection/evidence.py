"""What detection reads from the graph: accounts and the things they share, as DataFrames.

One read per relationship type (about 1 M links for a 100,000-account world). Both
community backends and the scoring use these same tables, so the GDS and networkx
backends see the same evidence.

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

from dataclasses import dataclass

import neo4j
import numpy as np
import pandas as pd

from graph.db.connection import read, session

# Per table: its columns, and the rows of one account `a` (what to match, what each row holds).
# DEGREE: per table, its entity's users in the whole graph (a region's links carry it).
ACCOUNTS = (
    ("account", "created", "email_domain", "partner_flagged", "partner_weight"),
    "",
    "a.id, a.created_at.epochSeconds, a.email_domain, a.partner_flags IS NOT NULL, a.partner_weight",
)
PAYMENTS = (
    ("account", "entity", "method_type", "bin", "partner_flagged", "partner_weight"),
    "MATCH (a)-[:PAID_WITH]->(p:PaymentMethod)",
    "a.id, p.fingerprint, p.method_type, p.bin, p.partner_flags IS NOT NULL, p.partner_weight",
)
IPS = (
    ("account", "entity", "requests", "ip_type", "proxy", "partner_flagged", "partner_weight"),
    "MATCH (a)-[e:USED_IP]->(i:IP)",
    "a.id, i.address, e.requests, i.ip_type, i.proxy_provider, i.partner_flags IS NOT NULL, i.partner_weight",
)
TEMPLATES = (
    ("account", "entity", "requests", "capability", "partner_flagged", "partner_weight"),
    "MATCH (a)-[e:USED_TEMPLATE]->(t:PromptTemplate)",
    "a.id, t.hash, e.requests, coalesce(e.capability, t.capability), t.partner_flags IS NOT NULL, t.partner_weight",
)
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
    accounts: pd.DataFrame  # account, created, email_domain, partner_flagged
    payments: pd.DataFrame  # account, entity, method_type, bin, partner_flagged
    ips: pd.DataFrame  # account, entity, requests, ip_type, proxy, partner_flagged
    templates: pd.DataFrame  # account, entity, requests, capability, partner_flagged
    # a region's evidence: all accounts of the graph (its links' `degree` is the store's)
    population: int | None = None

    def __post_init__(self) -> None:
        # links read or built without their entity's degree get it counted over their rows
        for name in LINK_TABLES:
            frame = getattr(self, name)
            if "degree" not in frame.columns:
                setattr(self, name, frame.assign(degree=_row_degrees(frame)))

    @property
    def n_accounts(self) -> int:
        """Accounts in the graph: those read, or the whole population for a region."""
        return len(self.accounts) if self.population is None else self.population


def _frame(
    driver: neo4j.Driver, table: tuple, strings: dict[str, str], ids: list[str] | None = None, degree: str = ""
) -> pd.DataFrame:
    """The table's rows as a frame, read BATCH accounts at a time (of the accounts `ids`,
    with the entity's `degree`, when given)."""
    columns, match, row = table
    statement, params = BATCHED, {}
    if ids is not None:
        statement, params = REGION_BATCHED, {"ids": ids}
        if degree:
            columns, row = (*columns, "degree"), f"{row}, {degree}"
    parts = []
    with session(driver, fetch_size=1) as s:
        for record in s.run(statement.format(match=match, row=row), batch=BATCH, **params):
            if not record["rows"]:  # a batch without links (an empty part would turn columns to object)
                continue
            part = pd.DataFrame(record["rows"], columns=list(columns))
            for name in part.select_dtypes(include=object).columns:
                part[name] = _intern(part[name], strings)
            parts.append(part)
    if not parts:
        return pd.DataFrame(columns=list(columns))
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


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
    accounts = _frame(driver, ACCOUNTS, strings)
    links = {
        name: _frame(driver, table, strings)
        for name, table in zip(LINK_TABLES, (PAYMENTS, IPS, TEMPLATES), strict=True)
    }
    for frame in links.values():
        frame["degree"] = _row_degrees(frame)  # in place: the frames are this read's own
    return _typed(Evidence(accounts=accounts, **links))


def read_region_evidence(driver: neo4j.Driver, ids: list[str]) -> Evidence:
    """The accounts `ids` and their links, each link with its entity's degree in the whole
    graph, and the graph's population: what detection needs to score a region as a full
    read would. Cost: linear in the region's links."""
    strings: dict[str, str] = {}
    ev = Evidence(
        accounts=_frame(driver, ACCOUNTS, strings, ids),
        payments=_frame(driver, PAYMENTS, strings, ids, DEGREE["payments"]),
        ips=_frame(driver, IPS, strings, ids, DEGREE["ips"]),
        templates=_frame(driver, TEMPLATES, strings, ids, DEGREE["templates"]),
        population=int(read(driver, POPULATION)[0]["n"]),
    )
    return _typed(ev)


def _typed(ev: Evidence) -> Evidence:
    for f in (ev.ips, ev.templates):
        if len(f):
            f["requests"] = f["requests"].astype("int64")
    for f in (ev.payments, ev.ips, ev.templates):
        f["degree"] = f["degree"].astype("int64")
    if len(ev.accounts):
        ev.accounts["created"] = ev.accounts["created"].astype("float64")
    return ev


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


def scripted_accounts(templates: pd.DataFrame) -> pd.Index:
    """Accounts of the template links `templates` that never sent a prompt of their own: a
    prompt of one's own is a template no other account used (`degree` 1). People write
    some prompts nobody else sends; a farm's accounts run its templates (scoring's
    `no_own_prompts`, expansion's `expand_scripted_share`)."""
    own = templates.loc[templates["degree"] == 1, "account"].unique()
    return pd.Index(templates["account"].unique()).difference(own)


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
