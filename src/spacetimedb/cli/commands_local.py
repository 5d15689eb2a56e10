"""Commands that run things on this machine: `start` (the server) and `dev` (run, publish, watch)."""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click
import platformdirs

from spacetimedb.control.query_limits import (
    DEFAULT_MAX_QUERIES_PER_CONNECTION,
    DEFAULT_MAX_QUERIES_PER_SUBSCRIBE,
    QueryLimits,
)
from spacetimedb.durability.commit_log import DEFAULT_MAX_SEGMENT_BYTES
from spacetimedb.durability.database_durability import DEFAULT_KEEP_SNAPSHOTS, DEFAULT_SNAPSHOT_EVERY
from spacetimedb.durability.options import DurabilityOptions
from spacetimedb.durability.policy import FsyncPolicy
from spacetimedb.host.time_limit import DEFAULT_REDUCER_TIME_LIMIT
from spacetimedb.query.limits import DEFAULT_ROW_BUDGET

if TYPE_CHECKING:
    from spacetimedb.server.app import Server

DEFAULT_LISTEN = "127.0.0.1:3000"


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("spacetimedb-server")) / "data"


_SIZE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}


def parse_size(text: str) -> int:
    """A byte count: digits with an optional K, M or G suffix (powers of 1024; `B`/`iB` allowed)."""
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    unit = t[-1:] if t[-1:] in ("K", "M", "G") else ""
    number = t[: len(t) - len(unit)]
    if not number.isdigit() or int(number) <= 0:
        raise ValueError(f"{text!r} is not a size: use e.g. 1073741824, 512M or 2G")
    return int(number) * _SIZE_UNITS[unit]


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
@click.option(
    "--fsync",
    default="every_batch",
    show_default=True,
    metavar="every_batch|<N>ms|off",
    help="When commits reach the disk: every group-commit batch, every N ms (a crash may lose up to N ms "
    "of confirmed commits), or never (tests only).",
)
@click.option(
    "--snapshot-every",
    type=click.IntRange(min=0),
    default=DEFAULT_SNAPSHOT_EVERY,
    show_default=True,
    help="Snapshot each database every N commits (0: only on demand).",
)
@click.option(
    "--keep-snapshots",
    type=click.IntRange(min=1),
    default=DEFAULT_KEEP_SNAPSHOTS,
    show_default=True,
    help="How many snapshots to keep per database.",
)
@click.option(
    "--segment-size",
    type=click.IntRange(min=4096),
    default=DEFAULT_MAX_SEGMENT_BYTES,
    show_default=True,
    help="Roll the commit log over to a new segment file at this many bytes.",
)
@click.option(
    "--allow-truncate",
    is_flag=True,
    help="Recover a commit log damaged before its tail by cutting it at the damage (the commits after "
    "it are lost) instead of refusing to start that database.",
)
@click.option(
    "--compress-frames",
    is_flag=True,
    help="Compress WebSocket frames over 1 KiB with the Gzip/Brotli the client asks for, as upstream. Off by "
    "default: the npm SDK up to at least 2.10.1 can apply compressed updates out of order (docs/http-api.md).",
)
@click.option(
    "--allow-publish",
    "allow_publish",
    multiple=True,
    metavar="IDENTITY|anyone",
    help="Let this identity (64 hex digits) create databases besides the server's owner (repeatable). "
    "`anyone` opens publishing to every client: module code runs with the server's privileges, so only for "
    "development on a trusted network.",
)
@click.option(
    "--procedure-http",
    "procedure_http",
    default="on",
    show_default=True,
    metavar="on|off|HOST,HOST...",
    help="What procedures' outbound HTTP (ctx.http) may reach: any host (on), nothing (off), or only these "
    "host names.",
)
@click.option(
    "--http-header-timeout",
    type=click.FloatRange(min=0.1),
    default=None,
    metavar="SECONDS",
    help="Close a connection whose request head is not complete this long after it opened (or after the "
    "previous response); also the idle keep-alive timeout.  [default: 30]",
)
@click.option(
    "--http-body-timeout",
    type=click.FloatRange(min=0.1),
    default=None,
    metavar="SECONDS",
    help="Answer 408 and close the connection when a request body takes longer than this to arrive.  [default: 60]",
)
@click.option(
    "--send-budget",
    default=None,
    metavar="SIZE",
    help="Bytes queued to all WebSocket clients together (e.g. 2G); past it the clients with the largest "
    "backlog are closed with code 1013 [default: 1/32 of memory, 128M..1G].",
)
@click.option(
    "--max-subscribe-queries",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_QUERIES_PER_SUBSCRIBE,
    show_default=True,
    help="Query strings one Subscribe message may carry.",
)
@click.option(
    "--max-connection-queries",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_QUERIES_PER_CONNECTION,
    show_default=True,
    help="Queries one WebSocket connection may have subscribed at once.",
)
@click.option(
    "--query-row-budget",
    type=click.IntRange(min=0),
    default=DEFAULT_ROW_BUDGET,
    show_default=True,
    help="Rows a query of anyone but the database owner may read or produce (a /sql SELECT, a one-off "
    "query, one Subscribe message) before it is refused; 0: unbounded.",
)
@click.option(
    "--reducer-time-limit",
    type=click.FloatRange(min=0.001),
    default=DEFAULT_REDUCER_TIME_LIMIT,
    show_default=True,
    metavar="SECONDS",
    help="Interrupt and roll back a reducer call (scheduled and lifecycle ones too) that runs longer than this.",
)
@click.option(
    "--database-processes",
    "database_processes",
    is_flag=True,
    default=None,
    help="Run each database in a process of its own (uses more than one core; a module that crashes "
    "its process takes down only its database, which restarts). Off by default; also on with "
    "SPACETIMEDB_DATABASE_PROCESSES=1.",
)
@click.option(
    "--database-memory-limit",
    default=None,
    metavar="SIZE",
    help="Address space each database process may use (e.g. 2G; implies --database-processes): past it "
    "an allocation fails (the call fails, rolled back) or the process ends and is restarted.  [default: none]",
)
def start(
    listen_addr: str,
    data_dir: Path | None,
    publish: tuple[str, ...],
    fsync: str,
    snapshot_every: int,
    keep_snapshots: int,
    segment_size: int,
    allow_truncate: bool,
    compress_frames: bool,
    allow_publish: tuple[str, ...],
    procedure_http: str,
    http_header_timeout: float | None,
    http_body_timeout: float | None,
    send_budget: str | None,
    max_subscribe_queries: int,
    max_connection_queries: int,
    query_row_budget: int,
    reducer_time_limit: float,
    database_processes: bool | None,
    database_memory_limit: str | None,
) -> None:
    """Run the server. Stop it with Ctrl-C; commits are flushed before it exits.

    \b
    Examples:
      spacetimedb start
      spacetimedb start --data-dir ./.spacetimedb --publish chat=examples/quickstart_chat.py
      spacetimedb start --fsync 5ms --snapshot-every 10000
      spacetimedb start --allow-publish c200...e1f4   # this identity may create databases too

    Only the server's owner (token in DATA_DIR/keys/owner.token) and --allow-publish identities may
    create databases: module code runs inside the server with its privileges.
    """
    modules = _parse_publish(publish)
    from spacetimedb.module.http_client import HttpPolicy
    from spacetimedb.server.publish_policy import PublishPolicy

    http_policy = HttpPolicy.parse(procedure_http)
    try:
        publish_policy = PublishPolicy.parse(allow_publish)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--allow-publish") from None
    try:
        policy = FsyncPolicy.parse(fsync)
    except (ValueError, TypeError) as e:
        raise click.BadParameter(f"{fsync!r}: {e}; use every_batch, off or e.g. 5ms", param_hint="--fsync") from None
    memory_limit = None
    if database_memory_limit is not None:
        try:
            memory_limit = parse_size(database_memory_limit)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--database-memory-limit") from None
        if memory_limit < 256 * 1024 * 1024:
            raise click.BadParameter("at least 256M (a database process's own code and threads need it)",
                                     param_hint="--database-memory-limit")
    budget = None
    if send_budget is not None:
        try:
            budget = parse_size(send_budget)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--send-budget") from None
    options = DurabilityOptions(
        fsync=policy, snapshot_every=snapshot_every, keep_snapshots=keep_snapshots,
        max_segment_bytes=segment_size, allow_truncate=allow_truncate,
    )
    check_listen_addr(listen_addr)
    from spacetimedb.server.app import run_server
    from spacetimedb.server.http_limits import HttpLimits

    http_limits = HttpLimits()
    if http_header_timeout is not None:
        http_limits = replace(http_limits, header_timeout_s=http_header_timeout)
    if http_body_timeout is not None:
        http_limits = replace(http_limits, body_timeout_s=http_body_timeout)
    data_dir = data_dir or default_data_dir()
    try:
        run_server(
            listen_addr,
            data_dir,
            publish=modules,
            durability=options,
            compress_frames=compress_frames,
            http_limits=http_limits,
            send_budget=budget,
            query_limits=QueryLimits(max_subscribe_queries, max_connection_queries, query_row_budget),
            allow_publish=publish_policy,
            on_listening=_act_as_owner(listen_addr, data_dir),
            reducer_time_limit=reducer_time_limit,
            procedure_http=http_policy,
            database_processes=database_processes,
            database_memory_limit=memory_limit,
        )
    except OSError as e:
        if e.errno in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):  # lost a race after the check
            raise _listen_error(listen_addr, e) from None
        raise


def _listen_error(listen_addr: str, err: OSError) -> click.ClickException:
    what = {
        errno.EADDRINUSE: "the address is already in use (another `spacetimedb start` or `dev`?). "
        "Stop that process, or pass --listen-addr with a free port, e.g. --listen-addr 127.0.0.1:3001",
        errno.EACCES: "permission denied (ports below 1024 need privileges); use e.g. --listen-addr 127.0.0.1:3000",
        errno.EADDRNOTAVAIL: "this machine has no such address; use e.g. --listen-addr 127.0.0.1:3000",
    }.get(err.errno or 0, f"{err.strerror or err}")
    return click.ClickException(f"cannot listen on {listen_addr}: {what}")


def check_listen_addr(listen_addr: str) -> None:
    """Fail with one line, before any database is loaded, when the address cannot be bound."""
    host, sep, port_text = listen_addr.rpartition(":")
    try:
        port = int(port_text)
    except ValueError:
        port = -1
    if not sep or not 0 <= port <= 65535:
        raise click.BadParameter(f"{listen_addr!r}: expected HOST:PORT, e.g. 127.0.0.1:3000", param_hint="--listen-addr")
    host = (host or "127.0.0.1").strip("[]")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise click.ClickException(f"cannot listen on {listen_addr}: unknown host {host!r} ({e.strerror})") from None
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        # As the server binds (reuse_address): a port left in TIME_WAIT is free, a listener is not.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(addr)
        except OSError as e:
            raise _listen_error(listen_addr, e) from None


def _act_as_owner(listen_addr: str, data_dir: Path) -> Callable[[Server], None]:
    """Once the server listens: the CLI on this machine takes the owner's identity for its URL."""

    def adopt(server: Server) -> None:
        from spacetimedb.cli.local_owner import adopt_owner, local_url
        from spacetimedb.server.tokens import TokenRejected

        def accepts(token: str) -> bool:
            try:
                server.authority.validate(token)
            except TokenRejected:
                return False
            return True

        line = adopt_owner(
            local_url(listen_addr),
            server.owner.token,
            server.owner.identity_hex,
            accepts,
            str(data_dir / "keys" / "owner.token"),
        )
        click.echo(line)

    return adopt


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
    help="Start from empty data, and republish from empty tables "
    "whenever a change is not an automatic migration.",
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

    It publishes as the CLI's identity for that server, which is the server's owner (docs/cli.md), and
    prints the module's logs as they come.

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
