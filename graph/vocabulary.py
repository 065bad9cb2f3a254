"""The words ringwatch uses everywhere, defined once.

Statuses of rings and decisions, the kinds of node with their label and key property,
the ring features, the sets of IP types, payment types and capabilities that mark a farm,
the file formats of a delivery, and the canonical form of an IP address. Everything else
imports these; this module imports nothing of the project.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

__all__ = [
    "ANONYMOUS_PAYMENT",
    "DECIDED_STATUSES",
    "DEFAULT_QUEUE_STATUSES",
    "ELICITING",
    "FEATURES",
    "FILE_FORMATS",
    "KEYS",
    "KINDS",
    "KIND_NAMES",
    "MASKED_IP_TYPES",
    "RING_STATUSES",
    "canonical_ip",
]

# A ring's status. Detection sets suspected (score >= threshold) or watch (below it);
# analysts set the decided ones; a ring no later run finds, and nobody decided on, is retired.
RING_STATUSES = ("suspected", "watch", "confirmed", "blocked", "dismissed", "retired")
DECIDED_STATUSES = ("confirmed", "blocked", "dismissed")
DEFAULT_QUEUE_STATUSES = ("suspected", "confirmed", "blocked", "dismissed")  # watch shown when asked for

# kind (as the app and the URL say it) -> (label, key property). Identifiers, never user input.
KINDS: dict[str, tuple[str, str]] = {
    "account": ("Account", "id"),
    "payment": ("PaymentMethod", "fingerprint"),
    "ip": ("IP", "address"),
    "proxy": ("Proxy", "name"),
    "asn": ("ASN", "number"),
    "template": ("PromptTemplate", "hash"),
    "ring": ("Ring", "id"),
}
KIND_NAMES = {
    "account": "account",
    "payment": "payment method",
    "ip": "IP address",
    "proxy": "proxy service",
    "asn": "ASN",
    "template": "prompt template",
    "ring": "ring",
}

# label -> key property of every node label; each gets a uniqueness constraint (graph.db.schema)
KEYS: dict[str, str] = {
    **{label: key for label, key in KINDS.values()},
    "IngestFile": "sha256",
    "IngestBatch": "key",
    "Decision": "id",
    "AuditEvent": "id",  # graph.review.audit: the hash-chained trail
    "AuditHead": "name",
    "User": "name",  # graph.review.users: local analyst accounts
    "Lock": "name",  # graph.db.locks: one detection run at a time
    "AlertDelivery": "key",  # graph.alerts.webhooks: alert id + URL, delivered once
    "DetectionRun": "id",
    "Counter": "name",
    "PartnerIndicator": "key",  # source + "|" + STIX indicator id (graph.sharing.indicators)
    "DetectionParams": "id",  # graph.detection.calibrate: weights fitted on decisions
    "SavedView": "id",  # graph.investigate.saved: a ring graph kept under a name
}

# The behaviours a ring is scored on (graph.detection.scoring), in the order they are shown.
FEATURES = (
    "private_share",
    "eliciting_share",
    "uniformity",
    "masked_share",
    "anonymous_payment",
    "signup_burst",
    "no_own_prompts",
    "partner_flagged",
)

# Exits of these kinds hide who is behind them; farms favour them.
MASKED_IP_TYPES = frozenset({"datacenter", "vpn", "proxy", "tor"})
# Payment that needs no identity; farms favour it.
ANONYMOUS_PAYMENT = frozenset({"prepaid_card", "virtual_card", "crypto"})
# What a distiller wants from the model.
ELICITING = frozenset({"reasoning", "coding", "tool_use", "agentic", "extraction"})

# A delivery's file formats -> file suffix.
FILE_FORMATS = {"csv": ".csv", "csv.gz": ".csv.gz", "parquet": ".parquet"}


@lru_cache(maxsize=1_000_000)
def canonical_ip(text: str) -> str | None:
    """The canonical text form of an IPv4/IPv6 address, or None if it is not one.

    Strict: an IPv6 zone id (`fe80::1%eth0`) or any other decoration is not an address
    (Python accepts zone ids; they would travel verbatim into Cypher and STIX patterns).
    """
    try:
        ip = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id is not None:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        return str(ip.ipv4_mapped)
    return ip.compressed
