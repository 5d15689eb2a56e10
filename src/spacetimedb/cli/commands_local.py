"""Commands that run things on this machine: `start` (the server) and `dev` (run, publish, watch)."""

from __future__ import annotations

from pathlib import Path

import click
import platformdirs

DEFAULT_LISTEN = "127.0.0.1:3000"


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("spacetimedb-server")) / "data"


def _parse_publish(values: tuple[str, ...]) -> list[tuple[str, Path]]:
    out = []
    for v in values:
        name, sep, path = v.partition("=")
        if not sep or not name or not path:
            raise click.UsageError(f"--publish takes NAME=PATH, got {v!r}")
        if not Path(path).exists():
            raise click.UsageError(f"--publish {v}: {path} does not exist")
        out.append((name, Path(path)))
    return out


@click.command("start")
@click.option("-l", "--listen-addr", default=DEFAULT_LISTEN, show_default=True, help="Address to listen on.")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where databases keep their data [default: the user's data dir].",
)
@click.option(
    "--publish", "publish", multiple=True, metavar="NAME=PATH", help="Publish a module at start (repeatable)."
)
def start(listen_addr: str, data_dir: Path | None, publish: tuple[str, ...]) -> None:
    """Run the server. Stop it with Ctrl-C; commits are flushed before it exits.

    \b
    Examples:
      spacetimedb start
      spacetimedb start --data-dir ./.spacetimedb --publish chat=examples/quickstart_chat.py
    """
    modules = _parse_publish(publish)
    from spacetimedb.server.app import run_server

    run_server(listen_addr, data_dir or default_data_dir(), publish=modules)


COMMANDS = [start]


@click.command("dev")
@click.argument("name")
@click.option(
    "-p", "--module-path", type=click.Path(exists=True, path_type=Path), required=True, help="The module."
)
@click.option(
    "-l", "--listen-addr", default=DEFAULT_LISTEN, show_default=True, help="Address for the server."
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The server's data dir.",
)
@click.option(
    "--module-bindings-path",
    type=click.Path(path_type=Path),
    default=None,
    help="Regenerate client bindings here after every publish.",
)
@click.option(
    "--client-lang", type=click.Choice(["typescript", "python"]), default="typescript", show_default=True
)
@click.option(
    "-c",
    "--delete-data",
    is_flag=True,
    help="Start from empty data, and republish with --delete-data "
    "when a change is not an automatic migration.",
)
def dev(
    name: str,
    module_path: Path,
    listen_addr: str,
    data_dir: Path | None,
    module_bindings_path: Path | None,
    client_lang: str,
    delete_data: bool,
) -> None:
    """Run a server, publish the module as NAME, and republish (and regenerate bindings) on every change.

    \b
    Examples:
      spacetimedb dev chat -p examples/quickstart_chat.py
      spacetimedb dev chat -p chat.py --module-bindings-path client/src/module_bindings
    """
    from spacetimedb.cli.dev_loop import run_dev

    run_dev(
        name,
        module_path,
        listen_addr=listen_addr,
        data_dir=data_dir or default_data_dir(),
        bindings_dir=module_bindings_path,
        lang=client_lang,
        delete_data=delete_data,
    )


COMMANDS.append(dev)
