"""The audit chain's pure parts: canonical form, hashing and the verification walk."""

from __future__ import annotations

from datetime import UTC, datetime

import neo4j.time
import pytest

from graph.review.audit import canonical, event_hash, iso_text, membership_problem, verify_rows


def chain(n: int) -> list[dict]:
    """n events chained as graph.review.audit.append chains them."""
    out, prev = [], ""
    for seq in range(1, n + 1):
        props = {
            "id": f"e{seq}",
            "seq": seq,
            "prev": prev,
            "action": "decide",
            "actor": "alice",
            "at": datetime(2026, 11, 30, 10, seq, tzinfo=UTC),
            "members": ["a1", "a2"],
            "ring": "R-000001",
        }
        props["hash"] = event_hash(props)
        prev = props["hash"]
        out.append(props)
    return out


def head(events: list[dict]) -> dict:
    return {"seq": len(events), "hash": events[-1]["hash"] if events else ""}


def test_canonical_form_is_stable_and_ignores_hash_and_nulls():
    a = {"b": 1, "a": "x", "hash": "zzz", "gone": None}
    assert canonical(a) == '{"a":"x","b":1}'
    assert canonical({"a": "x", "b": 1}) == canonical(a)


def test_a_neo4j_datetime_hashes_like_the_python_one_it_was_written_from():
    written = datetime(2026, 11, 30, 10, 0, 0, 123456, tzinfo=UTC)
    read_back = neo4j.time.DateTime.from_native(written)
    assert canonical({"at": written}) == canonical({"at": read_back}) == '{"at":"2026-11-30T10:00:00.123456Z"}'


def test_an_untouched_chain_verifies():
    events = chain(5)
    assert verify_rows(iter(events), head(events)) == (5, None)
    assert verify_rows(iter([]), None) == (0, None)


@pytest.mark.parametrize("field,value", [("actor", "mallory"), ("members", ["a1"]), ("ring", "R-000002")])
def test_an_edited_field_breaks_that_event(field, value):
    events = chain(5)
    events[2][field] = value
    count, problem = verify_rows(iter(events), head(events))
    assert (count, problem.seq) == (2, 3) and "edited" in problem.message


def test_a_deleted_event_is_named():
    events = chain(5)
    del events[1]
    _, problem = verify_rows(iter(events), head(chain(5)))
    assert problem.seq == 2 and "deleted" in problem.message


def test_a_deleted_last_event_is_caught_by_the_head():
    events = chain(5)
    _, problem = verify_rows(iter(events[:4]), head(events))
    assert problem.seq == 5 and "deleted" in problem.message


def test_swapped_events_are_named():
    events = chain(5)
    events[1]["seq"], events[3]["seq"] = 4, 2  # their seq swapped, then read back in seq order
    events[1]["hash"], events[3]["hash"] = event_hash(events[1]), event_hash(events[3])
    reordered = [events[0], events[3], events[2], events[1], events[4]]
    _, problem = verify_rows(iter(reordered), head(chain(5)))
    assert problem.seq == 2 and "reordered" in problem.message


def group(**over):
    row = {
        "decision": "d1",
        "ring": "R-1",
        "status": "blocked",
        "accounts": ["a1", "a2"],
        "decided_status": "blocked",
        "decided_ring": "R-1",
        "members": ["a1", "a2", "a3"],
        "pending": False,
        "approves": None,
        "approver": None,
        "author": "alice",
    }
    return {**row, **over}


def test_memberships_that_match_their_decision_pass():
    assert membership_problem(group()) is None
    assert membership_problem(group(pending=True, approves="d1", approver="bob")) is None


@pytest.mark.parametrize(
    "over,words",
    [
        ({"decided_status": None}, "no recorded decision"),
        ({"decided_status": "dismissed"}, "made them dismissed"),
        ({"decided_ring": "R-2"}, "on R-2"),
        ({"accounts": ["a1", "a9"]}, "does not name them"),
        ({"pending": True}, "no second person approved"),
        ({"pending": True, "approves": "d1", "approver": "alice"}, "no second person approved"),
    ],
)
def test_memberships_that_do_not_match_are_named(over, words):
    problem = membership_problem(group(**over))
    assert problem is not None and words in str(problem) and str(problem).startswith("block list:")


def test_times_read_as_the_canonical_form_writes_them():
    written = datetime(2026, 11, 30, 10, 0, 0, 123456, tzinfo=UTC)
    assert iso_text(written) == iso_text(neo4j.time.DateTime.from_native(written)) == "2026-11-30T10:00:00.123456Z"
