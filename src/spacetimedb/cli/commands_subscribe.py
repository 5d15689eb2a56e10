"""`subscribe`: print subscription updates as JSON lines as they arrive."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import click

from spacetimedb import bsatn, protocol
from spacetimedb.cli.api_client import ApiClient
from spacetimedb.cli.commands_server import server_option
from spacetimedb.cli.config import CliConfig
from spacetimedb.client.connection import ClientError, Connection
from spacetimedb.codegen.module_view import load_module_view
from spacetimedb.sats.algebraic_type import RefType, Typespace
from spacetimedb.sats.json import to_json


class RowPrinter:
    """Decodes row lists of a module's tables into typed SATS-JSON (objects keyed by column)."""

    def __init__(self, raw_module_def: dict[str, Any]) -> None:
        view = load_module_view(raw_module_def)
        self.typespace = Typespace(list(view.types))
        self.row_types = {t.name: RefType(t.row_ref) for t in view.tables}

    def rows(self, table: str, row_list: protocol.BsatnRowList) -> list[Any]:
        ty = self.row_types.get(table)
        if ty is None:
            raise click.ClickException(f"the server sent rows of unknown table {table!r}")
        codec = bsatn.compile(ty, self.typespace)
        return [to_json(codec.decode(r), ty, typespace=self.typespace) for r in row_list.rows()]

    def query_rows(self, rows: protocol.QueryRows) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for t in rows.tables:
            entry = out.setdefault(t.table, {"deletes": [], "inserts": []})
            entry["inserts"] += self.rows(t.table, t.rows)
        return out

    def transaction(self, update: protocol.TransactionUpdate) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for qs in update.query_sets:
            for tu in qs.tables:
                entry = out.setdefault(tu.table_name, {"deletes": [], "inserts": []})
                for part in tu.rows:
                    if part.tag == "PersistentTable":
                        entry["inserts"] += self.rows(tu.table_name, part.value.inserts)
                        entry["deletes"] += self.rows(tu.table_name, part.value.deletes)
                    else:
                        entry["inserts"] += self.rows(tu.table_name, part.value.events)
        return out


async def _run(
    base_url: str,
    token: str,
    database: str,
    queries: list[str],
    printer: RowPrinter,
    num_updates: int | None,
    timeout: float | None,
    print_initial: bool,
) -> None:
    conn = await Connection.connect(base_url, database, token=token)
    try:
        await conn.subscribe(queries)
        seen = 0
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while num_updates is None or seen < num_updates:
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                break
            try:
                msg = await conn.recv(timeout=left)
            except TimeoutError:
                break
            if isinstance(msg, protocol.SubscriptionError):
                raise click.ClickException(f"subscription failed: {msg.error}")
            if isinstance(msg, protocol.SubscribeApplied):
                if print_initial:
                    click.echo(json.dumps(printer.query_rows(msg.rows)))
            elif isinstance(msg, protocol.TransactionUpdate):
                click.echo(json.dumps(printer.transaction(msg)))
                seen += 1
    finally:
        await conn.close()


@click.command("subscribe")
@click.argument("name")
@click.argument("queries", nargs=-1, required=True)
@click.option("-n", "--num-updates", type=int, default=None, help="Exit after this many updates.")
@click.option("-t", "--timeout", type=float, default=None, help="Exit after this many seconds.")
@click.option("--print-initial-update", is_flag=True, help="Also print the rows the queries match now.")
@server_option
def subscribe(
    name: str,
    queries: tuple[str, ...],
    num_updates: int | None,
    timeout: float | None,
    print_initial_update: bool,
    server: str | None,
) -> None:
    """Subscribe to QUERIES on database NAME and print each update as a JSON line.

    Each line maps table names to {"deletes": [...], "inserts": [...]}, rows keyed by column.

    \b
    Examples:
      spacetimedb subscribe chat "SELECT * FROM message" -n 1
      spacetimedb subscribe chat "SELECT * FROM user" "SELECT * FROM message" -t 30 --print-initial-update
    """
    cfg = CliConfig.load()
    client = ApiClient(cfg.resolve(server), cfg)
    printer = RowPrinter(client.schema(name, version=10))
    try:
        asyncio.run(
            _run(
                client.base,
                client.ensure_token(),
                name,
                list(queries),
                printer,
                num_updates,
                timeout,
                print_initial_update,
            )
        )
    except ClientError as e:
        raise click.ClickException(str(e)) from None
    except KeyboardInterrupt:
        pass


COMMANDS = [subscribe]
