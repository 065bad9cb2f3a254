"""Local analyst accounts: names, roles and Argon2 password hashes, kept in the graph.

    (:User {name, role, password_hash, disabled, created_at})

Passwords are hashed with Argon2id (argon2-cffi's defaults: memory-hard, salted), never
stored or logged in clear. Every change is an audit event naming who made it. Logging in
checks the hash and refuses disabled accounts; a wrong name and a wrong password get the
same answer, so the login page does not reveal which names exist.
"""

from __future__ import annotations

import re
from typing import Any

import neo4j
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from graph.db.connection import session
from graph.review import audit
from graph.review.actors import ROLES, Actor, require

__all__ = ["UserError", "add_user", "authenticate", "disable_user", "list_users", "set_password"]

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024

_hasher = PasswordHasher()

ADD = """
CREATE (u:User {name: $name, role: $role, password_hash: $hash, disabled: false, created_at: datetime()})
"""
EXISTS = "MATCH (u:User {name: $name}) RETURN u.disabled AS disabled"
LIST = """
MATCH (u:User)
RETURN u.name AS name, u.role AS role, u.disabled AS disabled, toString(u.created_at) AS created_at
ORDER BY name
"""
SET_DISABLED = "MATCH (u:User {name: $name}) SET u.disabled = true RETURN u.name AS name"
SET_HASH = "MATCH (u:User {name: $name}) SET u.password_hash = $hash RETURN u.name AS name"
FIND = "MATCH (u:User {name: $name}) RETURN u.role AS role, u.password_hash AS hash, u.disabled AS disabled"
COUNT = "MATCH (u:User) RETURN count(u) AS n"


class UserError(ValueError):
    """A user change that cannot be made; the message says why, in one line."""


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not NAME.match(name):
        raise UserError("a user name is 1-64 letters, digits or . _ @ -, starting with a letter or digit")
    return name


def _check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"a password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise UserError(f"a password has at most {MAX_PASSWORD} characters")
    return password


def add_user(driver: neo4j.Driver, by: Actor, name: str, role: str, password: str) -> None:
    """Create a local user (by a lead, or the CLI); the event names who created them."""
    require(by, "manage_users")
    name = _check_name(name)
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    hashed = _hasher.hash(_check_password(password))

    def tx(t: neo4j.ManagedTransaction) -> None:
        if t.run(EXISTS, name=name).single() is not None:
            raise UserError(f"user {name!r} already exists")
        t.run(ADD, name=name, role=role, hash=hashed).consume()
        audit.append(t, "user.add", by.name, by.channel, role=by.role, subject=name, subject_role=role)

    with session(driver, write=True) as s:
        s.execute_write(tx)


def list_users(driver: neo4j.Driver) -> list[dict[str, Any]]:
    """Name, role, disabled and creation time of every user (no hashes)."""
    with session(driver) as s:
        return [r.data() for r in s.run(LIST)]


def count_users(driver: neo4j.Driver) -> int:
    with session(driver) as s:
        return s.run(COUNT).single()["n"]


def _change(driver: neo4j.Driver, by: Actor, name: str, statement: str, action: str, **params: Any) -> None:
    require(by, "manage_users")
    name = _check_name(name)

    def tx(t: neo4j.ManagedTransaction) -> None:
        if t.run(statement, name=name, **params).single() is None:
            raise UserError(f"no user {name!r}")
        audit.append(t, action, by.name, by.channel, role=by.role, subject=name)

    with session(driver, write=True) as s:
        s.execute_write(tx)


def disable_user(driver: neo4j.Driver, by: Actor, name: str) -> None:
    """Stop a user logging in (kept, so past events still name them)."""
    _change(driver, by, name, SET_DISABLED, "user.disable")


def set_password(driver: neo4j.Driver, by: Actor, name: str, password: str) -> None:
    """Replace a user's password."""
    _change(driver, by, name, SET_HASH, "user.passwd", hash=_hasher.hash(_check_password(password)))


def authenticate(driver: neo4j.Driver, name: str, password: str) -> Actor | None:
    """The user as an Actor (channel app) if the name and password match an enabled account, else None."""
    name = (name or "").strip()
    if not NAME.match(name) or not password or len(password) > MAX_PASSWORD:
        return None
    with session(driver) as s:
        row = s.run(FIND, name=name).single()
    if row is None:
        _hasher.hash("timing: as long as a real check")  # a missing name costs as much as a wrong password
        return None
    try:
        _hasher.verify(row["hash"], password)
    except (VerificationError, InvalidHashError):
        return None
    if row["disabled"]:
        return None
    return Actor(name=name, role=row["role"], channel="app")
