"""Who is acting, and what their role lets them do.

An `Actor` is the identity on every audit event: a local analyst who logged in to the
app, a single-sign-on user whose role came from a claim, or the operating-system user
running the CLI (channel `cli`, for bulk work by an administrator). Nobody types a name.

Roles, each including the one before:

    viewer   reads rings, members, history, the block list
    analyst  decides (confirm, block, dismiss; extend a block), comments, undoes their own
    lead     also undoes others' decisions and approves blocks over the approval threshold

The checks here run where the change is made (graph.review.decisions), not only in the
app, so a hidden button is not the only guard.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass

__all__ = [
    "ROLES",
    "Actor",
    "PermissionDenied",
    "approval_threshold",
    "cli_actor",
    "require",
    "role_from_groups",
]

ROLES = ("viewer", "analyst", "lead")
CHANNELS = ("app", "sso", "cli")

# action -> lowest role allowed
NEEDS = {
    "read": "viewer",
    "decide": "analyst",
    "comment": "analyst",
    "undo_own": "analyst",
    "undo_others": "lead",
    "approve": "lead",
    "manage_users": "lead",
    "calibrate": "lead",  # changes how every later ring is scored
}

DEFAULT_APPROVAL_THRESHOLD = 500


class PermissionDenied(PermissionError):
    """The actor's role does not allow this; the message says which role would."""


@dataclass(frozen=True)
class Actor:
    """A logged-in identity: name (unique), role, and the channel it came through."""

    name: str
    role: str
    channel: str = "app"

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {self.role!r}")
        if self.channel not in CHANNELS:
            raise ValueError(f"channel must be one of {', '.join(CHANNELS)}, not {self.channel!r}")
        if not self.name.strip():
            raise ValueError("an actor needs a name")

    def can(self, action: str) -> bool:
        """Whether this actor's role allows `action` (a key of NEEDS)."""
        return ROLES.index(self.role) >= ROLES.index(NEEDS[action])


def _a(role: str) -> str:
    return ("an " if role[0] in "aeiou" else "a ") + role


def require(actor: Actor | None, action: str) -> Actor:
    """The actor, if their role allows `action`; else PermissionDenied naming the role needed."""
    if actor is None:
        raise PermissionDenied("log in first")
    if not actor.can(action):
        what = action.replace("_", " ")
        raise PermissionDenied(f"{actor.name} is {_a(actor.role)}; {what} needs {_a(NEEDS[action])}")
    return actor


def cli_actor() -> Actor:
    """The operating-system user running the CLI, as a lead on channel `cli`.

    Whoever runs the CLI holds the database's credentials already; what the trail needs
    is who it was and that it came from the command line.
    """
    return Actor(name=f"os:{getpass.getuser()}", role="lead", channel="cli")


def approval_threshold() -> int:
    """Blocks covering more accounts than this wait for a second person (RINGWATCH_APPROVAL_THRESHOLD, 500)."""
    text = os.environ.get("RINGWATCH_APPROVAL_THRESHOLD", "").strip()
    if not text:
        return DEFAULT_APPROVAL_THRESHOLD
    try:
        value = int(text)
    except ValueError as e:
        raise ValueError(f"RINGWATCH_APPROVAL_THRESHOLD must be a whole number, not {text!r}") from e
    if value < 0:
        raise ValueError("RINGWATCH_APPROVAL_THRESHOLD must be 0 or more")
    return value


def parse_role_map(text: str) -> dict[str, str]:
    """'group=role,group=role' -> {group: role}; roles checked."""
    out: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        group, sep, role = part.rpartition("=")
        if not sep or not group.strip() or role.strip() not in ROLES:
            raise ValueError(
                f"RINGWATCH_OIDC_ROLES entries are GROUP=ROLE with ROLE one of {', '.join(ROLES)}: {part.strip()!r}"
            )
        out[group.strip()] = role.strip()
    return out


DEFAULT_ROLE_MAP = "ringwatch-viewers=viewer,ringwatch-analysts=analyst,ringwatch-leads=lead"


def role_from_groups(groups: object, mapping: dict[str, str] | None = None) -> str | None:
    """The highest role any of `groups` maps to (RINGWATCH_OIDC_ROLES), or None when none does.

    `groups` is the claim as the provider sent it: a list of names, or one name.
    """
    if mapping is None:
        mapping = parse_role_map(os.environ.get("RINGWATCH_OIDC_ROLES") or DEFAULT_ROLE_MAP)
    if isinstance(groups, str):
        groups = [groups]
    if not isinstance(groups, list | tuple):
        return None
    roles = [mapping[g] for g in groups if isinstance(g, str) and g in mapping]
    return max(roles, key=ROLES.index) if roles else None
