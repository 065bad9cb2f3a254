"""Deliver alerts as signed JSON POSTs, with retries, never twice for the same run.

Each alert is POSTed alone to every configured URL:

    POST <url>
    Content-Type: application/json
    X-Ringwatch-Alert: <alert id>
    X-Ringwatch-Timestamp: <unix seconds>
    X-Ringwatch-Signature: sha256=<hex HMAC-SHA-256(secret, timestamp + "." + body)>

A receiver recomputes the HMAC over the timestamp and the raw body with the shared secret
(RINGWATCH_WEBHOOK_SECRET), compares in constant time, and rejects old timestamps.

Delivery is recorded in the graph, `(:AlertDelivery {key: alert id + url, at, attempts,
status})`; an alert already delivered to a URL is skipped, so rerunning `watch` after a
crash sends nothing twice. A failed POST (connection error, or a 5xx / 429 answer) is
retried with exponential backoff (1 s, 2 s, 4 s, ...); a 4xx is final and recorded.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import neo4j

from graph.db.connection import read, write

__all__ = ["deliver", "sign", "verify_signature"]

log = logging.getLogger(__name__)

DELIVERED = "UNWIND $keys AS k MATCH (d:AlertDelivery {key: k}) WHERE d.status = 'delivered' RETURN d.key AS key"
RECORD = """
MERGE (d:AlertDelivery {key: $key})
SET d.alert = $alert, d.url = $url, d.at = datetime(), d.attempts = $attempts, d.status = $status,
    d.answer = $answer
"""
TIMEOUT_S = 10.0


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The signature header value for `body` sent at `timestamp`."""
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify_signature(
    secret: bytes, timestamp: str, body: bytes, header: str, now: float, max_age_s: float = 300
) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent."""
    try:
        fresh = abs(now - float(timestamp)) <= max_age_s
    except ValueError:
        return False
    return fresh and hmac.compare_digest(sign(secret, timestamp, body), header)


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 - http(s) only
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:  # noqa: S310
            return answer.status
    except urllib.error.HTTPError as e:
        return e.code


def _send(
    url: str, alert: dict[str, Any], secret: bytes, retries: int, backoff_s: float, sleep: Callable[[float], None]
) -> tuple[str, int, str]:
    body = json.dumps(alert, sort_keys=True, default=str).encode()
    answer = ""
    for attempt in range(1, retries + 2):
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Ringwatch-Alert": alert["id"],
            "X-Ringwatch-Timestamp": stamp,
            "X-Ringwatch-Signature": sign(secret, stamp, body),
        }
        try:
            code = _post(url, body, headers)
            answer = str(code)
            if 200 <= code < 300:
                return "delivered", attempt, answer
            if 400 <= code < 500 and code != 429:
                return "refused", attempt, answer
        except OSError as e:  # connection refused, timeout, DNS
            answer = type(e).__name__
        if attempt <= retries:
            sleep(backoff_s * 2 ** (attempt - 1))
    return "failed", retries + 1, answer


def deliver(
    driver: neo4j.Driver,
    alerts: list[dict[str, Any]],
    urls: list[str],
    secret: bytes,
    retries: int = 4,
    backoff_s: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, int]:
    """POST each alert to each URL once; returns counts by outcome (delivered, skipped, refused, failed)."""
    if not secret:
        raise ValueError("webhooks need a shared secret to sign with: set RINGWATCH_WEBHOOK_SECRET")
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"a webhook URL is http:// or https://, not {url!r}")
    counts = {"delivered": 0, "skipped": 0, "refused": 0, "failed": 0}
    keys = {(a["id"], u): f"{a['id']}|{u}" for a in alerts for u in urls}
    done = {r["key"] for r in read(driver, DELIVERED, keys=list(keys.values()))}
    for alert in alerts:
        for url in urls:
            key = keys[(alert["id"], url)]
            if key in done:
                counts["skipped"] += 1
                continue
            status, attempts, answer = _send(url, alert, secret, retries, backoff_s, sleep)
            write(driver, RECORD, key=key, alert=alert["id"], url=url, attempts=attempts, status=status, answer=answer)
            counts[status] += 1
            if status != "delivered":
                log.warning("alert %s to %s: %s after %d attempt(s) (%s)", alert["kind"], url, status, attempts, answer)
    return counts
