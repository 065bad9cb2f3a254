"""The CLI's one way to fail: `fail(message)` raises CommandError, shown as one `error: ...` line, exit 1."""

from __future__ import annotations

from typing import NoReturn

import click
from rich.console import Console
from rich.markup import escape

__all__ = ["CommandError", "fail", "first_line", "print_error"]

err = Console(stderr=True)


def print_error(message: str) -> None:
    """One red `error:` line; the message is never read as rich markup (a `[/x]` in a path is text)."""
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)


class CommandError(click.ClickException):
    """An error the user can act on: shown as one `error: ...` line, exit status 1.

    A ClickException, so that click itself shows it wherever it is raised.
    """

    def show(self, file: object = None) -> None:
        print_error(self.message)


def fail(message: str) -> NoReturn:
    """Stop the command with one `error:` line (exit status 1)."""
    raise CommandError(message)


def first_line(error: Exception) -> str:
    """The first line of an error's message."""
    text = getattr(error, "message", None) or str(error) or type(error).__name__
    return text.strip().splitlines()[0]
