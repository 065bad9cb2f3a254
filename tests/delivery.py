"""Small, hand-built deliveries in the data contract, for ingest, review and watch tests."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pandas as pd

from graph.db.connection import read


def small_delivery(accounts: int = 200, seed: int = 7) -> dict[str, pd.DataFrame]:
    """A valid delivery: every account pays, sends traffic from IPs and uses templates."""
    rng = random.Random(seed)
    ids = [f"acct_{seed}_{i:06d}" for i in range(accounts)]
    acc = pd.DataFrame(
        {
            "account_id": ids,
            "created_at": [f"2026-01-{1 + i % 28:02d}T{i % 24:02d}:00:00Z" for i in range(accounts)],
            "country": [rng.choice(["US", "DE", "BR", "IN", ""]) for _ in ids],
            "email_domain": [rng.choice(["gmail.com", "corp.example", ""]) for _ in ids],
            "plan": [rng.choice(["free", "pro", "team"]) for _ in ids],
        }
    )
    ips = [f"198.51.100.{i}" for i in range(1, 60)] + [f"2001:db8::{i:x}" for i in range(1, 20)]
    intel = pd.DataFrame(
        {
            "ip": ips,
            "asn": [str(64500 + i % 7) for i in range(len(ips))],
            "as_org": [f"Org {i % 7}" for i in range(len(ips))],
            "ip_type": [rng.choice(["residential", "datacenter", "proxy"]) for _ in ips],
            "proxy_provider": [("LumaProxy" if i % 5 == 0 else "") for i in range(len(ips))],
        }
    )
    pay, seen, tpl = [], [], []
    for i, a in enumerate(ids):
        pay.append(
            {
                "account_id": a,
                "payment_fingerprint": f"fp{i // 3:05d}",
                "method_type": "card",
                "bin": "411111",
                "issuer_country": "US",
                "first_seen": "2026-01-05T00:00:00Z",
            }
        )
        for ip in rng.sample(ips, 2):
            seen.append(
                {
                    "account_id": a,
                    "ip": ip,
                    "first_seen": "2026-01-10T00:00:00Z",
                    "last_seen": "2026-02-10T00:00:00Z",
                    "requests": str(rng.randint(1, 500)),
                }
            )
        for t in rng.sample(range(40), 3):
            tpl.append(
                {
                    "account_id": a,
                    "template_hash": f"{t:032x}",
                    "requests": str(rng.randint(1, 90)),
                    "first_seen": "2026-01-11T00:00:00Z",
                    "last_seen": "2026-02-11T00:00:00+02:00",
                    "capability": rng.choice(["chat", "coding", "reasoning"]),
                }
            )
    return {
        "accounts": acc,
        "ip_intel": intel,
        "payment_methods": pd.DataFrame(pay),
        "ip_sightings": pd.DataFrame(seen),
        "prompt_templates": pd.DataFrame(tpl),
    }


FARM_IPS = ["203.0.113.10", "203.0.113.11", "203.0.113.12"]
FARM_CARDS = ["farm-card-1", "farm-card-2"]
FARM_TEMPLATES = [f"{0xFA00 + i:032x}" for i in range(4)]


def farm_delivery(ids: list[str], day: int, benign: int = 0, with_intel: bool = True) -> dict[str, pd.DataFrame]:
    """Accounts `ids` sharing the farm's cards, exits and templates; plus `benign` unrelated accounts."""
    others = [f"benign_{day}_{i:04d}" for i in range(benign)]
    when = f"2026-03-{day:02d}T10:00:00Z"
    accounts = pd.DataFrame({"account_id": ids + others, "created_at": when})
    pay = [
        {"account_id": a, "payment_fingerprint": card, "method_type": "prepaid_card"}
        for a in ids
        for card in FARM_CARDS
    ]
    pay += [{"account_id": a, "payment_fingerprint": f"own-card-{a}", "method_type": "card"} for a in others]
    seen = [
        {"account_id": a, "ip": ip, "first_seen": when, "last_seen": when, "requests": 40}
        for a in ids
        for ip in FARM_IPS
    ]
    seen += [
        {
            "account_id": a,
            "ip": f"198.18.{i // 250}.{i % 250 + 1}",
            "first_seen": when,
            "last_seen": when,
            "requests": 7,
        }
        for i, a in enumerate(others)
    ]
    tpl = [
        {
            "account_id": a,
            "template_hash": t,
            "requests": 30,
            "capability": "reasoning",
            "first_seen": when,
            "last_seen": when,
        }
        for a in ids
        for t in FARM_TEMPLATES
    ]
    tpl += [
        {
            "account_id": a,
            "template_hash": hashlib.md5(a.encode()).hexdigest(),
            "requests": 3,
            "capability": "chat",
            "first_seen": when,
            "last_seen": when,
        }
        for a in others
    ]
    frames = {
        "accounts": accounts,
        "payment_methods": pd.DataFrame(pay),
        "ip_sightings": pd.DataFrame(seen),
        "prompt_templates": pd.DataFrame(tpl),
    }
    if with_intel:
        frames["ip_intel"] = pd.DataFrame(
            {"ip": FARM_IPS, "asn": "64501", "as_org": "Cheap Hosting", "ip_type": "datacenter", "proxy_provider": ""}
        )
    return frames


def write_delivery(frames: dict[str, pd.DataFrame], folder: Path, fmt: str = "csv") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        if fmt == "parquet":
            frame.to_parquet(folder / f"{name}.parquet", index=False)
        else:
            frame.to_csv(folder / f"{name}.{fmt}", index=False)
    return folder


DIGEST = """
RETURN
  COUNT { MATCH (:Account) } AS accounts,
  COUNT { MATCH (:PaymentMethod) } AS payment_methods,
  COUNT { MATCH (:IP) } AS ips,
  COUNT { MATCH (:Proxy) } AS proxies,
  COUNT { MATCH (:ASN) } AS asns,
  COUNT { MATCH (:PromptTemplate) } AS templates,
  COUNT { MATCH ()-[:PAID_WITH]->() } AS paid_with,
  COUNT { MATCH ()-[:USED_IP]->() } AS used_ip,
  COUNT { MATCH ()-[:USED_TEMPLATE]->() } AS used_template,
  COUNT { MATCH ()-[:EXIT_OF]->() } AS exit_of,
  COUNT { MATCH ()-[:IN_ASN]->() } AS in_asn,
  COLLECT { MATCH ()-[e:USED_IP]->() RETURN sum(e.requests) }[0] AS ip_requests,
  COLLECT { MATCH ()-[e:USED_TEMPLATE]->() RETURN sum(e.requests) }[0] AS template_requests,
  COLLECT { MATCH (a:Account)-[e:USED_TEMPLATE]->(t)
            WITH a.id + '|' + t.hash + '|' + toString(e.requests) + '|' + toString(e.first_seen)
                 + '|' + toString(e.last_seen) AS line ORDER BY line
            RETURN size(reduce(s = '', l IN collect(line) | s + l)) }[0] AS template_fingerprint
"""


def graph_digest(driver) -> dict:
    """Counts and sums that two equal graphs share (and unequal ones almost never do)."""
    return read(driver, DIGEST)[0]
