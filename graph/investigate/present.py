"""Pure helpers for what the investigator shows: no database, no Streamlit.

parse_json / top_capabilities      stored JSON text (capability mix, bound entities)
to_py / age_text                   neo4j temporals, "3 h" / "12 d" ages
short_label                        a node key short enough to draw
timeline_series                    per-member activity spans -> a daily series
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pandas as pd


def parse_json(text: Any, default: Any) -> Any:
    if not text:
        return default
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return default


def top_capabilities(mix: Any, n: int = 3) -> str:
    shares = parse_json(mix, {})
    return ", ".join(f"{k} {100 * v:.0f}%" for k, v in list(shares.items())[:n] if v >= 0.01)


def to_py(value: Any) -> Any:
    """neo4j temporal -> Python datetime (others unchanged)."""
    return value.to_native() if hasattr(value, "to_native") else value


def age_text(now: datetime, then: Any) -> str:
    then = to_py(then)
    if then is None or pd.isna(then):
        return ""
    seconds = max(0.0, (now - then).total_seconds())
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 2 * 86_400:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86_400)} d"


def short_label(kind: str, key: str, width: int = 14) -> str:
    """A label that fits on the drawing: hashes and fingerprints to 8 characters, long ids with an ellipsis."""
    key = str(key)
    if kind in ("template", "payment"):
        return key[:8] + "…" if len(key) > 9 else key
    if kind == "account":
        return key.removeprefix("acct_")[:8] + ("…" if len(key) > 13 else "")
    if kind == "ip" and len(key) > 18:  # IPv6
        return key[:14] + "…"
    if kind == "asn":
        return f"AS{key}"
    return key if len(key) <= width else key[: width - 1] + "…"


MAX_DAYS = 3 * 365  # a timeline covers at most this many days from its first


def review_flags(needs_review: bool, pending: Any, awaiting: Any) -> str:
    """A ring's open review items as one line: 'needs review · waiting for approval · 3 awaiting review'.

    `pending` is the id of a block waiting for approval (or None); `awaiting` counts members that joined
    after the ring was decided and that no decision covers yet.
    """
    bits = []
    if needs_review:
        bits.append("needs review")
    if isinstance(pending, str) and pending:
        bits.append("waiting for approval")
    if not pd.isna(awaiting) and int(awaiting) > 0:
        bits.append(f"{int(awaiting)} awaiting review")
    return " · ".join(bits)


def timeline_series(frame: pd.DataFrame, daily_signups: pd.DataFrame | None = None) -> pd.DataFrame:
    """Daily series: sign-ups, accounts active, requests (spread evenly over each member's active span).

    Sign-ups come from `daily_signups` (every member) when given, else from the members in `frame`.
    `frame` has one row per member: created, first_seen, last_seen (epoch seconds) and requests. The
    series runs from the first day anything happened, for at most MAX_DAYS + 1 days.
    """
    if frame.empty:
        return pd.DataFrame(columns=["day", "signups", "active_accounts", "requests"])
    day = 86_400
    frame = frame.assign(
        **{c: pd.to_numeric(frame[c], errors="coerce") for c in ("created", "first_seen", "last_seen", "requests")}
    )
    created = (frame["created"].dropna() // day).astype("int64")
    if daily_signups is not None and len(daily_signups):
        created = daily_signups["day"].astype("int64").repeat(daily_signups["signups"].astype("int64"))
    first = frame["first_seen"].fillna(frame["created"]) // day
    last = frame["last_seen"].fillna(first * day) // day
    valid = first.notna() & last.notna()
    first, last = first[valid].astype("int64"), last[valid].astype("int64")
    requests = frame.loc[valid, "requests"].astype(float)
    lo = int(min(created.min() if len(created) else first.min(), first.min() if len(first) else created.min()))
    hi = int(max(created.max() if len(created) else last.max(), last.max() if len(last) else created.max()))
    hi = min(hi, lo + MAX_DAYS)  # bound the series
    n = hi - lo + 2
    active = [0.0] * n
    volume = [0.0] * n
    for f, t, req in zip(first, last, requests, strict=True):
        if f > hi:  # active only after the bounded series ends
            continue
        f, t = max(f, lo) - lo, min(max(t, f), hi) - lo
        span = t - f + 1
        active[f] += 1
        active[t + 1] -= 1
        volume[f] += req / span
        volume[t + 1] -= req / span
    signups = created.value_counts()
    days, acc_a, acc_v = [], 0.0, 0.0
    out = []
    for i in range(n - 1):
        acc_a += active[i]
        acc_v += volume[i]
        days.append(lo + i)
        out.append((int(signups.get(lo + i, 0)), round(acc_a), round(acc_v, 1)))
    result = pd.DataFrame(out, columns=["signups", "active_accounts", "requests"])
    result.insert(0, "day", pd.to_datetime(pd.Series(days) * day, unit="s", utc=True))
    return result
