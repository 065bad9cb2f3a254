"""Single sign-on through OpenID Connect with Streamlit's st.login / st.user / st.logout.

A real OIDC provider (oidc-provider-mock, tests/oidc_provider.py) runs on 127.0.0.1 in this
process; a tiny Streamlit page (not app.py, so no Neo4j) is served with `streamlit run` and an
[auth] secrets.toml pointing at it; headless Chromium logs in through the provider's form and
reads back the claims Streamlit puts in st.user: name, email and the custom `groups` list.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import warnings
from pathlib import Path

import pytest

pytest.importorskip("authlib.deprecate", reason='st.login needs "streamlit[auth]" (Authlib) installed')
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # Authlib 1.9 on the mock's older imports
    pytest.importorskip("oidc_provider_mock", reason='needs "oidc-provider-mock" installed (test extra)')
    playwright_sync = pytest.importorskip("playwright.sync_api")

    from oidc_provider import (
        free_port,
        oidc_user,
        run_oidc_provider,
        write_streamlit_auth_secrets,
    )

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(120),
    # the mock provider calls Authlib APIs deprecated in Authlib 1.7+ (still there in 1.9)
    pytest.mark.filterwarnings("ignore::DeprecationWarning:authlib"),
]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# The page under test: the claims as one line of JSON in a code block, so the test reads
# exactly what st.user holds (keys and JSON types), plus human-readable lines.
PAGE = """
import json
import streamlit as st

st.title("SSO smoke")
if not st.user.is_logged_in:
    st.write("Not logged in")
    st.code(json.dumps({"is_logged_in": st.user.is_logged_in, **st.user.to_dict()}, sort_keys=True))
    if st.button("Log in"):
        st.login()
else:
    claims = {k: v for k, v in st.user.to_dict().items() if k != "tokens"}
    st.write(f"Signed in as {st.user.name}")
    st.write("Groups: " + ", ".join(st.user.get("groups") or []))
    st.code(json.dumps(claims, sort_keys=True))
    if st.button("Log out"):
        st.logout()
"""

ALICE = oidc_user(
    "alice@example.com",
    name="Alice Analyst",
    email="alice@example.com",
    preferred_username="alice",
    groups=["ringwatch-analyst", "fraud-team"],
)
BOB = oidc_user("bob", name="Bob Blocker", email="bob@example.com", groups=["ringwatch-admin"])


@pytest.fixture()
def sso_app(tmp_path):
    """Provider + `streamlit run` of PAGE with an [auth] secrets.toml; yields (app_url, provider)."""
    port = free_port()
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "page.py").write_text(PAGE)
    with run_oidc_provider(users=[ALICE], redirect_uris=[f"http://127.0.0.1:{port}/oauth2callback"]) as idp:
        write_streamlit_auth_secrets(app_dir, idp.url, port, idp.client_id, idp.client_secret)
        log = tmp_path / "streamlit.log"
        cmd = [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "page.py",
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
        ]
        with open(log, "w") as out:
            proc = subprocess.Popen(cmd, cwd=app_dir, env=dict(os.environ), stdout=out, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"streamlit did not come up:\n{log.read_text()[-3000:]}")
                time.sleep(0.2)
            yield url, idp
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@pytest.fixture()
def page(tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium)")
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            pg = browser.new_page()
            pg.set_default_timeout(20_000)
            # Only loopback: the provider's pages link a stylesheet on a public CDN.
            pg.route(
                "**/*",
                lambda route: (
                    route.continue_()
                    if route.request.url.startswith(("http://127.0.0.1:", "data:", "blob:"))
                    else route.abort()
                ),
            )
            yield pg
        finally:
            browser.close()


def shown_claims(pg) -> dict:
    return json.loads(pg.get_by_test_id("stCode").inner_text())


def log_in(pg, app_url: str, idp_url: str, sub: str) -> None:
    pg.get_by_role("button", name="Log in").click()
    pg.wait_for_url(f"{idp_url}/oauth2/authorize**")
    pg.get_by_placeholder("sub").fill(sub)
    pg.get_by_role("button", name="Authorize").click()
    pg.wait_for_url(f"{app_url}/**")


def test_login_shows_name_and_groups(sso_app, page, tmp_path):
    app_url, idp = sso_app
    idp.add_user(BOB)  # defined on the running provider (PUT /users/bob)

    page.goto(app_url)
    page.get_by_text("Not logged in").wait_for()
    before = shown_claims(page)
    assert before.get("is_logged_in") is False, before
    assert "groups" not in before and "name" not in before, before

    log_in(page, app_url, idp.url, ALICE.sub)
    page.get_by_text("Signed in as Alice Analyst").wait_for()
    page.get_by_text("Groups: ringwatch-analyst, fraud-team").wait_for()
    claims = shown_claims(page)
    page.screenshot(path=str(tmp_path / "logged-in.png"), full_page=True)
    assert claims["is_logged_in"] is True
    assert claims["sub"] == ALICE.sub
    assert claims["name"] == "Alice Analyst"
    assert claims["preferred_username"] == "alice"
    assert claims["email"] == "alice@example.com"
    assert claims["groups"] == ["ringwatch-analyst", "fraud-team"]  # a JSON list, order kept
    assert claims["iss"] == idp.url and idp.client_id in claims["aud"]

    # st.logout goes through the provider's end_session page, then back to the app logged out.
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{idp.url}/oauth2/end_session**")
    page.get_by_role("button", name="End session").click()
    page.wait_for_url(f"{app_url}/**")
    page.get_by_text("Not logged in").wait_for()
    assert "groups" not in shown_claims(page)

    # A second user, defined after start-up, gets its own claims.
    log_in(page, app_url, idp.url, BOB.sub)
    page.get_by_text("Signed in as Bob Blocker").wait_for()
    claims = shown_claims(page)
    assert claims["groups"] == ["ringwatch-admin"]
    assert claims["email"] == "bob@example.com"
