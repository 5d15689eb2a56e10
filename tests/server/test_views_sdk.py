"""Views through the official npm SDK with generated TypeScript bindings. The money-exchange example:
two clients each see only their own account through the per-caller views, and a transfer
updates both views incrementally (an update of the account row, an insert into the ledger). An
anonymous view: two clients see the same rows and the same incremental changes."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from tests.codegen.ts_project import compile_project, ts_project

from spacetimedb.codegen.module_view import load_module_view
from spacetimedb.codegen.typescript import generate_typescript
from spacetimedb.control.host_backend import host_backend_factory
from spacetimedb.module.loader import load_module
from spacetimedb.server.app import Server

from .node_runner import needs_node

EXCHANGE = Path(__file__).resolve().parents[2] / "examples" / "money_exchange.py"

CLIENT = """
import { DbConnection } from './bindings';

declare const process: any;

const URI = process.env.STDB_URI as string;
const DB = process.env.STDB_DB as string;
const QUERIES = ['SELECT * FROM my_account', 'SELECT * FROM my_account_changes', 'SELECT * FROM directory'];

function connect(): Promise<{ conn: DbConnection; hex: string }> {
  return new Promise((resolve, reject) => {
    DbConnection.builder()
      .withUri(URI)
      .withDatabaseName(DB)
      .onConnect((conn, identity) => resolve({ conn, hex: identity.toHexString() }))
      .onConnectError((_ctx, err) => reject(err))
      .build();
  });
}

function subscribe(conn: DbConnection): Promise<void> {
  return new Promise((resolve, reject) => {
    conn.subscriptionBuilder().onApplied(() => resolve()).onError((ctx) => reject(new Error(String((ctx as any).event ?? 'subscription error')))).subscribe(QUERIES);
  });
}

async function waitFor(pred: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {  // bounded: 20 s at most, then the test fails saying what was missing
    if (pred()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('never happened: ' + what);
}

function accounts(conn: DbConnection) {
  return [...conn.db.myAccount.iter()].map((r) => ({ id: r.identity.toHexString(), cents: r.balanceCents.toString() }));
}

function changes(conn: DbConnection) {
  return [...conn.db.myAccountChanges.iter()].map((r) => ({ dir: r.direction.tag, cents: r.amountCents.toString() }));
}

async function main() {
  const a = await connect();
  const b = await connect();
  await subscribe(a.conn);
  await subscribe(b.conn);
  const initial = { a: accounts(a.conn), b: accounts(b.conn) };
  const updates: string[] = [];
  a.conn.db.myAccount.onUpdate((_ctx, oldRow, newRow) => updates.push(`a:${oldRow.balanceCents}->${newRow.balanceCents}`));
  b.conn.db.myAccount.onUpdate((_ctx, oldRow, newRow) => updates.push(`b:${oldRow.balanceCents}->${newRow.balanceCents}`));
  a.conn.reducers.setName({ name: 'Ada' });
  b.conn.reducers.setName({ name: 'Bob' });
  await waitFor(() => Number(a.conn.db.directory.count()) === 2, 'both names');
  const bIdentity = [...a.conn.db.directory.iter()].find((d) => d.name === 'Bob')!.identity;
  a.conn.reducers.transfer({ recipient: bIdentity, amountCents: 250n });
  await waitFor(() => updates.length === 2 && changes(a.conn).length === 1 && changes(b.conn).length === 1, 'the transfer');
  console.log(JSON.stringify({
    aHex: a.hex, bHex: b.hex, initial,
    after: { a: accounts(a.conn), b: accounts(b.conn) },
    changes: { a: changes(a.conn), b: changes(b.conn) },
    updates: updates.sort(),
  }));
  a.conn.disconnect();
  b.conn.disconnect();
  process.exit(0);
}

main().catch((e) => { console.error(e); process.exit(1); });
"""


@needs_node
@pytest.mark.node
def test_money_exchange_views_through_the_sdk(tmp_path: Path) -> None:
    raw = load_module(EXCHANGE).raw_module_def_json()
    files = {f"bindings/{k}": v for k, v in generate_typescript(load_module_view(raw)).items()}
    files["client.ts"] = CLIENT
    with ts_project(files) as root:
        compiled = compile_project(root)
        assert compiled.returncode == 0, compiled.stdout + compiled.stderr

        result = asyncio.run(_run_client(tmp_path, EXCHANGE, "money", root / "out" / "client.js"))
    a, b = result["aHex"], result["bHex"]
    # Each client sees only its own account (the per-caller view), with the starting balance.
    assert result["initial"] == {"a": [{"id": a, "cents": "10000"}], "b": [{"id": b, "cents": "10000"}]}
    assert result["after"] == {"a": [{"id": a, "cents": "9750"}], "b": [{"id": b, "cents": "10250"}]}
    # The view's primary key (the account's) makes the balance change an update, as upstream.
    assert result["updates"] == ["a:10000->9750", "b:10000->10250"]
    assert result["changes"] == {"a": [{"dir": "Debit", "cents": "250"}], "b": [{"dir": "Credit", "cents": "250"}]}


VIEWS = Path(__file__).parent / "modules" / "views.py"

ANON_CLIENT = """
import { DbConnection } from './bindings';

declare const process: any;
const URI = process.env.STDB_URI as string;
const DB = process.env.STDB_DB as string;

function connect(): Promise<DbConnection> {
  return new Promise((resolve, reject) => {
    DbConnection.builder().withUri(URI).withDatabaseName(DB)
      .onConnect((conn) => resolve(conn))
      .onConnectError((_ctx, err) => reject(err))
      .build();
  });
}

function subscribe(conn: DbConnection, q: string): Promise<void> {
  return new Promise((resolve, reject) => {
    conn.subscriptionBuilder().onApplied(() => resolve())
      .onError((ctx) => reject(new Error(String((ctx as any).event ?? 'subscription error')))).subscribe([q]);
  });
}

async function waitFor(pred: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {  // bounded: 20 s at most
    if (pred()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('never happened: ' + what);
}

const names = (c: DbConnection) => [...c.db.topPlayers.iter()].map((p) => p.name).sort();

async function main() {
  const a = await connect();
  const b = await connect();
  a.reducers.addPlayer({ name: 'p1', score: 1n });
  await subscribe(a, 'SELECT * FROM top_players');
  await waitFor(() => names(a).length === 1, 'p1 in the view');
  await subscribe(b, 'SELECT * FROM top_players');
  const initial = { a: names(a), b: names(b) };
  const deleted: string[] = [];
  b.db.topPlayers.onDelete((_ctx, row) => deleted.push(row.name));
  a.reducers.addPlayer({ name: 'p9', score: 9n });
  a.reducers.addPlayer({ name: 'p5', score: 5n });
  await waitFor(() => names(a).join() === 'p5,p9' && names(b).join() === 'p5,p9', 'the top two');
  console.log(JSON.stringify({ initial, after: { a: names(a), b: names(b) }, deleted }));
  a.disconnect();
  b.disconnect();
  process.exit(0);
}

main().catch((e) => { console.error(e); process.exit(1); });
"""


@needs_node
@pytest.mark.node
def test_anonymous_view_shared_by_two_sdk_clients(tmp_path: Path) -> None:
    raw = load_module(VIEWS).raw_module_def_json()
    files = {f"bindings/{k}": v for k, v in generate_typescript(load_module_view(raw)).items()}
    files["client.ts"] = ANON_CLIENT
    with ts_project(files) as root:
        compiled = compile_project(root)
        assert compiled.returncode == 0, compiled.stdout + compiled.stderr
        result = asyncio.run(_run_client(tmp_path, VIEWS, "views", root / "out" / "client.js"))
    assert result == {"initial": {"a": ["p1"], "b": ["p1"]}, "after": {"a": ["p5", "p9"], "b": ["p5", "p9"]}, "deleted": ["p1"]}


async def _run_client(tmp_path: Path, module: Path, db: str, script: Path) -> dict:  # type: ignore[type-arg]
    """Publish `module` as `db` on a fresh server, run the compiled client; its last JSON line."""
    server = Server(tmp_path / "data", backend_factory=host_backend_factory)
    port = await server.start()
    try:
        await server.publish_path(db, module)
        env = {**os.environ, "STDB_URI": f"ws://127.0.0.1:{port}", "STDB_DB": db}
        proc = await asyncio.create_subprocess_exec(
            "node", str(script), cwd=script.parent, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, out.decode() + err.decode()[-3000:]
        return json.loads(out.decode().strip().splitlines()[-1])  # type: ignore[no-any-return]
    finally:
        await server.stop()
