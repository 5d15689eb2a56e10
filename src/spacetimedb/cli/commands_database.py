"""Commands on one database: publish, delete, call, sql, logs, snapshot, list."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from spacetimedb.cli.api_client import ApiClient
from spacetimedb.cli.commands_server import server_option
from spacetimedb.cli.config import CliConfig
from spacetimedb.cli.module_archive import build_module_archive
from spacetimedb.cli.output import log_line, make_console
from spacetimedb.cli.sql_format import cell, column_types
from spacetimedb.host.logs import LEVELS

console = make_console()


def _client(server: str | None) -> ApiClient:
    cfg = CliConfig.load()
    return ApiClient(cfg.resolve(server), cfg)


@click.command("publish")
@click.argument("name")
@click.argument("path", required=False, type=click.Path(exists=True, path_type=Path))
@click.option(
    "-p",
    "--module-path",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="The module: a .py file or a package directory (or give it as PATH) [default: .].",
)
@click.option(
    "-c", "--delete-data", is_flag=True, help="Delete the database's data before publishing (asks first)."
)
@click.option("-y", "--yes", is_flag=True, help="Answer yes to every confirmation.")
@click.option(
    "--spacetimedb",
    "spacetimedb_url",
    default=None,
    metavar="URL",
    help="Publish to a SpacetimeDB server (its own V8 host) instead: builds the module with "
    "`spacetimedb build` and uploads the bundle as `spacetime publish --js-path` does (docs/spacetimedb.md).",
)
@click.option(
    "--token",
    envvar="SPACETIMEDB_TOKEN",
    default=None,
    help="With --spacetimedb: the bearer token of your SpacetimeDB identity (`spacetime login show --token`).",
)
@server_option
def publish(
    name: str,
    path: Path | None,
    module_path: Path | None,
    delete_data: bool,
    yes: bool,
    spacetimedb_url: str | None,
    token: str | None,
    server: str | None,
) -> None:
    """Create database NAME from the Python module at PATH (a .py file or a package directory), or
    update it (keeping its data).

    \b
    Examples:
      spacetimedb publish chat examples/quickstart_chat.py
      spacetimedb publish chat --module-path examples/quickstart_chat.py
      spacetimedb publish chat -p my_game/ --delete-data -y
    """
    if path is not None and module_path is not None and path.resolve() != module_path.resolve():
        raise click.UsageError(f"two module paths given ({path} and --module-path {module_path}); give one")
    module_path = path or module_path or Path(".")
    if delete_data and not yes:
        click.confirm(f"This deletes all data of database {name!r}. Continue?", abort=True)
    if spacetimedb_url is not None:
        _publish_upstream(name, module_path, spacetimedb_url, token, delete_data, yes)
        return
    archive = build_module_archive(module_path)
    client = _client(server)
    with console.status(f"Publishing {module_path} to {name} on {client.base} ..."):
        result = client.publish(name, archive, clear=delete_data)
    success = result.get("Success", result)
    verb = "Created" if success.get("op") == "created" else "Updated"
    ident = success.get("database_identity", "")
    console.print(
        f"[green]{verb}[/green] database [bold]{name}[/bold]" + (f" (identity {ident})" if ident else "")
    )


def _publish_upstream(name: str, module_path: Path, url: str, token: str | None, delete_data: bool, yes: bool) -> None:
    import tempfile

    from spacetimedb.cli.js_bundle import BuildError, build_bundle
    from spacetimedb.cli.upstream_publish import PublishError, publish_bundle

    with tempfile.TemporaryDirectory(prefix="spacetimedb-publish-") as tmp:
        target = Path(tmp) / "bundle.js"
        try:
            with console.status(f"Building {module_path} for SpacetimeDB ..."):
                build_bundle(module_path, target)
            with console.status(f"Publishing {name} to {url} ..."):
                out = publish_bundle(
                    url, name, target.read_bytes(), token=token, delete_data=delete_data,
                    confirm=lambda q: yes or click.confirm(q, default=False),
                )  # fmt: skip
        except (BuildError, PublishError) as e:
            raise click.ClickException(str(e)) from None
    verb = "Created new" if out.created else "Updated"
    console.print(f"[green]{verb}[/green] database [bold]{out.domain or name}[/bold] (identity {out.database_identity})")


@click.command("delete")
@click.argument("name")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@server_option
def delete(name: str, yes: bool, server: str | None) -> None:
    """Delete database NAME and all its data (owner only).

    \b
    Examples:
      spacetimedb delete chat
      spacetimedb delete chat -y -s prod
    """
    if not yes:
        click.confirm(f"Delete database {name!r} and all its data?", abort=True)
    _client(server).delete(name)
    console.print(f"Deleted database [bold]{name}[/bold]")


def _parse_args(raw: tuple[str, ...]) -> list[Any]:
    args = []
    for i, text in enumerate(raw, 1):
        try:
            args.append(json.loads(text))
        except ValueError:
            if text.startswith("-"):
                # `call` passes unknown options through so that `-1` is an argument; this one is a typo.
                raise click.UsageError(
                    f"no such option: {text} (reducer arguments are JSON values; put `--` before "
                    "arguments that start with '-')"
                ) from None
            raise click.UsageError(
                f"argument {i} ({text!r}) is not JSON. Arguments are JSON values: strings need quotes, "
                f"e.g. '\"{text}\"'"
            ) from None
    return args


@click.command("call", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("reducer")
@click.argument("arguments", nargs=-1)
@server_option
def call(name: str, reducer: str, arguments: tuple[str, ...], server: str | None) -> None:
    """Call REDUCER (or a procedure) on database NAME with JSON ARGUMENTS (negative numbers too).

    A procedure's return value is printed as SATS-JSON.

    \b
    Examples:
      spacetimedb call chat set_name '"Ada"'
      spacetimedb call bank transfer 1 2 100
      spacetimedb call game move -1 0
      spacetimedb call prices fetch_price '"BTC"' '"http://127.0.0.1:8000/price"'
    """
    resp = _client(server).call(name, reducer, _parse_args(arguments))
    if resp.body:
        click.echo(resp.text)


@click.command("sql")
@click.argument("name")
@click.argument("query")
@click.option(
    "--json", "as_json", is_flag=True, help="Print each row as one JSON object keyed by column (JSON Lines)."
)
@click.option(
    "--raw-json", is_flag=True, help="Print the server's whole answer: schema, rows and stats of each statement."
)
@server_option
def sql(name: str, query: str, as_json: bool, raw_json: bool, server: str | None) -> None:
    """Run SQL QUERY on database NAME and print the rows as a table.

    \b
    Examples:
      spacetimedb sql chat "SELECT * FROM user"
      spacetimedb sql chat "SELECT COUNT(*) AS n FROM message" --json     # {"n": 3}
      spacetimedb sql chat "SELECT * FROM user" --json | jq -r .name
    """
    results = _client(server).sql(name, query)
    if raw_json:
        click.echo(json.dumps(results, indent=2))
        return
    if as_json:
        for stmt in results:
            names = _unique_names([n for n, _ in column_types(stmt.get("schema", {}))])
            for row in stmt.get("rows", []):
                click.echo(json.dumps(dict(zip(names, row, strict=False)), separators=(", ", ": ")))
        return
    for stmt in results:
        elements = stmt.get("schema", {}).get("elements", [])
        if not elements and not stmt.get("rows"):
            stats = stmt.get("stats") or {}
            changed = {k: v for k, v in stats.items() if v}
            console.print(", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in changed.items()) or "OK")
            continue
        table = Table(show_edge=False, header_style="bold")
        columns = column_types(stmt.get("schema", {}))
        for col_name, _ in columns:
            table.add_column(col_name)
        for row in stmt.get("rows", []):
            table.add_row(*(cell(v, ty) for v, (_, ty) in zip(row, columns, strict=False)))
        console.print(table)
        n = len(stmt.get("rows", []))
        console.print(f"({n} row{'s' if n != 1 else ''})", style="dim")


def _unique_names(names: list[str]) -> list[str]:
    """Column names as object keys: a repeated name gets `#2`, `#3` so no value is dropped."""
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}#{seen[n]}")
    return out


@click.command("logs")
@click.argument("name")
@click.option("-n", "--num-lines", type=int, default=None, help="How many of the latest lines to print.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines as they are logged.")
@click.option(
    "-l", "--level", type=click.Choice(LEVELS, case_sensitive=False), default=None, help="Minimum level."
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@server_option
def logs(
    name: str, num_lines: int | None, follow: bool, level: str | None, fmt: str, server: str | None
) -> None:
    """Print the logs of database NAME (owner only).

    \b
    Examples:
      spacetimedb logs chat -n 20
      spacetimedb logs chat -f --level warn
    """
    min_level = LEVELS.index(level.lower()) if level else 0
    for rec in _client(server).logs(name, num_lines=num_lines, follow=follow):
        lvl = str(rec.get("level", "info")).lower()
        if lvl in LEVELS and LEVELS.index(lvl) < min_level:
            continue
        if fmt == "json":
            click.echo(json.dumps(rec))
        else:
            console.print(log_line(rec))


@click.command("snapshot")
@click.argument("name")
@server_option
def snapshot(name: str, server: str | None) -> None:
    """Snapshot database NAME now and wait until the file is written (owner only).

    Recovery after a restart starts from the newest snapshot, so a snapshot shortens the next start.

    \b
    Examples:
      spacetimedb snapshot chat
      spacetimedb snapshot chat -s prod
    """
    offset = _client(server).snapshot(name)
    if offset is None:
        console.print(f"Database [bold]{name}[/bold] has no commits yet: nothing to snapshot")
    else:
        console.print(f"Snapshot of [bold]{name}[/bold] written at tx offset {offset}")


@click.command("list")
@server_option
def list_databases(server: str | None) -> None:
    """List the databases owned by your identity on the server."""
    client = _client(server)
    client.ensure_token()
    identity = client.server.identity
    if not identity:
        raise click.ClickException("the saved token has no known identity; run `spacetimedb login` first")
    databases = client.databases_of(identity)
    if not databases:
        console.print(f"No databases owned by {identity}")
        return
    table = Table(show_edge=False, header_style="bold")
    table.add_column("name")
    table.add_column("database identity")
    for db in databases:
        table.add_row(", ".join(client.names_of(db)), db)
    console.print(table)


COMMANDS = [publish, delete, call, sql, logs, snapshot, list_databases]
