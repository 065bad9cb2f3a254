"""Pure rules of review: roles, the OIDC group mapping, the approval threshold, member digests,
when a decided ring needs review, and how rings are matched across runs."""

from __future__ import annotations

import hashlib

import pytest

from graph.detection.rings import match_rings, needs_review
from graph.review.actors import Actor, PermissionDenied, approval_threshold, parse_role_map, require, role_from_groups
from graph.review.decisions import members_digest


def test_roles_include_the_ones_below():
    viewer, analyst, lead = Actor("v", "viewer"), Actor("a", "analyst"), Actor("l", "lead")
    assert [viewer.can("decide"), analyst.can("decide"), lead.can("decide")] == [False, True, True]
    assert [analyst.can("approve"), lead.can("approve")] == [False, True]
    assert require(lead, "undo_others") is lead
    with pytest.raises(PermissionDenied, match="v is a viewer; decide needs an analyst"):
        require(viewer, "decide")
    with pytest.raises(PermissionDenied, match="log in"):
        require(None, "read")


def test_an_actor_needs_a_known_role_and_channel():
    with pytest.raises(ValueError, match="role"):
        Actor("x", "admin")
    with pytest.raises(ValueError, match="channel"):
        Actor("x", "lead", "email")


def test_groups_map_to_the_highest_role():
    mapping = parse_role_map("t-and-s=analyst, t-and-s-leads=lead,readers=viewer")
    assert role_from_groups(["readers", "t-and-s"], mapping) == "analyst"
    assert role_from_groups(["t-and-s-leads", "readers"], mapping) == "lead"
    assert role_from_groups("readers", mapping) == "viewer"
    assert role_from_groups(["marketing"], mapping) is None
    assert role_from_groups(None, mapping) is None
    with pytest.raises(ValueError, match="GROUP=ROLE"):
        parse_role_map("admins=root")


def test_the_approval_threshold_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("RINGWATCH_APPROVAL_THRESHOLD", raising=False)
    assert approval_threshold() == 500
    monkeypatch.setenv("RINGWATCH_APPROVAL_THRESHOLD", "25")
    assert approval_threshold() == 25
    monkeypatch.setenv("RINGWATCH_APPROVAL_THRESHOLD", "many")
    with pytest.raises(ValueError, match="whole number"):
        approval_threshold()


def test_members_digest_names_the_set_not_its_order():
    assert members_digest(["b", "a"]) == members_digest(["a", "b"])
    assert members_digest(["a", "b"]) == hashlib.sha256(b"a\nb").hexdigest()
    assert members_digest(["a"]) != members_digest(["a", "b"])


def test_needs_review_when_the_decided_set_is_far_from_the_current_one():
    ten = {f"a{i}" for i in range(10)}
    assert needs_review(None, ten) is False
    assert needs_review(set(), ten) is False
    assert needs_review(ten, ten | {"x"}) is False  # 10/11 = 0.91
    assert needs_review(ten, ten | {"x", "y", "z"}) is True  # 10/13 = 0.77
    assert needs_review(ten, {f"b{i}" for i in range(200)} | ten) is True


def test_rings_match_by_overlap_best_pairs_first():
    old = {"R-1": {"a", "b", "c", "d"}, "R-2": {"x", "y"}}
    new = {0: {"a", "b", "c", "d", "e", "f"}, 1: {"x", "q", "r"}, 2: {"m", "n"}}
    assert match_rings(new, old) == {0: "R-1", 1: "R-2"}  # 1: overlap 1/2 = 0.5 matches
    assert match_rings({0: {"a", "m", "n"}}, old) == {}  # 1/3 below 0.5
    # two new communities claim one old ring: the better overlap wins it
    assert match_rings({0: {"a", "b"}, 1: {"a", "b", "c", "d"}}, old) == {1: "R-1"}
