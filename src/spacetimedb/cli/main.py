"""The `spacetimedb` command line; its commands and flags mirror the official `spacetime` CLI."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from spacetimedb.cli.api_client import ApiError, ServerUnreachable
from spacetimedb.cli.config import ConfigError

EPILOG = """\b
Quick start:
  spacetimedb start                                   # a server on 127.0.0.1:3000
  spacetimedb publish chat --module-path examples/quickstart_chat.py
  spacetimedb call chat set_name '"Ada"'
  spacetimedb sql chat "SELECT * FROM user"
  spacetimedb subscribe chat "SELECT * FROM message" -n 1
"""


class FriendlyGroup(click.Group):
    """Turns the errors users cause into one clear line and a non-zero exit, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (ApiError, ServerUnreachable, ConfigError) as e:
            raise click.ClickException(str(e)) from None


@click.group(cls=FriendlyGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="spacetimedb-server", prog_name="spacetimedb")
def cli() -> None:
    """Run and manage SpacetimeDB databases whose modules are written in Python."""


def _register() -> None:
    from spacetimedb.cli import (
        commands_build,
        commands_database,
        commands_generate,
        commands_local,
        commands_server,
        commands_subscribe,
    )

    for module in (commands_server, commands_database, commands_subscribe, commands_generate, commands_local, commands_build):
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def main(argv: list[str] | None = None) -> int:
    entry: Callable[..., Any] = cli.main
    try:
        entry(args=argv, prog_name="spacetimedb", standalone_mode=True)
    except SystemExit as e:
        return int(e.code or 0) if not isinstance(e.code, str) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
