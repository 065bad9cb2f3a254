"""A real OpenID Connect provider on loopback for tests of Streamlit's st.login / st.user.

Uses the `oidc-provider-mock` package (a Flask app built on Authlib) served by werkzeug in a
background thread of the test process, bound to 127.0.0.1 on a free port, stopped when the
context ends. Nothing leaves the machine.

    with run_oidc_provider(users=[oidc_user("alice", name="Alice", groups=["analyst"])],
                           redirect_uris=[f"http://127.0.0.1:{app_port}/oauth2callback"]) as idp:
        write_streamlit_auth_secrets(app_dir, idp.url, app_port, idp.client_id, idp.client_secret)
        ...  # serve the app, log in through idp's form (type the user's sub, press "Authorize")

How the mock provider behaves (oidc-provider-mock 0.3.4, read from its source):
- Users are a `sub` plus a dict of claims. Claims that are not standard OIDC claims (e.g.
  `groups`, `roles`) are put in the ID token and in /userinfo whatever the scope; standard
  ones (name, preferred_username, email, ...) only when their scope (profile, email) is asked.
- Its login form (GET /oauth2/authorize) has a text field with placeholder "sub" and an
  "Authorize" button; users given at start also get a one-click button each. A sub that was
  never defined logs in too, with the claims {"email": sub}.
- Clients: with ``require_client_registration=True`` (our default) only clients registered
  through POST /oauth2/clients (RFC 7591) are accepted; the provider picks the id and secret and
  checks both the secret and the redirect URI. Scopes it does not know (e.g. "groups") are
  dropped silently, not refused.
- The issuer is the URL the request came in on, so use one host name (127.0.0.1) everywhere.
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
import urllib.request
import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import authlib.deprecate  # noqa: F401  (sets its own "always" filter: import it before ours)
import werkzeug.serving

with warnings.catch_warnings():
    # oidc-provider-mock 0.3.4 imports authlib.jose, deprecated in Authlib 1.7+ (works through 1.x)
    warnings.simplefilter("ignore", DeprecationWarning)
    from oidc_provider_mock import User
    from oidc_provider_mock import app as oidc_app

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def oidc_user(
    sub: str,
    *,
    name: str | None = None,
    email: str | None = None,
    preferred_username: str | None = None,
    groups: Sequence[str] | None = None,
    **claims: object,
) -> User:
    """A user of the mock provider: `sub` plus claims (None values left out)."""
    given = {
        "name": name,
        "email": email,
        "preferred_username": preferred_username,
        "groups": list(groups) if groups is not None else None,
        **claims,
    }
    return User(sub=sub, claims={k: v for k, v in given.items() if v is not None})


@dataclass
class OIDCProvider:
    """A running mock provider; `client_id`/`client_secret` are set when a client was registered."""

    url: str
    client_id: str | None = None
    client_secret: str | None = None
    clients: list[dict] = field(default_factory=list)

    @property
    def metadata_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"

    def _request(self, method: str, path: str, body: object) -> tuple[int, bytes]:
        req = urllib.request.Request(
            f"{self.url}{path}",
            method=method,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()

    def add_user(self, user: User) -> None:
        """Define (or redefine) a user's claims on the running provider (PUT /users/<sub>)."""
        status, _ = self._request("PUT", f"/users/{quote(user.sub, safe='')}", dict(user.claims))
        if status != 204:
            raise RuntimeError(f"mock provider refused user {user.sub!r}: HTTP {status}")

    def register_client(
        self, redirect_uris: Iterable[str], auth_method: str = "client_secret_basic"
    ) -> tuple[str, str]:
        """Register a confidential client (RFC 7591); returns (client_id, client_secret)."""
        status, raw = self._request(
            "POST", "/oauth2/clients", {"redirect_uris": list(redirect_uris), "token_endpoint_auth_method": auth_method}
        )
        if status != 201:
            raise RuntimeError(f"client registration failed: HTTP {status} {raw[:300]!r}")
        client = json.loads(raw)
        self.clients.append(client)
        if self.client_id is None:
            self.client_id, self.client_secret = client["client_id"], client["client_secret"]
        return client["client_id"], client["client_secret"]


@contextmanager
def run_oidc_provider(
    *,
    users: Iterable[User] = (),
    redirect_uris: Sequence[str] | None = None,
    port: int = 0,
    require_client_registration: bool = True,
) -> Iterator[OIDCProvider]:
    """Serve the mock provider at http://127.0.0.1:<port> in a thread; stop it on exit.

    `users` are defined before the first request (and shown as one-click buttons on the form).
    With `redirect_uris`, a client is registered for them and its id and secret are on the
    yielded object. With ``require_client_registration=False`` any client id/secret is accepted.
    """
    app = oidc_app(require_client_registration=require_client_registration, user_claims=list(users))
    server = werkzeug.serving.make_server(HOST, port, app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="oidc-provider-mock", daemon=True
    )
    thread.start()
    try:
        provider = OIDCProvider(url=f"http://{HOST}:{server.server_port}")
        if redirect_uris:
            provider.register_client(redirect_uris)
        yield provider
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def write_streamlit_auth_secrets(
    app_dir: Path,
    provider_url: str,
    app_port: int,
    client_id: str,
    client_secret: str,
    *,
    cookie_secret: str | None = None,
    scope: str = "openid profile email",
) -> Path:
    """Write `<app_dir>/.streamlit/secrets.toml` with the [auth] section st.login reads.

    The app must then be opened at http://127.0.0.1:<app_port> (same host as redirect_uri,
    or the login state cookie set on /auth/login is not sent back to /oauth2callback).
    """
    cookie_secret = cookie_secret or secrets.token_urlsafe(32)
    provider_url = provider_url.rstrip("/")
    values = {
        "redirect_uri": f"http://{HOST}:{app_port}/oauth2callback",
        "cookie_secret": cookie_secret,
        "client_id": client_id,
        "client_secret": client_secret,
        "server_metadata_url": f"{provider_url}/.well-known/openid-configuration",
    }
    lines = [
        "[auth]",
        *(f"{k} = {json.dumps(v)}" for k, v in values.items()),
        # The mock puts custom claims such as `groups` in the ID token whatever the scope;
        # profile and email release name/preferred_username/email. (A real IdP may need an
        # extra scope, e.g. "groups", to release them: pass `scope=`.)
        f"client_kwargs = {{ scope = {json.dumps(scope)} }}",
        "",
    ]
    path = Path(app_dir) / ".streamlit" / "secrets.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    path.chmod(0o600)
    return path
