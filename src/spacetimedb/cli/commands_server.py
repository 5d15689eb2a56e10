"""`server ...`, `login`, `logout`: which servers the CLI knows and the identity it uses on each."""

from __future__ import annotations

import base64
import json

import click

from spacetimedb.cli.api_client import ApiClient
from spacetimedb.cli.config import CliConfig

server_option = click.option(
    "-s",
    "--server",
    default=None,
    help="The nickname, host name or URL of the server (default: the default server).",
)


@click.group("server")
def server_group() -> None:
    """Manage the servers this CLI knows about (saved in the user's config dir).

    \b
    Examples:
      spacetimedb server add prod --url https://db.example.com --default
      spacetimedb server list
      spacetimedb server set-default local
    """


@server_group.command("add")
@click.argument("name")
@click.option("--url", required=True, help="The URL of the server, e.g. http://127.0.0.1:3000")
@click.option("-d", "--default", "make_default", is_flag=True, help="Make it the default server.")
def server_add(name: str, url: str, make_default: bool) -> None:
    """Add a server under a nickname."""
    cfg = CliConfig.load()
    entry = cfg.add_server(name, url, default=make_default)
    cfg.save()
    click.echo(f"Added server {name} at {entry.url}" + (" (default)" if make_default else ""))


@server_group.command("list")
def server_list() -> None:
    """List the known servers (the default marked with *) and the identity the CLI uses on each."""
    cfg = CliConfig.load()
    for name, url in sorted(cfg.servers.items()):
        mark = "*" if name == cfg.default_server else " "
        creds = cfg.identities.get(url)
        ident = f"  identity {creds.identity}" if creds and creds.identity else ""
        click.echo(f"{mark} {name:<16} {url}{ident}")
    for url, creds in sorted(cfg.identities.items()):
        if url not in cfg.servers.values():
            click.echo(f"  {'(no nickname)':<16} {url}  identity {creds.identity or '?'}")


@server_group.command("set-default")
@click.argument("name")
def server_set_default(name: str) -> None:
    """Make NAME the server commands use when -s is not given."""
    cfg = CliConfig.load()
    if name not in cfg.servers:
        raise click.ClickException(
            f"{name!r} is not a saved server nickname; add it with `spacetimedb server add`"
        )
    cfg.default_server = name
    cfg.save()
    click.echo(f"Default server: {name}")


@server_group.command("remove")
@click.argument("name")
def server_remove(name: str) -> None:
    """Forget a server nickname (and the saved identity of its URL, unless another nickname uses it)."""
    cfg = CliConfig.load()
    cfg.remove_server(name)
    cfg.save()
    click.echo(f"Removed server {name}")


@server_group.command("ping")
@click.argument("name", required=False)
def server_ping(name: str | None) -> None:
    """Check that a server answers."""
    cfg = CliConfig.load()
    entry = cfg.resolve(name)
    if not ApiClient(entry).ping():
        raise click.ClickException(
            f"server {entry.describe()} ({entry.chosen_by}) does not answer; is `spacetimedb start` running?"
        )
    click.echo(f"{entry.url} is up")


@click.command("login")
@server_option
@click.option("--token", default=None, help="Use this token instead of asking the server for a new identity.")
@click.option("--server-issued-login", is_flag=True, help="Ask the server for a new identity (the default).")
def login(server: str | None, token: str | None, server_issued_login: bool) -> None:
    """Save the identity (token) the CLI uses on a server (one per server URL).

    \b
    Examples:
      spacetimedb login                       # a new identity issued by the default server
      spacetimedb login --token eyJhbGciOi... # an identity you already have
      spacetimedb login -s 127.0.0.1:4000 --token "$(cat data/keys/owner.token)"
    """
    cfg = CliConfig.load()
    entry = cfg.resolve(server)
    client = ApiClient(entry, cfg)
    if token:
        entry.token = token
        entry.identity = identity_of_token(token)
    else:
        data = client.new_identity()
        entry.token, entry.identity = data["token"], data["identity"]
    cfg.remember(entry)
    cfg.save()
    click.echo(
        f"Logged in to {entry.describe()}" + (f" as {entry.identity}" if entry.identity else "")
        + f"; saved in {cfg.path}"
    )


def identity_of_token(token: str) -> str | None:
    """The `hex_identity` claim of a JWT, read without verifying it (the server verifies on use)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        raise click.BadParameter("this is not a JWT (expected three base64url parts)", param_hint="--token") from None
    ident = claims.get("hex_identity") if isinstance(claims, dict) else None
    return ident if isinstance(ident, str) else None


@click.command("logout")
@server_option
def logout(server: str | None) -> None:
    """Forget the token saved for a server."""
    cfg = CliConfig.load()
    entry = cfg.resolve(server)
    entry.token = entry.identity = None
    cfg.remember(entry)
    cfg.save()
    click.echo(f"Logged out of {entry.describe()}")


COMMANDS = [server_group, login, logout]
