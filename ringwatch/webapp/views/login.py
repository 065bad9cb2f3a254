"""The login page: the only page served until someone logs in.

Local accounts (`ringwatch users add NAME --role ROLE`) log in with name and password;
with an [auth] section in the app's secrets, single sign-on is offered too (st.login),
the role coming from the `groups` claim (RINGWATCH_OIDC_ROLES).
"""

from __future__ import annotations

import streamlit as st

from graph.review.users import count_users
from ringwatch.webapp import auth, data
from ringwatch.webapp.layout import md_escape

NO_ROLE = (
    "{name} signed in through single sign-on, but none of their groups ({groups}) gives a ringwatch role: "
    "ask for one of the groups in RINGWATCH_OIDC_ROLES."
)


def local_form() -> None:
    with st.form("login_form", border=True):
        st.text_input("User name", key="login_name", max_chars=64, autocomplete="username")
        st.text_input(
            "Password", key="login_password", type="password", max_chars=1024, autocomplete="current-password"
        )
        st.form_submit_button("Log in", type="primary", on_click=auth.log_in_local, key="login_submit")
    error = st.session_state.get("login_error")
    if error:
        st.error(error)


def sso_section() -> None:
    """SSO: a button to log in, or, for a signed-in user without a role, one line and a way out."""
    user = auth.sso_user()
    if user is None:
        st.button("Log in with single sign-on", key="login_sso", on_click=st.login, width="stretch")
        return
    name, role = auth.sso_identity(user)
    if role is None:
        groups = ", ".join(str(g) for g in (user.get("groups") or [])) or "none"
        st.error(NO_ROLE.format(name=md_escape(name or "you"), groups=md_escape(groups)))
        st.button("Log out of single sign-on", key="sso_logout", on_click=auth.log_out)


def render(driver) -> None:
    left, _ = st.columns([1.2, 2])
    with left:
        st.title("ringwatch")
        st.caption("fake-account ring investigator: log in to continue")
        sso = auth.sso_configured()
        if sso:
            sso_section()
            st.caption("or with a local account")
        local_form()
        if not sso and count_users(driver) == 0:
            st.info(
                "No local accounts yet: create one with `ringwatch users add NAME --role analyst` "
                "(roles: viewer, analyst, lead)."
            )


if __name__ == "__main__":
    render(data.get_driver())
