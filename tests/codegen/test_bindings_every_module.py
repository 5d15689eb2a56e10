"""Every example module and every module in the tests tree, through its generated TypeScript
bindings and the official npm SDK against one live server: build a DbConnection, subscribe, call a
reducer, see its row arrive.

tsc alone misses bindings that type-check but break the SDK at runtime (a `.name()` column
builder inside `__t.object` made `build()` throw in the SDK's `isFixedSizeProduct` for any module
with a schedule table), so each module's bindings are run, not just compiled. All bindings are
compiled in one tsc run; one Node process per module, one server for all.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.codegen.ts_project import NODE_DIR, compile_project, run_node, ts_project
from tests.live_server import live_server

from spacetimedb.codegen.module_view import load_module_view
from spacetimedb.codegen.typescript import generate_typescript
from spacetimedb.module.loader import load_module

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Case:
    """What the client does: `call` runs on the subscription's onApplied (`conn` in scope);
    `table` is the accessor watched with onInsert until `expect(row)` holds."""

    module: str  # path relative to the repository root
    table: str  # SQL table name
    call: str
    expect: str
    #: Generate with --include-private and connect as the database owner (private tables,
    #: scheduled reducers' bindings).
    private: bool = False


CASES = {
    "quickstart-chat": Case(
        "examples/quickstart_chat.py", "message", "conn.reducers.sendMessage({ text: 'hi' })", "row.text === 'hi'"
    ),
    "simple-game": Case(
        "examples/simple_game.py", "player", "conn.reducers.joinGame({ name: 'Ada' })", "row.name === 'Ada'"
    ),
    # The scheduled reducers' bindings (emitted with --include-private only), called by the owner.
    "simple-game-private": Case(
        "examples/simple_game.py",
        "game_event",
        "conn.reducers.startAnnouncement({ timer: { scheduledId: 0n, scheduledAt: ScheduleAt.time(0n) } })",
        "row.kind === 'announcement'",
        private=True,
    ),
    # Its views need the server's view support to be read; here: the bindings load, a reducer runs.
    "money-exchange": Case(
        "examples/money_exchange.py", "directory", "conn.reducers.setName({ name: 'Ada' })", "row.name === 'Ada'"
    ),
    "price-feed": Case(
        "examples/price_feed.py", "price", "conn.reducers.setPrice({ symbol: 'BTC', cents: 5n })", "row.cents === 5n"
    ),
    "sender-auth": Case(
        "tests/server/modules/sender_auth.py", "seen", "conn.reducers.whoami({ how: 'sdk' })", "row.how === 'sdk'"
    ),
    "server-views": Case(
        "tests/server/modules/views.py",
        "player",
        "conn.reducers.addPlayer({ name: 'Ada', score: 3n })",
        "row.name === 'Ada'",
    ),
    "bank": Case("examples/bank.py", "accounts", "conn.reducers.seed({ n: 2, balance: 7n })", "row.balance === 7n"),
    # Its reducer is the owner's (the secret its HTTP handlers check); the secret table is private.
    "webhook": Case(
        "examples/webhook.py",
        "webhook_secret",
        "conn.reducers.setWebhookSecret({ secret: 's3cret' })",
        "row.secret === 's3cret'",
        private=True,
    ),
    "counter": Case(
        "tests/host/modules/counter.py", "counter", "conn.reducers.add({ name: 'x', amount: 2 })", "row.value === 2n"
    ),
    "chat": Case("tests/server/modules/chat.py", "pet", "conn.reducers.adopt({ name: 'Rex' })", "row.name === 'Rex'"),
    "tree": Case(
        "tests/module/modules/tree.py",
        "tree",
        "conn.reducers.plant({ id: 1, root: { label: 'r', children: [{ label: 'c', children: [] }] } })",
        "row.root.children[0].label === 'c'",
        private=True,  # its only table is private
    ),
    "procs": Case("tests/server/modules/procs.py", "tick", "conn.reducers.tick({ id: 1 })", "row.id === 1"),
    "kv": Case("tests/server/modules/kv.py", "kv", "conn.reducers.put({ id: 1, value: 'v' })", "row.value === 'v'"),
    "hostile": Case(
        "tests/server/modules/hostile.py", "pub", "conn.reducers.addPub({ id: 1, text: 't' })", "row.text === 't'"
    ),
    "authz": Case(
        "tests/server/modules/authz.py", "note", "conn.reducers.addNote({ id: 5n, text: 'n' })", "row.text === 'n'"
    ),
    "powercut-bank": Case(
        "tests/durability/modules/powercut_bank.py",
        "receipts",
        "conn.reducers.transfer({ id: 1n, src: 0, dst: 1 })",
        "row.id === 1n",
    ),
    "sdk-test": Case(
        "tests/sdk_conformance/sdk_test_module.py",
        "one_string",
        "conn.reducers.insertOneString({ s: 'é' })",
        "row.s === 'é'",
    ),
    "client-events": Case(
        "tests/client/modules/events.py", "counter", "conn.reducers.ping({ n: 1 })", "row.value === 1"
    ),
    "jshost-bundle": Case(
        "tests/jshost/bundle_module.py", "item", "conn.reducers.add({ name: 'a' })", "row.name === 'a'"
    ),
    "client-collide": Case(
        "tests/client/modules/collide.py", "log", "conn.reducers.add({ count: 1, name: 'a' })", "row.text === 'a'"
    ),
}

PRELUDE = """\
declare const process: { argv: string[]; exit(code: number): never };
export const [uri, db, token] = process.argv.slice(2);
const show = (_k: string, v: unknown) => (typeof v === 'bigint' ? v.toString() : v);
export function finish(out: object, code = 0): never {
  console.log(JSON.stringify(out, show));
  process.exit(code);
}
setTimeout(() => finish({ error: 'timed out' }, 3), 20000);
"""

CLIENT = """\
import { ScheduleAt } from 'spacetimedb';
import { DbConnection } from './%(key)s';
import { uri, db, token, finish } from './prelude';
void ScheduleAt;

let builder = DbConnection.builder().withUri(uri).withDatabaseName(db);
if (%(private)s) builder = builder.withToken(token);
builder
  .onConnect((conn) => {
    conn.db.%(accessor)s.onInsert((_ctx, row) => {
      if (%(expect)s) finish({ row });
    });
    conn.subscriptionBuilder()
      .onApplied(() => {
        %(call)s.catch((e: unknown) => finish({ error: 'reducer: ' + String(e) }, 1));
      })
      .onError((ctx) => finish({ error: 'subscription: ' + String(ctx.event) }, 1))
      .subscribe('SELECT * FROM %(table)s');
  })
  .onConnectError((_ctx, e) => finish({ error: 'connect: ' + String(e) }, 1))
  .build();
"""


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(p[:1].upper() + p[1:] for p in rest)


def discover_modules() -> set[str]:
    """Every example module and every module file in the tests tree (not test files)."""
    found = {p.relative_to(ROOT).as_posix() for p in (ROOT / "examples").glob("*.py")}
    for p in (ROOT / "tests").rglob("*.py"):
        if p.name.startswith(("test_", "conftest")) or "node_modules" in p.parts:
            continue
        if "ReducerContext" in p.read_text("utf-8"):
            found.add(p.relative_to(ROOT).as_posix())
    return found


def test_every_module_has_a_case() -> None:
    """A new example or test module must get a case here, so the check below covers it."""
    assert discover_modules() == {c.module for c in CASES.values()}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """One server process with every case's module published as its database: (ws uri, owner token)."""
    data = tmp_path_factory.mktemp("bindings-server") / "data"
    with live_server(data, {key: ROOT / case.module for key, case in CASES.items()}, timeout=120) as url:
        yield url.replace("http", "ws", 1), (data / "keys" / "owner.token").read_text().strip()


@pytest.fixture(scope="module")
def clients() -> Iterator[Path]:
    """Every case's bindings and client, compiled by the pinned tsc in one run; yields the out dir."""
    if shutil.which("node") is None or not (NODE_DIR / "node_modules" / "spacetimedb").exists():
        pytest.skip("needs node and the pinned SDK in tests/node/node_modules (scripts/test installs them)")
    views = {}
    files = {"prelude.ts": PRELUDE}
    for key, case in CASES.items():
        if case.module not in views:
            views[case.module] = load_module_view(load_module(ROOT / case.module).raw_module_def_json())
        for name, text in generate_typescript(views[case.module], include_private=case.private).items():
            files[f"{key}/{name}"] = text
        files[f"client-{key}.ts"] = CLIENT % {
            "key": key,
            "private": "true" if case.private else "false",
            "accessor": _camel(case.table),
            "table": case.table,
            "call": case.call,
            "expect": case.expect,
        }
    with ts_project(files) as root:
        compiled = compile_project(root)
        assert compiled.returncode == 0, compiled.stdout + compiled.stderr
        yield root / "out"


@pytest.mark.node
@pytest.mark.parametrize("key", list(CASES))
def test_generated_bindings_connect_call_and_see_the_row(key: str, clients: Path, server: tuple[str, str]) -> None:
    uri, owner_token = server
    run = run_node(clients / f"client-{key}.js", uri, key, owner_token, timeout=40)
    lines = run.stdout.strip().splitlines()
    assert run.returncode == 0 and lines, run.stdout + run.stderr[-3000:]
    assert "row" in json.loads(lines[-1]), run.stdout + run.stderr[-3000:]
