"""Continuous detection and webhook alerts against the real database and a real HTTP
receiver on loopback (pytest-httpserver): a new ring is announced once, a blocked farm that
grows back is announced as grown with members awaiting review, a failing receiver gets
retries, and nothing is sent twice for the same run.
"""

from __future__ import annotations

import json
import time

import pytest
from conftest import run_cli
from delivery import farm_delivery, write_delivery
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from graph.db.connection import read
from graph.review.actors import Actor
from graph.review.decisions import decide
from ingest.watch import parse_interval, watch_once

SECRET = b"a shared secret of some length"
ALICE = Actor(name="alice", role="analyst")


class Receiver:
    """Records every POST with its headers; answers with the queued statuses, then 200."""

    def __init__(self, server: HTTPServer, statuses: list[int] | None = None):
        self.requests: list[tuple[dict, dict]] = []
        self.statuses = list(statuses or [])
        server.expect_request("/hook", method="POST").respond_with_handler(self.handle)
        self.url = server.url_for("/hook")

    def handle(self, request: Request) -> Response:
        status = self.statuses.pop(0) if self.statuses else 200
        self.requests.append((dict(request.headers), json.loads(request.get_data())))
        return Response("", status=status)

    def kinds(self) -> list[tuple[str, str]]:
        return [(body["kind"], body["ring"]) for _, body in self.requests]


def cycle(driver, drop, tmp_path, urls, **kw):
    return watch_once(driver, drop, tmp_path / "reports", urls, SECRET, backoff_s=0.01, **kw)


def test_alerts_are_signed_sent_once_and_follow_a_farm_that_grows_back(empty_db, tmp_path, httpserver):
    from graph.alerts.webhooks import verify_signature

    hook = Receiver(httpserver)
    drop = tmp_path / "drop"
    farm = [f"farm_{i:03d}" for i in range(10)]
    write_delivery(farm_delivery(farm, day=1, benign=150), drop / "2026-03-01")
    write_delivery(farm_delivery(["late_1"], day=2), drop / "_2026-03-02-partial")  # still being written

    first = cycle(empty_db, drop, tmp_path, [hook.url])
    assert first["loaded"] > 0 and first["run"]
    (ring,) = {r for _, r in hook.kinds()}
    assert hook.kinds() == [("new_ring", ring)]
    headers, body = hook.requests[0]
    raw = json.dumps(body, sort_keys=True, default=str).encode()
    assert verify_signature(
        SECRET, headers["X-Ringwatch-Timestamp"], raw, headers["X-Ringwatch-Signature"], now=time.time()
    )
    assert not verify_signature(
        b"another secret entirely",
        headers["X-Ringwatch-Timestamp"],
        raw,
        headers["X-Ringwatch-Signature"],
        now=time.time(),
    )
    assert body["size"] == 10 and body["run"] == first["run"]

    again = cycle(empty_db, drop, tmp_path, [hook.url])
    assert (again["loaded"], again["run"], again["sent"]["skipped"]) == (0, None, 1)
    assert len(hook.requests) == 1  # the same run's alert is never sent twice

    decide(empty_db, ALICE, ring, "blocked", "the farm")
    grown = [f"farm_{i:03d}" for i in range(10, 30)]
    write_delivery(farm_delivery(grown, day=9, with_intel=False), drop / "2026-03-09")
    third = cycle(empty_db, drop, tmp_path, [hook.url])
    assert third["run"] and sorted(hook.kinds()[1:]) == [("awaiting_review", ring), ("grown_ring", ring)]
    awaiting = next(b for _, b in hook.requests if b["kind"] == "awaiting_review")
    assert awaiting["new_members_awaiting_review"] == 20 and awaiting["status"] == "blocked"


def test_a_failing_receiver_gets_retries_and_the_outcome_is_recorded(empty_db, tmp_path, httpserver):
    hook = Receiver(httpserver, statuses=[500, 503])
    drop = tmp_path / "drop"
    write_delivery(farm_delivery([f"farm_{i:03d}" for i in range(10)], day=1, benign=50), drop / "d1")
    result = cycle(empty_db, drop, tmp_path, [hook.url], retries=3)
    assert result["sent"]["delivered"] == 1 and len(hook.requests) == 3
    assert {h["X-Ringwatch-Alert"] for h, _ in hook.requests} == {hook.requests[0][1]["id"]}
    recorded = read(empty_db, "MATCH (d:AlertDelivery) RETURN d.status AS status, d.attempts AS attempts")
    assert recorded == [{"status": "delivered", "attempts": 3}]


def test_a_receiver_that_refuses_is_not_retried(empty_db, tmp_path, httpserver):
    hook = Receiver(httpserver, statuses=[403])
    drop = tmp_path / "drop"
    write_delivery(farm_delivery([f"farm_{i:03d}" for i in range(10)], day=1, benign=50), drop / "d1")
    result = cycle(empty_db, drop, tmp_path, [hook.url], retries=3)
    assert result["sent"] == {"delivered": 0, "skipped": 0, "refused": 1, "failed": 0} and len(hook.requests) == 1


@pytest.mark.parametrize("text,seconds", [("90s", 90), ("15m", 900), ("1h", 3600), ("2", 2), ("1.5h", 5400)])
def test_intervals(text, seconds):
    assert parse_interval(text) == seconds


def test_watch_cli_runs_one_cycle_and_refuses_an_unsigned_webhook(empty_db, tmp_path, httpserver):
    hook = Receiver(httpserver)
    drop = tmp_path / "drop"
    write_delivery(farm_delivery([f"farm_{i:03d}" for i in range(10)], day=1, benign=50), drop / "d1")
    res = run_cli("watch", str(drop), "--once", "--webhook", hook.url, env={"RINGWATCH_WEBHOOK_SECRET": ""})
    assert res.returncode == 1 and "RINGWATCH_WEBHOOK_SECRET" in res.stderr and res.stderr.count("\n") == 1
    res = run_cli(
        "watch",
        str(drop),
        "--once",
        "--webhook",
        hook.url,
        "--reports",
        str(tmp_path / "r"),
        env={"RINGWATCH_WEBHOOK_SECRET": SECRET.decode()},
    )
    assert res.returncode == 0, res.stderr
    assert "1 delivered" in res.stderr and hook.kinds()[0][0] == "new_ring"
    res = run_cli("watch", str(drop), "--once", "--every", "soon")
    assert res.returncode == 1 and "15m or 1h" in res.stderr
