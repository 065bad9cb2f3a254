"""The share key: where it comes from, how long it must be, and the keyed hashes made with it.

Two labs agree on one secret key; payment methods and prompt templates travel between
them as HMAC-SHA-256(key, kind + ":" + value), never as raw values. The key is never given
on the command line, where it would show in `ps` and in the shell history: it comes from
the environment variable RINGWATCH_SHARE_KEY, or from a file (`--share-key-file`) that
only its owner can read or change (mode 600 or stricter). A key must hold at least 32
bytes (256 bits) of key material: `openssl rand -hex 32` makes one of 64 characters.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from graph.sharing.errors import IndicatorError

__all__ = [
    "KEY_ENV",
    "MIN_KEY_BYTES",
    "key_id",
    "keyed_hash",
    "load_share_key",
    "read_key_file",
    "share_key_bytes",
]

KEY_ENV = "RINGWATCH_SHARE_KEY"
MIN_KEY_BYTES = 32
MAX_KEY_FILE_BYTES = 4096
KEY_ID_TEXT = b"ringwatch share key id v1"
HOW_TO_MAKE = "make one with `openssl rand -hex 32 > share.key && chmod 600 share.key` and give the partner the same"


def share_key_bytes(key: str | bytes | None, origin: str = "the share key") -> bytes | None:
    """The key material of `key` (UTF-8 for text): None when there is none; IndicatorError
    when it is shorter than MIN_KEY_BYTES."""
    if key is None:
        return None
    data = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    if not data:
        return None
    if len(data) < MIN_KEY_BYTES:
        raise IndicatorError(
            f"{origin} has {len(data)} bytes; a share key needs at least {MIN_KEY_BYTES} bytes (256 bits) of "
            f"key material: {HOW_TO_MAKE}"
        )
    return data


def read_key_file(path: Path) -> bytes:
    """The key in `path`, a regular file only its owner may read or change, without its
    trailing line break."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError as e:
        raise IndicatorError(f"share key file {path} does not exist") from e
    except OSError as e:
        raise IndicatorError(f"cannot read share key file {path}: {e.strerror}") from e
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise IndicatorError(f"share key file {path} is not a regular file")
        if info.st_mode & 0o077:
            raise IndicatorError(
                f"share key file {path} is open to group or others (mode {stat.S_IMODE(info.st_mode):04o}); "
                f"a key file must be private: chmod 600 {path}"
            )
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_KEY_FILE_BYTES:
            chunk = os.read(fd, MAX_KEY_FILE_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > MAX_KEY_FILE_BYTES:
        raise IndicatorError(f"share key file {path} is over {MAX_KEY_FILE_BYTES} bytes: it should hold one key")
    data = b"".join(chunks).rstrip(b"\r\n")
    if not data:
        raise IndicatorError(f"share key file {path} is empty: {HOW_TO_MAKE}")
    return data


def load_share_key(key_file: Path | None = None, environ: Mapping[str, str] | None = None) -> bytes | None:
    """The share key from `key_file` if given, else from RINGWATCH_SHARE_KEY; None when neither."""
    if key_file is not None:
        return share_key_bytes(read_key_file(key_file), f"share key file {key_file}")
    text = (os.environ if environ is None else environ).get(KEY_ENV)
    return share_key_bytes(text, KEY_ENV) if text else None


def _required(key: str | bytes | None) -> bytes:
    data = share_key_bytes(key)
    if data is None:
        raise IndicatorError(f"no share key: set {KEY_ENV} or give --share-key-file (the key agreed with the partner)")
    return data


def keyed_hash(key: str | bytes, kind: str, value: str) -> str:
    """HMAC-SHA-256(key, kind + ":" + value), hex: what a bundle says instead of `value`."""
    return hmac.new(_required(key), f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def key_id(key: str | bytes) -> str:
    """A short public name of a key: equal keys, equal ids; reveals nothing of the key."""
    return hmac.new(_required(key), KEY_ID_TEXT, hashlib.sha256).hexdigest()[:16]
