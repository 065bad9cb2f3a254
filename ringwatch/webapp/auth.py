"""Who is using the app: local log-in (graph.review.users), single sign-on (st.login), log-out.

The identity is an `Actor` (graph.review.actors) and every decision, undo, extension and
approval passes it; graph.review checks the role again wherever the change is made.

  current_actor        the logged-in Actor, or None (then only the login page is served)
  sso_configured       whether st.secrets has an [auth] section (then SSO is offered)
  sso_identity         name and role from the OIDC claims (pure: unit-tested)
  log_in_local         the login form's callback: authenticate, keep the Actor in the session
  log_out              forget the session (and end the SSO session, if any)
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from graph.review.actors import Actor, role_from_groups
from graph.review.users import authenticate
from ringwatch.webapp import data

ACTOR = "actor"  # st.session_state key of a local log-in
REFUSED = "Wrong user name or password."


def sso_configured() -> bool:
    """True when the app's secrets have an [auth] section (OpenID Connect for st.login)."""
    try:
        return st.secrets.load_if_toml_exists() and "auth" in st.secrets
    except (FileNotFoundError, KeyError):
        return False


def sso_identity(claims: Any) -> tuple[str | None, str | None]:
    """(name, role) from an OIDC user's claims: the name is preferred_username, else email, else sub; the role
    is the highest one any `groups` entry maps to (RINGWATCH_OIDC_ROLES), None when none does."""
    name = next(
        (
            str(claims.get(k)).strip()
            for k in ("preferred_username", "email", "sub")
            if str(claims.get(k) or "").strip()
        ),
        None,
    )
    return name, role_from_groups(claims.get("groups"))


def sso_user() -> Any | None:
    """st.user when an SSO session is open, else None."""
    try:
        return st.user if st.user.is_logged_in else None
    except (AttributeError, KeyError):
        return None


def current_actor() -> Actor | None:
    """The logged-in Actor: a local log-in first, else an SSO user whose groups map to a role."""
    actor = st.session_state.get(ACTOR)
    if isinstance(actor, Actor):
        return actor
    user = sso_user()
    if user is None:
        return None
    name, role = sso_identity(user)
    if not name or role is None:
        return None
    return Actor(name=name, role=role, channel="sso")


def log_in_local() -> None:
    """The login form's callback: a right name and password keep the Actor in the session; anything else
    gets one line, the same for a wrong name and a wrong password."""
    s = st.session_state
    name, password = (s.get("login_name") or "").strip(), s.get("login_password") or ""
    s["login_password"] = ""
    actor = authenticate(data.get_driver(), name, password) if name and password else None
    if actor is None:
        s["login_error"] = REFUSED
        return
    s.pop("login_error", None)
    s[ACTOR] = actor


def log_out() -> None:
    """Forget everything this session held; an SSO session is ended at the provider too."""
    for key in list(st.session_state):
        del st.session_state[key]
    if sso_user() is not None:
        st.logout()
