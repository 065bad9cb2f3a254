"""Search: find an account, IP, card, template, proxy, ASN or ring; an entity's properties and the rings it touches."""

from __future__ import annotations

from typing import Any

import neo4j
import pandas as pd

from graph.investigate.reads import key_param, q
from graph.investigate.statements import ENTITY, RINGS_TEMPLATES, SEARCH
from graph.vocabulary import KINDS, canonical_ip


def search(driver: neo4j.Driver, text: str, limit: int = 30) -> pd.DataFrame:
    """Entities matching `text`: exact keys of every kind, then prefixes (accounts, IPs, cards, templates)
    and proxy names containing it."""
    text = (text or "").strip()
    if not text:
        return pd.DataFrame(columns=["kind", "key", "exact"])
    ip = canonical_ip(text) or text
    asn = key_param("asn", text) if text.upper().removeprefix("AS").isdigit() else -1
    rows = q(
        driver,
        SEARCH,
        term=text,
        ip=ip,
        ip_prefix=text.lower(),
        lower=text.lower(),
        upper=text.upper(),
        asn=asn,
        limit=int(limit),
    )
    return pd.DataFrame(rows, columns=["kind", "key", "exact"])


def entity(driver: neo4j.Driver, kind: str, key: str) -> dict[str, Any] | None:
    if kind not in KINDS:
        return None
    rows = q(driver, ENTITY[kind], key=key_param(kind, key))
    return rows[0] if rows else None


def rings_touching(driver: neo4j.Driver, kind: str, key: str, limit: int = 50, scan: int = 20_000) -> pd.DataFrame:
    if kind not in RINGS_TEMPLATES:
        return pd.DataFrame(columns=["ring", "status", "score", "size", "accounts", "reason"])
    rows = q(driver, RINGS_TEMPLATES[kind], key=key_param(kind, key), limit=int(limit), scan=int(scan))
    return pd.DataFrame(rows, columns=["ring", "status", "score", "size", "accounts", "reason"])
