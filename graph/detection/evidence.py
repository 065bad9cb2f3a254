"""What detection reads from the graph: accounts and the things they share, as DataFrames.

One read per relationship type (about 1 M links for a 100,000-account world). Both
community backends and the scoring use these same tables, so the GDS and networkx
backends see the same evidence.

Accounts are read BATCH at a time and each batch's links come back as one record holding
a list of rows: the driver then builds one record per batch instead of one per link,
which was most of the read's time (the templates of a 100,000-account world: 9.3 s as a
record per link, 2.3 s as lists of rows). A batch becomes a frame at once, so the
driver's rows never pile up, and equal strings become one object (see `_intern`).
"""

from __future__ import annotations

from dataclasses import dataclass

import neo4j
import numpy as np
import pandas as pd

from graph.db.connection import session

# Per table: its columns, and the rows of one account `a` (what to match, what each row holds).
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
BATCH = 20_000  # accounts per record: about 130,000 template links, a few MB on the wire


@dataclass
class Evidence:
    accounts: pd.DataFrame  # account, created, email_domain, partner_flagged
    payments: pd.DataFrame  # account, entity, method_type, bin, partner_flagged
    ips: pd.DataFrame  # account, entity, requests, ip_type, proxy, partner_flagged
    templates: pd.DataFrame  # account, entity, requests, capability, partner_flagged

    @property
    def n_accounts(self) -> int:
        return len(self.accounts)


def _frame(driver: neo4j.Driver, table: tuple, strings: dict[str, str]) -> pd.DataFrame:
    """The table's rows as a frame, read BATCH accounts at a time."""
    columns, match, row = table
    parts = []
    with session(driver, fetch_size=1) as s:
        for record in s.run(BATCHED.format(match=match, row=row), batch=BATCH):
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
    strings: dict[str, str] = {}
    ev = Evidence(
        accounts=_frame(driver, ACCOUNTS, strings),
        payments=_frame(driver, PAYMENTS, strings),
        ips=_frame(driver, IPS, strings),
        templates=_frame(driver, TEMPLATES, strings),
    )
    for f in (ev.ips, ev.templates):
        if len(f):
            f["requests"] = f["requests"].astype("int64")
    if len(ev.accounts):
        ev.accounts["created"] = ev.accounts["created"].astype("float64")
    return ev


def entity_degrees(frame: pd.DataFrame) -> pd.Series:
    """How many distinct accounts use each entity (indexed by entity, in order of first use)."""
    entity, names = pd.factorize(frame["entity"])
    per_row = distinct_accounts(entity, pd.factorize(frame["account"])[0])
    degree = np.zeros(len(names), dtype=np.int64)
    degree[entity[entity >= 0]] = per_row[entity >= 0]
    return pd.Series(degree, index=pd.Index(names, name="entity"), name="account")


def distinct_accounts(group: np.ndarray, account: np.ndarray) -> np.ndarray:
    """Per row, how many distinct accounts are in the row's group; both are integer codes
    (pd.factorize), so the counting is numpy's, not a group-by of strings (at 1,000,000
    accounts a group-by nunique over the id strings took 13 s for the three link tables)."""
    if not len(group):
        return np.zeros(0, dtype=np.int64)
    pairs = pd.DataFrame({"g": group, "a": account}).drop_duplicates()
    keys, counts = np.unique(pairs["g"].to_numpy(), return_counts=True)
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
