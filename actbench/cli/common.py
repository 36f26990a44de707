"""What every command shares: user errors become one line on stderr and exit code 2."""

from __future__ import annotations

import functools
from typing import Callable, TypeVar

import typer

from actbench.errors import ActbenchError

F = TypeVar("F", bound=Callable)


def user_errors(command: F) -> F:
    """Decorate a command so an :class:`ActbenchError` prints ``actbench: error: ...`` and exits 2."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except ActbenchError as error:
            typer.echo(f"actbench: error: {error}", err=True)
            raise typer.Exit(error.exit_code) from None

    return wrapper  # type: ignore[return-value]
