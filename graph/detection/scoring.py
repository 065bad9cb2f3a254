"""From communities to rings: member evidence, ring features, a score in [0, 1], and reasons.

A community is only a candidate. For each one:

1. *Bound entities*: cards, IPs and templates used by >= 2 members and mostly (>= half of
   their users) inside the community. A VPN exit shared with hundreds of strangers is not
   bound; a template used only by the farm is.
2. *Member evidence*: each member is kept only if it holds enough bound entities itself
   (a bound card, or >= 2 bound templates, or a bound template and bound addresses). A
   bystander who shares one proxy exit with a farm is dropped, whatever Leiden said.
3. *Features* of the kept members (each in [0, 1]):
   - `private_share`: share of their template traffic on bound templates;
   - `eliciting_share`: share of template traffic on capability-eliciting templates
     (reasoning, coding, tool_use, agentic, extraction);
   - `uniformity`: 1 - coefficient of variation of per-member volume (farms script
     their accounts to look alike; real users are heavy-tailed);
   - `masked_share`: share of IP traffic through datacenter, VPN, proxy or Tor exits;
   - `anonymous_payment`: share of members paying with prepaid, virtual or crypto;
   - `signup_burst`: largest share of members created within `burst_hours`;
   - `partner_flagged`: share of members touching an entity a partner lab flagged.
4. *Score* = behaviour x binding: behaviour is a weighted mean of the behavioural features
   (weights in DEFAULT_PARAMS), binding = 0.5 + 0.5 x private_share, plus 0.25 x
   partner_flagged; clipped to [0, 1]. No single trait makes a ring: researchers share
   public benchmark prompts (eliciting) but not bursts, uniform volumes or masked exits; a
   team shares one card and internal templates but is heavy-tailed, on office IPs, and
   asks ordinary things.

Everything is vectorised over all communities at once (pandas group-bys); the cost is
linear in the number of account-entity links.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from graph.detection.evidence import Evidence
from graph.vocabulary import ANONYMOUS_PAYMENT, ELICITING, FEATURES, MASKED_IP_TYPES

DEFAULT_THRESHOLD = 0.5

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
    "burst_hours": 72,
    # a low-score candidate bigger than this (share of all accounts, and at least min size) is the
    # background population glued together by popular things, not a ring (graph.detection.detect.drop_background)
    "background_share": 0.05,
    "background_min_size": 1000,
    # behaviour weights (sum to 1)
    "weights": {
        "eliciting_share": 0.30,
        "uniformity": 0.20,
        "masked_share": 0.20,
        "anonymous_payment": 0.15,
        "signup_burst": 0.15,
    },
    "partner_bonus": 0.25,
}



def _bound(frame: pd.DataFrame, community: pd.Series, share: float) -> pd.DataFrame:
    """Rows of `frame` (account, entity, ...) with the account's community and a `bound` flag."""
    f = frame.assign(community=frame["account"].map(community))
    f = f[f["community"].notna()]
    f["community"] = f["community"].astype("int64")
    degree = frame.groupby("entity")["account"].nunique()
    inside = f.groupby(["entity", "community"])["account"].nunique().rename("inside")
    f = f.join(inside, on=["entity", "community"])
    f["degree"] = f["entity"].map(degree)
    f["bound"] = (f["inside"] >= 2) & (f["inside"] >= share * f["degree"])
    return f


def bound_links(ev: Evidence, community: pd.Series, share: float) -> pd.DataFrame:
    """(account, entity, community) for every link to an entity bound to the account's community."""
    parts = []
    for kind, frame in (("tpl", ev.templates), ("pay", ev.payments), ("ip", ev.ips)):
        if frame.empty:
            continue
        b = _bound(frame[["account", "entity"]], community, share)
        b = b.loc[b["bound"], ["account", "entity", "community"]]
        b["entity"] = kind + ":" + b["entity"].astype(str)
        parts.append(b)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["account", "entity", "community"])


def score_communities(
    ev: Evidence, community: pd.Series, params: dict | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rings (one row per candidate community that passes the evidence checks) and members.

    rings: community, size, score, FEATURES..., reason, bound (JSON: top binding entities)
    members: community, account, strength, evidence (one line), private_share
    """
    p = {**DEFAULT_PARAMS, **(params or {})}
    sizes = community.value_counts()
    community = community[community.map(sizes) >= p["min_size"]]
    if community.empty:
        return _empty_rings(), _empty_members()

    tpl = _bound(ev.templates, community, p["bound_share"])
    pay = _bound(ev.payments, community, p["bound_share"])
    ips = _bound(ev.ips, community, p["bound_share"])

    # --- member evidence -------------------------------------------------------------
    m = pd.DataFrame({"community": community})
    m["bound_templates"] = tpl[tpl["bound"]].groupby("account")["entity"].nunique()
    m["bound_cards"] = pay[pay["bound"]].groupby("account")["entity"].nunique()
    m["bound_ips"] = ips[ips["bound"]].groupby("account")["entity"].nunique()
    m = m.fillna(0)
    tpl_total = tpl.groupby("account")["requests"].sum()
    tpl_bound = tpl[tpl["bound"]].groupby("account")["requests"].sum()
    m["private_share"] = (tpl_bound / tpl_total).reindex(m.index).fillna(0.0)
    m["strength"] = (
        2.0 * (m["bound_cards"] > 0)
        + np.minimum(m["bound_templates"], 2)
        + 0.5 * np.minimum(m["bound_ips"], 2)
    )
    m = m[m["strength"] >= 2.0]
    sizes = m.groupby("community").size()
    m = m[m["community"].map(sizes) >= p["min_size"]]
    if m.empty:
        return _empty_rings(), _empty_members()
    kept = m["community"]

    # --- ring features over kept members ---------------------------------------------
    tpl_k = tpl[tpl["account"].isin(kept.index)]
    ips_k = ips[ips["account"].isin(kept.index)]
    pay_k = pay[pay["account"].isin(kept.index)]
    acc = ev.accounts.set_index("account").loc[kept.index]

    r = pd.DataFrame({"size": kept.value_counts()})
    g_tpl = tpl_k.groupby("community")
    total_tpl = g_tpl["requests"].sum()
    r["private_share"] = tpl_k[tpl_k["bound"]].groupby("community")["requests"].sum() / total_tpl
    eliciting = tpl_k["capability"].isin(ELICITING)
    r["eliciting_share"] = tpl_k[eliciting].groupby("community")["requests"].sum() / total_tpl
    per_member = tpl_k.groupby(["community", "account"])["requests"].sum()
    cv = per_member.groupby(level=0).std(ddof=0) / per_member.groupby(level=0).mean()
    r["uniformity"] = (1.0 - cv.clip(0, 1))
    masked = ips_k["ip_type"].isin(MASKED_IP_TYPES) | ips_k["proxy"].fillna("").astype(str).ne("")
    r["masked_share"] = (
        ips_k[masked].groupby("community")["requests"].sum() / ips_k.groupby("community")["requests"].sum()
    )
    anon_accounts = pay_k.loc[pay_k["method_type"].isin(ANONYMOUS_PAYMENT), "account"].unique()
    r["anonymous_payment"] = pd.Series(kept.index.isin(anon_accounts).astype(float), index=kept.index).groupby(
        kept
    ).mean()
    r["signup_burst"] = _burst(acc["created"], kept, p["burst_hours"] * 3600)
    flagged = set(acc.index[acc["partner_flagged"].fillna(False).astype(bool)])
    for frame in (tpl_k, ips_k, pay_k):
        flagged |= set(frame.loc[frame["partner_flagged"].fillna(False).astype(bool), "account"])
    r["partner_flagged"] = pd.Series(kept.index.isin(list(flagged)).astype(float), index=kept.index).groupby(
        kept
    ).mean()
    r = r.fillna(0.0)

    weights = p["weights"]
    behaviour = sum(w * r[f] for f, w in weights.items()) / sum(weights.values())
    r["score"] = (behaviour * (0.5 + 0.5 * r["private_share"]) + p["partner_bonus"] * r["partner_flagged"]).clip(
        0, 1
    )
    r.index.name = "community"

    # --- explanations ----------------------------------------------------------------
    bound_all = pd.concat(
        [
            tpl_k[tpl_k["bound"]].assign(kind="template"),
            pay_k[pay_k["bound"]].assign(kind="payment"),
            ips_k[ips_k["bound"]].assign(kind="ip"),
        ],
        ignore_index=True,
    )
    bound_summary = (
        bound_all.groupby(["community", "kind", "entity"])["account"].nunique().rename("members").reset_index()
    )
    proxies = ips_k[ips_k["proxy"].fillna("").astype(str).ne("")].groupby(["community", "proxy"])["requests"].sum()
    capabilities = tpl_k.groupby(["community", "capability"])["requests"].sum()
    methods = pay_k.groupby(["community", "method_type"])["entity"].nunique()
    r["bound"] = [
        json.dumps(_top_bound(bound_summary[bound_summary["community"] == c])) for c in r.index
    ]
    mixes = [_shares(capabilities, c) for c in r.index]
    r["capability_mix"] = [json.dumps(mix) for mix in mixes]
    r["capabilities"] = [list(mix) for mix in mixes]  # by share; a native list the queue filters on
    r["reason"] = [
        ring_reason(row, bound_summary[bound_summary["community"] == c], _series(proxies, c), _series(methods, c))
        for c, row in r.iterrows()
    ]
    m["evidence"] = [_member_line(row) for row in m.itertuples()]
    members = m.reset_index(names="account")[
        ["community", "account", "strength", "private_share", "bound_cards", "bound_templates", "bound_ips", "evidence"]
    ]
    return r.reset_index(), members


def _burst(created: pd.Series, kept: pd.Series, window_s: float) -> pd.Series:
    """Per community: the largest share of members created within any `window_s` window."""
    out = {}
    frame = pd.DataFrame({"c": kept, "t": created.reindex(kept.index)}).dropna().sort_values(["c", "t"])
    for c, times in frame.groupby("c")["t"]:
        t = times.to_numpy()
        ends = np.searchsorted(t, t + window_s, side="right")
        out[c] = (ends - np.arange(len(t))).max() / len(t)
    return pd.Series(out, dtype=float)


def _series(s: pd.Series, c) -> pd.Series:
    try:
        return s.loc[c]
    except KeyError:
        return pd.Series(dtype=float)


def _shares(s: pd.Series, c) -> dict:
    part = _series(s, c)
    total = part.sum()
    return {str(k): round(float(v / total), 3) for k, v in part.sort_values(ascending=False).items()} if total else {}


def _top_bound(summary: pd.DataFrame, per_kind: int = 10) -> list[dict]:
    out = []
    for kind, group in summary.groupby("kind"):
        for row in group.sort_values("members", ascending=False).head(per_kind).itertuples():
            out.append({"kind": kind, "key": row.entity, "members": int(row.members)})
    return out


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _n(count: int, noun: str, plural: str | None = None) -> str:
    """`1 ring-only template`, `7 ring-only templates`."""
    return f"{int(count)} {noun if int(count) == 1 else plural or noun + 's'}"


def ring_reason(row: pd.Series, bound: pd.DataFrame, proxies: pd.Series, methods: pd.Series) -> str:
    """One line an analyst reads at a glance: what binds the ring and what is odd about it."""
    counts = bound.groupby("kind")["entity"].nunique() if len(bound) else pd.Series(dtype=int)
    parts = [f"{int(row['size'])} accounts"]
    if counts.get("template", 0):
        parts.append(
            f"{_pct(row['private_share'])} of traffic on {_n(counts['template'], 'ring-only template')}"
        )
    if counts.get("payment", 0):
        kinds = ", ".join(f"{int(n)} {k}" for k, n in methods.sort_values(ascending=False).head(2).items())
        shared = _n(counts["payment"], "shared payment method")
        parts.append(f"{shared} ({kinds})" if kinds else shared)
    parts.append(f"{_pct(row['eliciting_share'])} capability-eliciting")
    if row["masked_share"] >= 0.2:
        top = f" via {proxies.idxmax()}" if len(proxies) else ""
        parts.append(f"{_pct(row['masked_share'])} masked exits{top}")
    if row["anonymous_payment"] >= 0.2:
        parts.append(f"{_pct(row['anonymous_payment'])} pay prepaid/virtual")
    if row["signup_burst"] >= 0.5:
        parts.append(f"{_pct(row['signup_burst'])} signed up within 72 h")
    if row["uniformity"] >= 0.6:
        parts.append("uniform volumes")
    if row["partner_flagged"] > 0:
        parts.append(f"{_pct(row['partner_flagged'])} flagged by partner")
    return "; ".join(parts)


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
    return pd.DataFrame(columns=["community", "size", "score", *FEATURES, "bound", "capability_mix", "capabilities",
                                 "reason"])


def _empty_members() -> pd.DataFrame:
    return pd.DataFrame(
        columns=["community", "account", "strength", "private_share", "bound_cards", "bound_templates",
                 "bound_ips", "evidence"]
    )
