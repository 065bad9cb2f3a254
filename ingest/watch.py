"""Continuous detection: load deliveries as they appear in a folder, re-detect, send alerts.

`watch_once(driver, drop_dir, ...)` is one cycle:

1. every sub-folder of DROP_DIR (one delivery each; names starting with `.` or `_` are
   still being written and are skipped) is ingested; files already loaded are
   recognised by their SHA-256 and skipped, so a cycle costs little when nothing came;
2. if any rows were loaded, detection runs (waiting for a run already in progress);
3. the alerts of the latest detection run (graph.alerts.changes) are POSTed to the
   webhooks; each alert reaches each URL once, however many cycles see it.

`ringwatch watch DROP_DIR --every 1h` repeats it; `--once` runs one cycle (for cron or a
systemd timer).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import neo4j
from rich.console import Console

from graph.alerts.changes import run_changes
from graph.alerts.webhooks import deliver
from graph.db.connection import read
from graph.detection.detect import detect
from graph.detection.scoring import DEFAULT_THRESHOLD
from ingest.load import ingest

__all__ = ["parse_interval", "watch", "watch_once"]

log = logging.getLogger(__name__)

LAST_RUN = "MATCH (r:DetectionRun) RETURN r.id AS id ORDER BY r.at DESC LIMIT 1"
_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def parse_interval(text: str) -> float:
    """'90s', '15m', '1h', '1d' or plain seconds -> seconds (at least 1)."""
    m = _INTERVAL.match(text)
    if not m:
        raise ValueError(f"an interval is a number with s, m, h or d (like 15m or 1h), not {text!r}")
    seconds = float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    if seconds < 1:
        raise ValueError("the interval must be at least 1 second")
    return seconds


def deliveries(drop_dir: Path) -> list[Path]:
    """The delivery folders of DROP_DIR, oldest name first, skipping ones still being written."""
    return sorted(p for p in drop_dir.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def watch_once(
    driver: neo4j.Driver,
    drop_dir: Path,
    report_dir: Path,
    urls: list[str],
    secret: bytes,
    threshold: float = DEFAULT_THRESHOLD,
    console: Console | None = None,
    retries: int = 4,
    backoff_s: float = 1.0,
) -> dict[str, Any]:
    """One cycle; returns what it did (rows loaded, run id or None, alert counts)."""
    console = console or Console(stderr=True)
    report_dir.mkdir(parents=True, exist_ok=True)
    loaded = 0
    for folder in deliveries(drop_dir):
        result = ingest(driver, folder, report_dir / f"{folder.name}.json", console=console)
        loaded += sum(f["loaded"] for f in result["files"].values() if f["status"] == "loaded")
    run_id = None
    if loaded:
        run_id = detect(
            driver, threshold=threshold, log=lambda line: console.print(line, highlight=False), wait_s=3600
        ).run_id
    last = read(driver, LAST_RUN)
    alerts = run_changes(driver, last[0]["id"]) if last else []
    sent = deliver(driver, alerts, urls, secret, retries=retries, backoff_s=backoff_s) if urls else {}
    return {"loaded": loaded, "run": run_id, "alerts": len(alerts), "sent": sent}


def watch(
    driver: neo4j.Driver,
    drop_dir: Path,
    report_dir: Path,
    urls: list[str],
    secret: bytes,
    every_s: float,
    on_cycle: Callable[[dict[str, Any]], None],
    cycles: int | None = None,
    **kwargs: Any,
) -> None:
    """Run `watch_once` every `every_s` seconds (measured start to start), `cycles` times or forever."""
    n = 0
    while cycles is None or n < cycles:
        started = time.monotonic()
        on_cycle(watch_once(driver, drop_dir, report_dir, urls, secret, **kwargs))
        n += 1
        if cycles is None or n < cycles:
            time.sleep(max(0.0, every_s - (time.monotonic() - started)))
