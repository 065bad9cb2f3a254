"""The share key stays off the command line: it comes from RINGWATCH_SHARE_KEY or a private
key file, has at least 32 bytes, and every refusal is one line (no database needed: the key
is checked before the CLI connects)."""

from __future__ import annotations

import io
import sys
from contextlib import redirect_stderr, redirect_stdout
from types import SimpleNamespace
from unittest import mock

import pytest

from graph.sharing.errors import IndicatorError
from graph.sharing.keys import KEY_ENV, MIN_KEY_BYTES, key_id, keyed_hash, load_share_key, share_key_bytes

GOOD = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"  # openssl rand -hex 32


def cli(*args: str, env: dict[str, str] | None = None) -> SimpleNamespace:
    from ringwatch import cli as ringwatch_cli

    out, err = io.StringIO(), io.StringIO()
    code = 0
    environ = {k: v for k, v in __import__("os").environ.items() if k != KEY_ENV} | (env or {})
    with (
        mock.patch.object(sys, "argv", ["ringwatch", *args]),
        mock.patch.dict("os.environ", environ, clear=True),
        redirect_stdout(out),
        redirect_stderr(err),
    ):
        try:
            ringwatch_cli.main()
        except SystemExit as e:
            code = e.code or 0
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


def key_file(tmp_path, text: str | bytes, mode: int = 0o600):
    path = tmp_path / "share.key"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    path.chmod(mode)
    return path


def test_a_key_needs_32_bytes_of_key_material():
    with pytest.raises(IndicatorError, match=r"has 28 bytes; a share key needs at least 32 bytes \(256 bits\)") as e:
        share_key_bytes("correct horse battery staple")
    assert "openssl rand -hex 32" in str(e.value)
    assert share_key_bytes("x" * MIN_KEY_BYTES) == b"x" * MIN_KEY_BYTES
    assert share_key_bytes(None) is None and share_key_bytes("") is None
    for fn in (lambda k: keyed_hash(k, "payment", "fp"), key_id):
        with pytest.raises(IndicatorError, match="at least 32 bytes"):
            fn("short")
        with pytest.raises(IndicatorError, match="no share key"):
            fn("")
    assert keyed_hash(GOOD, "payment", "fp") == keyed_hash(GOOD.encode(), "payment", "fp")


def test_the_key_comes_from_a_private_file_or_the_environment(tmp_path):
    assert load_share_key(None, {KEY_ENV: GOOD}) == GOOD.encode()
    assert load_share_key(None, {}) is None
    assert load_share_key(None, {KEY_ENV: ""}) is None
    path = key_file(tmp_path, GOOD + "\n")
    assert load_share_key(path, {KEY_ENV: "another key entirely, from the environment"}) == GOOD.encode()
    with pytest.raises(IndicatorError, match=f"{KEY_ENV} has 5 bytes"):
        load_share_key(None, {KEY_ENV: "short"})


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o660])
def test_a_key_file_others_can_reach_is_refused(tmp_path, mode):
    path = key_file(tmp_path, GOOD, mode)
    with pytest.raises(IndicatorError) as e:
        load_share_key(path, {})
    assert str(e.value) == (
        f"share key file {path} is open to group or others (mode {mode:04o}); "
        f"a key file must be private: chmod 600 {path}"
    )


def test_a_key_file_must_be_a_small_regular_file_with_a_long_key(tmp_path):
    with pytest.raises(IndicatorError, match="does not exist"):
        load_share_key(tmp_path / "missing.key", {})
    with pytest.raises(IndicatorError, match="not a regular file"):
        load_share_key(tmp_path, {})
    with pytest.raises(IndicatorError, match="is empty"):
        load_share_key(key_file(tmp_path, "\n"), {})
    with pytest.raises(IndicatorError, match="over 4096 bytes"):
        load_share_key(key_file(tmp_path, "k" * 5000), {})
    with pytest.raises(IndicatorError, match=r"share key file .* has 9 bytes; a share key needs at least 32"):
        load_share_key(key_file(tmp_path, "too short"), {})
    assert load_share_key(key_file(tmp_path, b"\x00\xff" * 16 + b"\r\n"), {}) == b"\x00\xff" * 16


def test_the_cli_refuses_a_key_on_the_command_line(tmp_path):
    bundle = tmp_path / "b.json"
    bundle.write_text("{}")
    for args in (
        ("export", "--out", str(tmp_path / "x.json"), "--format", "stix", "--share-key", GOOD),
        ("indicators", "import", str(bundle), "--source", "lab", "--share-key", GOOD),
    ):
        res = cli(*args)
        assert res.returncode == 1
        assert res.stderr == (
            "error: --share-key no longer takes the key on the command line, where `ps` and the "
            f"shell history show it: set {KEY_ENV} or give --share-key-file PATH (a file only you "
            "can read)\n"
        )


def test_the_cli_refuses_a_short_or_exposed_key_in_one_line(tmp_path):
    bundle = tmp_path / "b.json"
    bundle.write_text("{}")
    res = cli("indicators", "import", str(bundle), "--source", "lab", env={KEY_ENV: "correct horse battery staple"})
    assert res.returncode == 1 and res.stderr.count("\n") == 1
    assert res.stderr.startswith(f"error: {KEY_ENV} has 28 bytes; a share key needs at least 32 bytes")
    exposed = key_file(tmp_path, GOOD, 0o644)
    res = cli("export", "--out", str(tmp_path / "x.json"), "--format", "stix", "--share-key-file", str(exposed))
    assert res.returncode == 1 and res.stderr.count("\n") == 1 and "chmod 600" in res.stderr
    res = cli("indicators", "import", str(bundle), "--source", "lab", "--share-key-file", str(tmp_path))
    assert res.returncode == 1 and res.stderr == f"error: share key file {tmp_path} is not a regular file\n"
    help_text = cli("indicators", "import", "--help").stdout
    assert "--share-key-file" in help_text and "--share-key " not in help_text
