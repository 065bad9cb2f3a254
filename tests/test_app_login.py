"""Logging in to the app: the login page (AppTest) and single sign-on against a real OpenID Connect
provider (headless Chromium).

AppTest (tests/test_app.py's users and helpers): nothing but the login page until someone
logs in, a wrong name or password refused in one line, Log out, and SSO identities (st.user
seeded by AppTest) mapped to roles by their `groups`.

Browser (-m browser): a mock provider (oidc-provider-mock, tests/oidc_provider.py) runs on
127.0.0.1 in this process; app.py is served with `streamlit run` against the test database,
its secrets (an [auth] section pointing at the provider) in a temporary file given with
--secrets.files, so no secrets.toml is ever written into the repository. Chromium logs in
through the provider's form as users whose `groups` claim maps (by RINGWATCH_OIDC_ROLES'
default) to analyst, to viewer, or to no role at all.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import test_app
from conftest import ROOT, free_port
from test_app import PASSWORD, log_in, logged_in, new_app, open_ring, sidebar_text, texts
from test_app_browser import CHROMIUM, CHROMIUM_ARGS, serve, shot, wait_idle

from graph.db.connection import read

# test_app.py's fixtures, shared: its users of every role, its undecided rings, and closing the app's driver
users = test_app.users
rings = test_app.rings
close_app_drivers = test_app.close_app_drivers

pytest.importorskip("authlib.deprecate", reason='st.login needs "streamlit[auth]" (Authlib) installed')
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # Authlib 1.9 on the mock's older imports
    pytest.importorskip("oidc_provider_mock", reason='needs "oidc-provider-mock" installed (test extra)')
    playwright_sync = pytest.importorskip("playwright.sync_api")

    from oidc_provider import HOST, oidc_user, run_oidc_provider, write_streamlit_auth_secrets

# the mock provider calls Authlib APIs deprecated in Authlib 1.7+ (still there in 1.9)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:authlib")

ANN = oidc_user(
    "ann-0001",
    name="Ann Analyst",
    preferred_username="ann",
    email="ann@example.com",
    groups=["staff", "ringwatch-analysts"],
)
VERA = oidc_user("vera-0002", name="Vera Viewer", email="vera@example.com", groups=["ringwatch-viewers"])
SAM = oidc_user("sam-0003", name="Sam Contractor", email="sam@example.com", groups=["contractors"])
REPO_SECRETS = ROOT / ".streamlit" / "secrets.toml"


# --- the login page, through AppTest ---------------------------------------------------------------------------


def test_only_the_login_page_until_someone_logs_in(world, users, rings):
    at = new_app()
    at.query_params["ring"] = rings[0]  # a link to a ring does not get past the login page
    at.run()
    assert not at.exception, at.exception
    assert texts(at.title) == ["ringwatch"]
    assert [t.key for t in at.text_input] == ["login_name", "login_password"]
    assert "nav" not in at.session_state and "actor" not in at.session_state
    assert not at.metric and not at.dataframe  # no queue, no ring
    assert not [b for b in at.button if b.key == "login_sso"]  # no [auth] secrets: no single sign-on
    # ... and after logging in, the link opens its ring
    log_in(at, "alice")
    assert at.session_state["nav"] == "Ring" and at.session_state["ring_id"] == rings[0]
    assert "Logged in as **alice** (analyst)" in sidebar_text(at)


@pytest.mark.parametrize(
    ("name", "password"), [("alice", "not the password!"), ("mallory", PASSWORD), ("alice", ""), ("", PASSWORD)]
)
def test_a_wrong_password_is_refused_in_one_line(world, users, name, password):
    at = log_in(new_app().run(), name, password)
    assert texts(at.error) == ["Wrong user name or password."]  # the same for an unknown name
    assert "actor" not in at.session_state
    assert texts(at.title) == ["ringwatch"]
    assert at.text_input(key="login_password").value == ""  # never kept in the form


def test_log_out_returns_to_the_login_page(world, users):
    at = logged_in("lena")
    assert "Logged in as **lena** (lead)" in sidebar_text(at)
    at.sidebar.button(key="logout").click().run()
    assert not at.exception, at.exception
    assert "actor" not in at.session_state
    assert texts(at.title) == ["ringwatch"]


def test_single_sign_on_users_get_the_role_their_groups_map_to(world, users, rings):
    auth = {
        "redirect_uri": "http://127.0.0.1:1/oauth2callback",
        "cookie_secret": "x" * 32,
        "client_id": "c",
        "client_secret": "s",
        "server_metadata_url": "http://127.0.0.1:1/.well-known/openid-configuration",
    }
    at = new_app()
    at.secrets["auth"] = auth
    at.run()
    assert at.button(key="login_sso").label == "Log in with single sign-on"
    # signed in at the provider, in a group that maps to analyst (RINGWATCH_OIDC_ROLES' default)
    at.user = {
        "is_logged_in": True,
        "sub": "u-1",
        "preferred_username": "sso-ann",
        "email": "ann@example.com",
        "groups": ["staff", "ringwatch-analysts"],
    }
    at.run()
    assert not at.exception, at.exception
    assert "Logged in as **sso-ann** (analyst) via single sign-on" in sidebar_text(at)
    at = open_ring(at, rings[0])
    assert at.button(key="dec_submit")
    # a group that maps to no role: one line, and a way to log out
    at = new_app()
    at.secrets["auth"] = auth
    at.user = {"is_logged_in": True, "sub": "u-2", "email": "sam@example.com", "groups": ["staff"]}
    at.run()
    assert not at.exception, at.exception
    assert len(at.error) == 1 and "sam\\@example.com" in at.error[0].value and "staff" in at.error[0].value
    assert at.button(key="sso_logout")
    assert "nav" not in at.session_state


# --- single sign-on in the browser ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sso_app(world, tmp_path_factory):
    """The provider, then the app with its [auth] secrets in a temporary file; yields (app_url, provider)."""
    had_secrets = REPO_SECRETS.exists()
    port = free_port()
    with run_oidc_provider(users=[ANN, VERA, SAM], redirect_uris=[f"http://{HOST}:{port}/oauth2callback"]) as idp:
        secrets = write_streamlit_auth_secrets(
            tmp_path_factory.mktemp("sso"), idp.url, port, idp.client_id, idp.client_secret
        )
        log = tmp_path_factory.mktemp("streamlit") / "streamlit.log"
        with serve(log, "--secrets.files", str(secrets), port=port) as url:
            yield url, idp
    assert REPO_SECRETS.exists() == had_secrets  # the repository's own secrets were never written


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium)")
    with playwright_sync.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser):
    """A fresh browser context (no cookies: nobody logged in) that reaches loopback only."""
    context = browser.new_context(viewport={"width": 1440, "height": 1200})
    # the provider's pages link a stylesheet on a public CDN: nothing leaves the machine
    context.route(
        "**/*",
        lambda route: (
            route.continue_() if route.request.url.startswith((f"http://{HOST}:", "data:", "blob:")) else route.abort()
        ),
    )
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    context.close()


@pytest.fixture(scope="module")
def ring_id(world, neo4j_server):
    from graph.db.connection import open_driver

    d = open_driver()
    try:
        return read(d, "MATCH (r:Ring) WHERE r.status = 'suspected' RETURN r.id AS id ORDER BY r.score DESC LIMIT 1")[
            0
        ]["id"]
    finally:
        d.close()


def sso_log_in(pg, app_url: str, idp_url: str, sub: str) -> None:
    """From the app's login page, through the provider's form, back to the app."""
    pg.goto(app_url)
    pg.get_by_role("button", name="Log in with single sign-on").click()
    pg.wait_for_url(f"{idp_url}/oauth2/authorize**")
    pg.get_by_placeholder("sub").fill(sub)
    pg.get_by_role("button", name="Authorize").click()
    pg.wait_for_url(f"{app_url}/**")


def open_ring_page(pg, app_url: str, ring_id: str) -> None:
    pg.goto(f"{app_url}/?ring={ring_id}")  # a new session: the login cookie carries the identity
    pg.locator(".rw-title").filter(has_text=f"Ring {ring_id}").wait_for()
    pg.locator('iframe[src*="st_link_analysis"]').first.wait_for()  # the graph canvas
    wait_idle(pg)


def sidebar(pg) -> str:
    return pg.locator('[data-testid="stSidebar"]').inner_text()


@pytest.mark.browser
def test_the_login_page_offers_single_sign_on(sso_app, page, tmp_path):
    app_url, _ = sso_app
    page.goto(app_url)
    page.get_by_role("button", name="Log in with single sign-on").wait_for()
    page.get_by_label("User name").wait_for()  # local accounts still work beside it
    assert page.get_by_text("Rings in queue").count() == 0
    wait_idle(page)
    shot(page, tmp_path, "login-0-sso-offered")


@pytest.mark.browser
def test_an_analyst_group_gets_the_decision_form(sso_app, page, ring_id, tmp_path):
    app_url, idp = sso_app
    sso_log_in(page, app_url, idp.url, ANN.sub)
    page.get_by_text("Rings in queue").wait_for()
    page.locator('[data-testid="stSidebar"]').get_by_text("Logged in as").wait_for()
    assert "Logged in as ann (analyst) via single sign-on" in sidebar(page)
    open_ring_page(page, app_url, ring_id)
    assert "Logged in as ann (analyst)" in sidebar(page)
    form = page.locator('[data-testid="stForm"]').filter(has_text="Record a decision")
    form.get_by_role("button", name="Record decision").wait_for()
    assert form.get_by_label("Analyst (required)").count() == 0
    shot(page, tmp_path, "login-1-sso-analyst")
    # "Log out" ends the session here and at the provider
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{idp.url}/oauth2/end_session**")
    page.get_by_role("button", name="End session").click()
    page.wait_for_url(f"{app_url}/**")
    page.get_by_role("button", name="Log in with single sign-on").wait_for()
    assert page.get_by_text("Rings in queue").count() == 0


@pytest.mark.browser
def test_a_viewer_group_gets_no_decision_form(sso_app, page, ring_id, tmp_path):
    app_url, idp = sso_app
    sso_log_in(page, app_url, idp.url, VERA.sub)
    page.get_by_text("Rings in queue").wait_for()
    open_ring_page(page, app_url, ring_id)
    assert "Logged in as vera@example.com (viewer) via single sign-on" in sidebar(page)  # no preferred_username
    page.get_by_text("deciding needs an analyst").wait_for()
    assert page.get_by_role("button", name="Record decision").count() == 0
    assert page.locator('[data-testid="stForm"]').filter(has_text="Record a decision").count() == 0
    shot(page, tmp_path, "login-2-sso-viewer")


@pytest.mark.browser
def test_a_group_without_a_role_is_refused_in_one_line(sso_app, page, tmp_path):
    app_url, idp = sso_app
    sso_log_in(page, app_url, idp.url, SAM.sub)
    refusal = page.locator('[data-testid="stAlertContentError"]')
    refusal.wait_for()
    assert refusal.count() == 1
    text = refusal.inner_text()
    assert "sam@example.com" in text and "contractors" in text and "RINGWATCH_OIDC_ROLES" in text
    page.get_by_role("button", name="Log out of single sign-on").wait_for()
    assert page.get_by_text("Rings in queue").count() == 0
    wait_idle(page)
    shot(page, tmp_path, "login-3-sso-no-role")
