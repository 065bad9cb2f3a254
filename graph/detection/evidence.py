"""What detection reads from the graph: accounts and the things they share, as DataFrames.

One read per relationship type, streamed into pandas (about 1.2 M rows for a
100,000-account world, a few seconds). Both community backends and the scoring use these
same tables, so the GDS and networkx backends see the same evidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import neo4j
import numpy as np
import pandas as pd

from graph.db.connection import session

ACCOUNTS = """
MATCH (a:Account)
RETURN a.id AS account, a.created_at.epochSeconds AS created, a.email_domain AS email_domain,
       a.partner_flags IS NOT NULL AS partner_flagged, a.partner_weight AS partner_weight
"""
PAYMENTS = """
MATCH (a:Account)-[:PAID_WITH]->(p:PaymentMethod)
RETURN a.id AS account, p.fingerprint AS entity, p.method_type AS method_type,
       p.bin AS bin, p.partner_flags IS NOT NULL AS partner_flagged, p.partner_weight AS partner_weight
"""
IPS = """
MATCH (a:Account)-[e:USED_IP]->(i:IP)
RETURN a.id AS account, i.address AS entity, e.requests AS requests, i.ip_type AS ip_type,
       i.proxy_provider AS proxy, i.partner_flags IS NOT NULL AS partner_flagged, i.partner_weight AS partner_weight
"""
TEMPLATES = """
MATCH (a:Account)-[e:USED_TEMPLATE]->(t:PromptTemplate)
RETURN a.id AS account, t.hash AS entity, e.requests AS requests,
       coalesce(e.capability, t.capability) AS capability, t.partner_flags IS NOT NULL AS partner_flagged,
       t.partner_weight AS partner_weight
"""


@dataclass
class Evidence:
    accounts: pd.DataFrame  # account, created, email_domain, partner_flagged
    payments: pd.DataFrame  # account, entity, method_type, bin, partner_flagged
    ips: pd.DataFrame  # account, entity, requests, ip_type, proxy, partner_flagged
    templates: pd.DataFrame  # account, entity, requests, capability, partner_flagged

    @property
    def n_accounts(self) -> int:
        return len(self.accounts)


CHUNK = 100_000  # records turned into a frame at a time, so the driver's records never pile up


def _frame(driver: neo4j.Driver, query: str, strings: dict[str, str]) -> pd.DataFrame:
    """The query's rows as a frame, built CHUNK records at a time.

    Equal strings become one object (`strings`, shared by the four reads): the driver makes
    a new string for every value, and an account id or a template hash recurs in every row
    of its links, a capability or IP type in hundreds of thousands. The frames are the
    same; they hold each distinct string once instead of once per row.
    """
    parts = []
    with session(driver, fetch_size=20_000) as s:
        result = s.run(query)
        keys = result.keys()
        rows: list[list] = []
        for record in result:
            rows.append([strings.setdefault(v, v) if isinstance(v, str) else v for v in record.values()])
            if len(rows) == CHUNK:
                parts.append(pd.DataFrame(rows, columns=keys))
                rows = []
        if rows or not parts:
            parts.append(pd.DataFrame(rows, columns=keys))
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


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
    """How many distinct accounts use each entity."""
    return frame.groupby("entity")["account"].nunique()


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
