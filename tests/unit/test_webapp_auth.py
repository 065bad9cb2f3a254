"""Who the app thinks is logged in, from OIDC claims (ringwatch/webapp/auth.py), and text from outside
shown literally (layout.md_escape): no database, no Streamlit run."""

from __future__ import annotations

import pytest

from ringwatch.webapp.auth import sso_identity
from ringwatch.webapp.layout import md_escape


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        (
            {"preferred_username": "ann", "email": "ann@example.com", "sub": "1", "groups": ["ringwatch-analysts"]},
            ("ann", "analyst"),
        ),
        ({"email": "vera@example.com", "sub": "2", "groups": ["ringwatch-viewers"]}, ("vera@example.com", "viewer")),
        ({"sub": "3", "groups": "ringwatch-leads"}, ("3", "lead")),  # one group as a string
        ({"preferred_username": "  ", "email": "", "sub": "4", "groups": []}, ("4", None)),  # blank claims skipped
        ({"sub": "5", "groups": ["ringwatch-viewers", "ringwatch-leads", "staff"]}, ("5", "lead")),  # the highest
        ({"sub": "6", "groups": ["staff"]}, ("6", None)),
        ({"sub": "7"}, ("7", None)),  # no groups claim at all
        ({}, (None, None)),
    ],
)
def test_sso_identity_default_mapping(claims, expected, monkeypatch):
    monkeypatch.delenv("RINGWATCH_OIDC_ROLES", raising=False)
    assert sso_identity(claims) == expected


def test_sso_identity_follows_ringwatch_oidc_roles(monkeypatch):
    monkeypatch.setenv("RINGWATCH_OIDC_ROLES", "fraud-team=analyst,fraud-leads=lead")
    assert sso_identity({"sub": "x", "groups": ["fraud-team"]}) == ("x", "analyst")
    assert sso_identity({"sub": "x", "groups": ["ringwatch-leads"]}) == ("x", None)  # the default is replaced


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("alice", "alice"),
        ("sso-ann.b", "sso-ann.b"),
        ("vera@example.com", "vera\\@example.com"),
        ("**bold** [x](javascript:alert(1))", "\\*\\*bold\\*\\* \\[x\\]\\(javascript\\:alert\\(1\\)\\)"),
        ("<b>hi</b>", "\\<b\\>hi\\</b\\>"),
        ("a_b`c`", "a\\_b\\`c\\`"),
    ],
)
def test_md_escape(text, expected):
    assert md_escape(text) == expected
