"""Commands for review: local users, decisions from the command line, the audit trail.

Decisions made here are recorded with the operating-system user and the channel `cli`
(graph.review.actors.cli_actor), for bulk work by an administrator. Passwords are read
from a prompt or from stdin, never from the command line (where `ps` and shell history
would keep them).
"""

from __future__ import annotations

import secrets
import sys
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from graph.db.connection import open_driver
from graph.review import audit, cases, decisions, users
from graph.review.actors import PermissionDenied, cli_actor
from ringwatch.errors import fail

console = Console()
err = Console(stderr=True)

users_app = typer.Typer(no_args_is_help=True, help="Local analyst accounts for the app (Argon2 password hashes).")
case_app = typer.Typer(no_args_is_help=True, help="Case work on rings: assign, move, comment, list.")
audit_app = typer.Typer(no_args_is_help=True, help="The tamper-evident audit trail: verify it, export it.")


class Role(StrEnum):
    viewer = "viewer"
    analyst = "analyst"
    lead = "lead"


class Decided(StrEnum):
    confirmed = "confirmed"
    blocked = "blocked"
    dismissed = "dismissed"


def _password(from_stdin: bool, random: bool) -> str:
    if from_stdin and random:
        fail("give --password-stdin or --random-password, not both")
    if random:
        return secrets.token_urlsafe(15)
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            fail("no password on stdin")
        return line
    return typer.prompt("password", hide_input=True, confirmation_prompt=True)


@users_app.command("add")
def users_add(
    name: str = typer.Argument(..., help="Login name (letters, digits, . _ @ -)."),
    role: Role = typer.Option(..., "--role", help="What the user may do."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
    random_password: bool = typer.Option(False, "--random-password", help="Make one up and print it once."),
    if_missing: bool = typer.Option(False, "--if-missing", help="Do nothing if the user exists."),
) -> None:
    """Create a local user; the password comes from a prompt, stdin or --random-password.

    Example: ringwatch users add alice --role analyst
    """
    with open_driver() as driver:
        if if_missing and any(u["name"] == name for u in users.list_users(driver)):
            err.print(f"user {name} exists; left as it is", highlight=False)
            return
        password = _password(password_stdin, random_password)
        try:
            users.add_user(driver, cli_actor(), name, role.value, password)
        except users.UserError as e:
            fail(str(e))
    err.print(f"added {name} ({role.value})", highlight=False)
    if random_password:
        print(f"password for {name} (shown once): {password}")


@users_app.command("list")
def users_list() -> None:
    """Every local user with role and state (never a password hash).

    Example: ringwatch users list
    """
    with open_driver() as driver:
        rows = users.list_users(driver)
    table = Table(title="ringwatch users")
    for col in ("name", "role", "state", "created"):
        table.add_column(col)
    for u in rows:
        table.add_row(u["name"], u["role"], "disabled" if u["disabled"] else "active", (u["created_at"] or "")[:19])
    console.print(table)


@users_app.command("disable")
def users_disable(name: str = typer.Argument(..., help="Login name.")) -> None:
    """Stop a user logging in (kept, so the trail still names them).

    Example: ringwatch users disable alice
    """
    with open_driver() as driver:
        try:
            users.disable_user(driver, cli_actor(), name)
        except users.UserError as e:
            fail(str(e))
    err.print(f"disabled {name}", highlight=False)


@users_app.command("passwd")
def users_passwd(
    name: str = typer.Argument(..., help="Login name."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the new password from stdin."),
) -> None:
    """Set a user's password (from a prompt, or stdin).

    Example: printf '%s\\n' "$NEW" | ringwatch users passwd alice --password-stdin
    """
    password = _password(password_stdin, False)
    with open_driver() as driver:
        try:
            users.set_password(driver, cli_actor(), name, password)
        except users.UserError as e:
            fail(str(e))
    err.print(f"password of {name} changed", highlight=False)


def _read_members(path: Path | None) -> list[str] | None:
    if path is None:
        return None
    ids = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    ids = [i for i in ids if i and not i.startswith("#") and i != "account_id"]
    if not ids:
        fail(f"{path} lists no account ids (one per line)")
    return ids


def _show(event: dict) -> None:
    pending = " (waiting for a second person's approval)" if event.get("pending") else ""
    err.print(
        f"{event['action']} {event.get('status', '')} on {event['ring']}: {event.get('member_count', 0):,} "
        f"accounts, event {event['seq']} id {event['id']}{pending}",
        highlight=False,
        soft_wrap=True,
    )


def decide_cmd(
    ring_id: str = typer.Argument(..., help="The ring, e.g. R-000042."),
    status: Decided = typer.Option(..., "--status", help="The decision."),
    reason: str = typer.Option(..., "--reason", help="What the evidence shows."),
    members: Path = typer.Option(
        None,
        "--members",
        exists=True,
        dir_okay=False,
        help="Decide only these accounts: a file with one account id per line.",
    ),
) -> None:
    """Decide on a ring (all its current members) or some of its members, as the OS user (channel cli).

    Example: ringwatch decide R-000042 --status blocked --reason "shared prepaid BIN, one template"
    """
    with open_driver() as driver:
        try:
            _show(decisions.decide(driver, cli_actor(), ring_id, status.value, reason, _read_members(members)))
        except (decisions.DecisionError, PermissionDenied) as e:
            fail(str(e))


def extend_cmd(
    ring_id: str = typer.Argument(..., help="A decided ring with members awaiting review."),
    reason: str = typer.Option(..., "--reason", help="Why the decision extends to them."),
) -> None:
    """Extend a decided ring's decision to the members that joined it since.

    Example: ringwatch extend R-000042 --reason "same BIN and templates as the blocked members"
    """
    with open_driver() as driver:
        try:
            _show(decisions.extend(driver, cli_actor(), ring_id, reason))
        except (decisions.DecisionError, PermissionDenied) as e:
            fail(str(e))


def undo_cmd(
    decision_id: str = typer.Argument(..., help="The decision's id (ringwatch query run ring-decisions)."),
    reason: str = typer.Option(..., "--reason", help="Why it is undone."),
) -> None:
    """Undo a decision: a new event restoring what it replaced (a pending block is withdrawn).

    Example: ringwatch undo 3f2a... --reason "wrong ring"
    """
    with open_driver() as driver:
        try:
            _show(decisions.undo(driver, cli_actor(), decision_id, reason))
        except (decisions.DecisionError, PermissionDenied) as e:
            fail(str(e))


def approve_cmd(
    decision_id: str = typer.Argument(..., help="The block waiting for approval."),
    reason: str = typer.Option(..., "--reason", help="What the second look found."),
) -> None:
    """Approve a large block decided by someone else (four eyes).

    Example: ringwatch approve 3f2a... --reason "checked 20 members, all farm"
    """
    with open_driver() as driver:
        try:
            _show(decisions.approve(driver, cli_actor(), decision_id, reason))
        except (decisions.DecisionError, PermissionDenied) as e:
            fail(str(e))


def register_review_commands(app: typer.Typer) -> None:
    """Add decide, extend, undo and approve to the top-level command."""
    app.command("decide")(decide_cmd)
    app.command("extend")(extend_cmd)
    app.command("undo")(undo_cmd)
    app.command("approve")(approve_cmd)


@audit_app.command("verify")
def audit_verify(
    against: Path = typer.Option(
        None, "--against", exists=True, dir_okay=False, help="Also compare with a copy written by `audit export`."
    ),
) -> None:
    """Check the whole chain; name the first edited, deleted or reordered event. Exit 1 if broken.

    Example: ringwatch audit verify --against trail-2026-11-30.jsonl
    """
    with open_driver() as driver:
        count, problem = audit.verify(driver, against)
    if problem is not None:
        fail(f"audit trail broken: {problem}")
    copy = f", identical to {against}" if against else ""
    err.print(f"audit trail intact: {count:,} events{copy}", highlight=False, soft_wrap=True)


@audit_app.command("export")
def audit_export(out: Path = typer.Option(..., "--out", "-o", help="JSON-lines file to write.")) -> None:
    """Write every event (canonical form + hash), one JSON line each, for an external append-only store.

    Example: ringwatch audit export --out trail.jsonl
    """
    if not out.parent.exists():
        fail(f"folder {out.parent} does not exist")
    with open_driver() as driver:
        n = audit.export(driver, out)
    err.print(f"{n:,} events -> {out}", highlight=False)


class CaseState(StrEnum):
    open = "open"
    in_progress = "in progress"
    decided = "decided"


@case_app.command("assign")
def case_assign(
    rings: list[str] = typer.Argument(..., help="Ring ids."),
    to: str = typer.Option(None, "--to", help="The assignee's user name (leave out with --unassign)."),
    unassign: bool = typer.Option(False, "--unassign", help="Take the rings off whoever has them."),
) -> None:
    """Assign rings (bulk) to a person; an open case becomes in progress.

    Example: ringwatch case assign R-000042 R-000043 --to alice
    """
    if (to is None) == (not unassign):
        fail("give --to NAME or --unassign")
    with open_driver() as driver:
        try:
            n = cases.assign(driver, cli_actor(), rings, None if unassign else to)
        except (cases.CaseError, PermissionDenied) as e:
            fail(str(e))
    err.print(f"{n} ring(s) {'unassigned' if unassign else f'assigned to {to}'}", highlight=False)


@case_app.command("state")
def case_state(
    ring: str = typer.Argument(..., help="Ring id."),
    state: CaseState = typer.Option(..., "--set", help="The case's new state."),
) -> None:
    """Move a ring's case to open, in progress or decided.

    Example: ringwatch case state R-000042 --set "in progress"
    """
    with open_driver() as driver:
        try:
            cases.set_state(driver, cli_actor(), ring, state.value)
        except (cases.CaseError, PermissionDenied) as e:
            fail(str(e))
    err.print(f"{ring}: {state.value}", highlight=False)


@case_app.command("comment")
def case_comment(
    ring: str = typer.Argument(..., help="Ring id."),
    text: str = typer.Option(..., "--text", help="The comment."),
) -> None:
    """Comment on a ring's case (kept apart from decisions; an audit event).

    Example: ringwatch case comment R-000042 --text "asked payments for the BIN's issuer"
    """
    with open_driver() as driver:
        try:
            cases.comment(driver, cli_actor(), ring, text)
        except (cases.CaseError, PermissionDenied) as e:
            fail(str(e))
    err.print(f"comment added to {ring}", highlight=False)


@case_app.command("list")
def case_list(
    assignee: str = typer.Option(None, "--assignee", help="Only this person's cases."),
    unassigned: bool = typer.Option(False, "--unassigned", help="Only cases nobody has."),
    state: CaseState = typer.Option(None, "--state", help="Only cases in this state."),
    status: list[str] = typer.Option(None, "--status", help="Ring statuses (default: suspected, confirmed, blocked)."),
    limit: int = typer.Option(50, "--limit", min=1, max=10_000, help="Rows at most."),
) -> None:
    """The case queue: rings with assignee, state and comment count.

    Example: ringwatch case list --assignee alice --state "in progress"
    """
    with open_driver() as driver:
        rows = cases.case_queue(
            driver,
            status or ["suspected", "confirmed", "blocked"],
            assignee=assignee,
            unassigned=unassigned,
            state=state.value if state else None,
            limit=limit,
        )
    table = Table(title="cases")
    for col in ("ring", "status", "score", "size", "assignee", "state", "comments"):
        table.add_column(col)
    for r in rows:
        table.add_row(*(str(r[k]) for k in ("ring", "status", "score", "size", "assignee", "state", "comments")))
    console.print(table)
