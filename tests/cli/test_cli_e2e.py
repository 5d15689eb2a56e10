"""The CLI driven as a user would: subprocesses against a real server started by `spacetimedb start`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHAT = ROOT / "examples" / "quickstart_chat.py"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cli:
    def __init__(self, env: dict[str, str], server: str) -> None:
        self.env = env
        self.server = server

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "spacetimedb.cli.main", *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "spacetimedb.cli.main", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if ok:
            assert result.returncode == 0, f"{args}: {result.stdout}{result.stderr}"
        return result


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    tmp = tmp_path_factory.mktemp("cli")
    port = _free_port()
    env = {**os.environ, "SPACETIMEDB_CLI_CONFIG": str(tmp / "cli.json"), "NO_COLOR": "1", "COLUMNS": "200"}
    server = subprocess.Popen(
        [sys.executable, "-m", "spacetimedb.cli.main", "start", "--listen-addr", f"127.0.0.1:{port}",
         "--data-dir", str(tmp / "data")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = server.stdout.readline()
            if "listening on" in line:
                break
            if server.poll() is not None:
                raise AssertionError(f"server exited: {server.stdout.read()}")
        c = Cli(env, f"127.0.0.1:{port}")
        c.run("server", "add", "test", "--url", f"http://127.0.0.1:{port}", "--default")
        c.run("publish", "chat", "--module-path", str(CHAT), "-y")
        yield c
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def test_call_then_sql_shows_the_row(cli: Cli) -> None:
    cli.run("call", "chat", "set_name", '"Ada"')
    out = cli.run("sql", "chat", "SELECT name, online FROM user").stdout
    assert "Ada" in out and "(1 row)" in out


def test_a_reducer_error_is_one_line_and_a_failing_exit(cli: Cli) -> None:
    result = cli.run("call", "chat", "send_message", '""', ok=False)
    assert result.returncode == 1
    assert "HTTP 530" in result.stderr and "Traceback" not in result.stderr


def test_sql_json_is_one_compact_object_per_row_and_raw_json_is_the_whole_answer(cli: Cli) -> None:
    assert cli.run("sql", "chat", "SELECT COUNT(*) AS n FROM user", "--json").stdout == '{"n": 1}\n'
    rows = [json.loads(line) for line in cli.run("sql", "chat", "SELECT * FROM user", "--json").stdout.splitlines()]
    assert rows and all(set(r) == {"identity", "name", "online"} for r in rows)
    raw = json.loads(cli.run("sql", "chat", "SELECT COUNT(*) AS n FROM user", "--raw-json").stdout)
    assert raw[0]["rows"] == [[1]] and raw[0]["schema"]["elements"]


def test_subscribe_prints_updates_as_they_arrive(cli: Cli) -> None:
    sub = cli.popen("subscribe", "chat", "SELECT * FROM message", "-n", "1", "-t", "30")
    try:
        time.sleep(1.5)  # let it subscribe; the update below must arrive after SubscribeApplied
        cli.run("call", "chat", "send_message", '"hello from the cli"')
        out, err = sub.communicate(timeout=40)
    finally:
        sub.kill()
    assert sub.returncode == 0, err
    update = json.loads(out.strip().splitlines()[-1])
    assert update["message"]["inserts"][0]["text"] == "hello from the cli"
    assert update["message"]["deletes"] == []


def test_describe_lists_tables_and_reducers(cli: Cli) -> None:
    out = cli.run("describe", "chat").stdout
    assert "table user (public)" in out and "reducer set_name(name: String)" in out
    raw = json.loads(cli.run("describe", "chat", "--json").stdout)
    assert "sections" in raw


def test_logs_are_readable_by_the_owner(cli: Cli) -> None:
    result = cli.run("logs", "chat", "-n", "50", "--format", "json")
    for line in result.stdout.splitlines():
        assert "message" in json.loads(line)


def test_generate_from_a_database_equals_generate_from_disk(cli: Cli, tmp_path: Path) -> None:
    cli.run("generate", "chat", "--lang", "typescript", "--out-dir", str(tmp_path / "a"))
    cli.run("generate", "--lang", "typescript", "--out-dir", str(tmp_path / "b"), "-p", str(CHAT))
    a = {p.relative_to(tmp_path / "a"): p.read_text() for p in (tmp_path / "a").rglob("*.ts")}
    b = {p.relative_to(tmp_path / "b"): p.read_text() for p in (tmp_path / "b").rglob("*.ts")}
    assert a == b and Path("index.ts") in a


def test_python_bindings_import_and_describe_the_module(cli: Cli, tmp_path: Path) -> None:
    cli.run("generate", "chat", "--lang", "python", "--out-dir", str(tmp_path / "module_bindings"))
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import module_bindings as m; "
        "print(sorted(m.TABLES), sorted(m.REDUCERS), m.TABLES['user'].primary_key)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['message', 'user'] ['send_message', 'set_name'] identity"


def test_sql_renders_identity_columns_as_hex(cli: Cli) -> None:
    """The server writes u256 as "0x..." (SATS-JSON); the table shows the full 64-digit identity."""
    raw = json.loads(cli.run("sql", "chat", "SELECT identity FROM user", "--raw-json").stdout)
    assert all(row[0][0].startswith("0x") for row in raw[0]["rows"])
    out = cli.run("sql", "chat", "SELECT identity FROM user").stdout
    hexes = [w for w in out.split() if w.startswith("0x")]
    assert hexes and all(len(h) == 66 for h in hexes), out


def test_snapshot_is_written_before_the_command_returns_and_is_owner_only(cli: Cli) -> None:
    from spacetimedb.durability.snapshot_file import list_snapshots

    assert "spacetimedb snapshot chat" in cli.run("snapshot", "--help").stdout
    cli.run("call", "chat", "send_message", '"before the snapshot"')
    out = cli.run("snapshot", "chat").stdout
    assert "written at tx offset" in out, out
    offset = int(out.split()[-1])
    snapshots = Path(cli.env["SPACETIMEDB_CLI_CONFIG"]).parent / "data" / "databases" / "chat" / "data" / "durability" / "snapshots"
    assert offset in [o for o, _ in list_snapshots(str(snapshots))]
    stranger = Cli({**cli.env, "SPACETIMEDB_CLI_CONFIG": cli.env["SPACETIMEDB_CLI_CONFIG"] + ".stranger"}, cli.server)
    stranger.run("server", "add", "test", "--url", f"http://{cli.server}", "--default")
    refused = stranger.run("snapshot", "chat", ok=False)
    assert refused.returncode == 1 and "403" in refused.stderr and "owner" in refused.stderr


def test_list_shows_owned_databases_and_delete_removes_one(cli: Cli) -> None:
    cli.run("publish", "scratch", "--module-path", str(CHAT))
    assert "scratch" in cli.run("list").stdout
    cli.run("delete", "scratch", "-y")
    result = cli.run("sql", "scratch", "SELECT * FROM user", ok=False)
    assert result.returncode == 1 and "404" in result.stderr


CHAT_CLIENT = """
import { DbConnection } from './bindings';

declare const process: { argv: string[]; exit(code: number): never };

const [uri, db] = process.argv.slice(2);
const seen: string[] = [];
const timer = setTimeout(() => { console.error('TIMEOUT', seen); process.exit(4); }, 20000);
DbConnection.builder()
  .withUri(uri)
  .withDatabaseName(db)
  .withCompression('gzip')
  .onConnect((conn, identity) => {
    conn.db.message.onInsert((_ctx, m) => {
      seen.push(m.text);
      if (m.text === 'typed hello') {
        const me = conn.db.user.identity.find(identity);
        console.log(JSON.stringify({ name: me?.name, online: me?.online, texts: seen }));
        clearTimeout(timer);
        conn.disconnect();
        process.exit(0);
      }
    });
    conn.subscriptionBuilder()
      .onApplied(async () => {
        await conn.reducers.setName({ name: 'Grace' });
        try {
          await conn.reducers.sendMessage({ text: '' });
          console.error('empty message accepted');
          process.exit(3);
        } catch (e) {
          seen.push('refused: ' + (e as Error).message);
        }
        await conn.reducers.sendMessage({ text: 'typed hello' });
      })
      .subscribe(['SELECT * FROM user', 'SELECT * FROM message']);
  })
  .onConnectError((_ctx, e) => { console.error('CONNECT ERROR', e); process.exit(2); })
  .build();
"""


@pytest.mark.node
def test_generated_typescript_bindings_drive_the_chat_through_the_sdk(cli: Cli, tmp_path: Path) -> None:
    from tests.codegen.ts_project import compile_project, run_node, ts_project

    cli.run("generate", "--lang", "typescript", "--out-dir", str(tmp_path / "b"), "-p", str(CHAT))
    files = {f"bindings/{p.relative_to(tmp_path / 'b')}": p.read_text() for p in (tmp_path / "b").rglob("*.ts")}
    files["client.ts"] = CHAT_CLIENT
    with ts_project(files) as root:
        compiled = compile_project(root)
        assert compiled.returncode == 0, compiled.stdout + compiled.stderr
        run = run_node(root / "out" / "client.js", f"ws://{cli.server}", "chat", timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["name"] == "Grace" and out["online"] is True
    assert "refused: Messages must not be empty" in " ".join(out["texts"])
    assert out["texts"][-1] == "typed hello"


MIGRATING = """
from spacetimedb import ReducerContext, reducer, table


@table(public=True)
class Note:
    text: str
{extra}

@reducer
def add(ctx: ReducerContext, text: str) -> None:
    ctx.db.note.insert(Note(text=text))
"""


def test_republish_migrates_compatible_changes_and_refuses_the_rest(cli: Cli, tmp_path: Path) -> None:
    module = tmp_path / "notes.py"
    module.write_text(MIGRATING.format(extra=""))
    cli.run("publish", "notes", "-p", str(module))
    cli.run("call", "notes", "add", '"kept"')

    # Allowed: a column added at the end with a default. The row stays, filled with the default.
    module.write_text(MIGRATING.format(extra="    stars: int = 3\n"))
    assert "Updated database notes" in cli.run("publish", "notes", "-p", str(module)).stdout
    out = json.loads(cli.run("sql", "notes", "SELECT * FROM note", "--raw-json").stdout)
    assert out[0]["rows"] == [["kept", 3]]

    # Refused: a new column without a default; the plan names it and the escape hatch.
    module.write_text(MIGRATING.format(extra="    stars: int = 3\n    owner: str\n"))
    refused = cli.run("publish", "notes", "-p", str(module), ok=False)
    assert refused.returncode == 1
    assert "'owner'" in refused.stderr and "--delete-data" in refused.stderr
    out = json.loads(cli.run("sql", "notes", "SELECT * FROM note", "--raw-json").stdout)
    assert out[0]["rows"] == [["kept", 3]], "a refused publish must leave the database as it was"

    # The escape hatch: start from empty tables.
    cli.run("publish", "notes", "-p", str(module), "--delete-data", "-y")
    out = json.loads(cli.run("sql", "notes", "SELECT * FROM note", "--raw-json").stdout)
    assert out[0]["rows"] == []


def test_login_with_a_token_takes_on_its_identity(cli: Cli, tmp_path: Path) -> None:
    other = {**cli.env, "SPACETIMEDB_CLI_CONFIG": str(tmp_path / "other.json")}
    mine = json.loads(Path(cli.env["SPACETIMEDB_CLI_CONFIG"]).read_text())["identities"][f"http://{cli.server}"]
    as_other = Cli(other, cli.server)
    as_other.run("server", "add", "test", "--url", f"http://{cli.server}", "--default")
    out = as_other.run("login", "--token", mine["token"]).stdout
    assert mine["identity"] in out
    assert "chat" in as_other.run("list").stdout  # the databases of the identity behind the token
    bad = as_other.run("login", "--token", "not-a-jwt", ok=False)
    assert bad.returncode == 2 and "not a JWT" in bad.stderr


def test_logs_filter_by_level_and_follow(cli: Cli) -> None:
    cli.run("call", "chat", "set_name", '"Lovelace"')
    info = cli.run("logs", "chat", "--level", "info").stdout
    assert "sets name to Lovelace" in info
    assert "sets name to Lovelace" not in cli.run("logs", "chat", "--level", "error").stdout
    follower = cli.popen("logs", "chat", "-f", "-n", "0")
    try:
        time.sleep(1.0)
        cli.run("call", "chat", "set_name", '"Followed"')
        assert follower.stdout is not None
        deadline = time.monotonic() + 20
        seen = ""
        while time.monotonic() < deadline and "Followed" not in seen:
            seen += follower.stdout.readline()
        assert "sets name to Followed" in seen
    finally:
        follower.kill()
        follower.wait(timeout=10)


def test_generate_can_write_the_module_definition_json(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "chat.def.json"
    cli.run("generate", "--lang", "typescript", "--out-dir", str(tmp_path / "ts"), "-p", str(CHAT), "--module-def", str(out))
    doc = json.loads(out.read_text())
    tags = {next(iter(section)) for section in doc["V10"]["sections"]}
    assert {"Typespace", "Tables", "Reducers"} <= tags


def test_dev_publishes_then_republishes_and_regenerates_on_change(cli: Cli, tmp_path: Path) -> None:
    module = tmp_path / "devmod.py"
    module.write_text(MIGRATING.format(extra=""))
    bindings = tmp_path / "bindings"
    port = _free_port()
    dev = cli.popen(
        "dev", "devdb", "-p", str(module), "--listen-addr", f"127.0.0.1:{port}",
        "--data-dir", str(tmp_path / "data"), "--module-bindings-path", str(bindings),
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (bindings / "add_reducer.ts").exists():
            time.sleep(0.2)
        assert (bindings / "add_reducer.ts").exists(), "dev did not publish and generate"
        module.write_text(MIGRATING.format(extra="") + "\n\n@reducer\ndef clear(ctx: ReducerContext) -> None:\n    pass\n")
        while time.monotonic() < deadline and not (bindings / "clear_reducer.ts").exists():
            time.sleep(0.2)
        assert (bindings / "clear_reducer.ts").exists(), "dev did not republish after the change"
    finally:
        dev.terminate()
        try:
            dev.wait(timeout=30)
        except subprocess.TimeoutExpired:
            dev.kill()
    # Stopping `dev` stops the server it started: nothing listens on its port any more
    # (SO_REUSEADDR lets the bind pass over connections left in TIME_WAIT, not over a listener).
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))


def test_s_url_without_a_nickname_is_one_identity_across_commands(cli: Cli, tmp_path: Path) -> None:
    fresh = Cli({**cli.env, "SPACETIMEDB_CLI_CONFIG": str(tmp_path / "fresh.json")}, cli.server)
    url = f"http://{cli.server}"
    fresh.run("call", "chat", "set_name", '"Solo"', "-s", cli.server)
    fresh.run("call", "chat", "send_message", '"one caller"', "-s", url)
    sent = fresh.run("sql", "chat", "SELECT sender FROM message WHERE text = 'one caller'", "--json", "-s", url).stdout
    sender = json.loads(sent)["sender"][0]  # SATS-JSON u256 identity: ["0x..."]
    named = fresh.run("sql", "chat", f"SELECT name FROM user WHERE identity = {sender}", "--json", "-s", url).stdout
    assert json.loads(named)["name"] == [0, "Solo"], "the caller of set_name also sent the message"
    saved = json.loads((tmp_path / "fresh.json").read_text())["identities"][url]
    assert sender == "0x" + saved["identity"]


def test_login_with_a_token_for_a_url_saves_it(cli: Cli, tmp_path: Path) -> None:
    mine = json.loads(Path(cli.env["SPACETIMEDB_CLI_CONFIG"]).read_text())["identities"][f"http://{cli.server}"]
    other = Cli({**cli.env, "SPACETIMEDB_CLI_CONFIG": str(tmp_path / "other.json")}, cli.server)
    out = other.run("login", "-s", cli.server, "--token", mine["token"]).stdout
    assert mine["identity"] in out and "saved in" in out
    assert json.loads((tmp_path / "other.json").read_text())["identities"][f"http://{cli.server}"] == mine
    assert "chat" in other.run("list", "-s", cli.server).stdout


def test_log_lines_piped_to_a_file_do_not_wrap(cli: Cli) -> None:
    env = {k: v for k, v in cli.env.items() if k not in ("COLUMNS", "LINES")}
    cli.run("call", "chat", "set_name", '"Unwrapped"')
    out = Cli(env, cli.server).run("logs", "chat", "-n", "50").stdout
    (line,) = [ln for ln in out.splitlines() if "sets name to Unwrapped" in ln]
    assert "User " in line and len(line) > 80, out


def test_sql_and_call_over_http_run_client_connected_and_disconnected(cli: Cli, tmp_path: Path) -> None:
    """docs/modules.md: each HTTP request is a transient connection, as upstream."""
    visitor = Cli({**cli.env, "SPACETIMEDB_CLI_CONFIG": str(tmp_path / "visitor.json")}, cli.server)
    visitor.run("login", "-s", cli.server)  # an identity the database has never seen
    me = json.loads((tmp_path / "visitor.json").read_text())["identities"][f"http://{cli.server}"]["identity"]
    query = f"SELECT online FROM user WHERE identity = 0x{me}"
    # During its own query the visitor is connected: client_connected inserted it, online.
    assert visitor.run("sql", "chat", query, "--json", "-s", cli.server).stdout == '{"online": true}\n'
    # After the request, client_disconnected has run: offline (seen by another caller).
    assert cli.run("sql", "chat", query, "--json").stdout == '{"online": false}\n'
    visitor.run("call", "chat", "set_name", '"Visitor"', "-s", cli.server)
    assert cli.run("sql", "chat", query, "--json").stdout == '{"online": false}\n'


def test_call_runs_a_procedure_and_prints_its_return_value(cli: Cli) -> None:
    """`spacetimedb call` on a procedure: examples/price_feed.py fetching from a loopback server."""
    import http.server
    import threading

    class Prices(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"4200"
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    svc = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Prices)
    threading.Thread(target=svc.serve_forever, daemon=True).start()
    try:
        cli.run("publish", "prices", "--module-path", str(ROOT / "examples" / "price_feed.py"), "-y")
        source = json.dumps(f"http://127.0.0.1:{svc.server_address[1]}/price")
        assert cli.run("call", "prices", "fetch_price", '"BTC"', source).stdout.strip() == "4200"
        assert "4200" in cli.run("sql", "prices", "SELECT * FROM price").stdout
        failed = cli.run("call", "prices", "fetch_price", '"BTC"', '"http://127.0.0.1:9/"', ok=False)
        assert failed.returncode == 1 and "HTTP 500" in failed.stderr and "Traceback" not in failed.stderr
    finally:
        svc.shutdown()
        svc.server_close()
