"""Procedures through generated TypeScript bindings and the official npm SDK against a live server:
`conn.procedures.fetchPrice({...})` resolves to the return value (the procedure reached a loopback
HTTP server the test runs), a procedure that raises rejects with its message, and the row its
`with_tx` wrote reaches the subscribed client."""

from __future__ import annotations

import http.server
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.codegen.ts_project import NODE_DIR, compile_project, run_node, ts_project
from tests.live_server import live_server

from spacetimedb.codegen.module_view import load_module_view
from spacetimedb.codegen.typescript import generate_typescript
from spacetimedb.module.loader import load_module

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "price_feed.py"


def _bindings() -> dict[str, str]:
    return generate_typescript(load_module_view(load_module(EXAMPLE).raw_module_def_json()))


def test_procedure_files_in_the_official_layout() -> None:
    files = _bindings()
    proc = files["fetch_price_procedure.ts"]
    assert "export const params = {" in proc and "symbol: __t.string()," in proc
    assert "export const returnType = __t.u64();" in proc
    assert "export const returnType = __t.option(__t.u64());" in files["stored_price_procedure.ts"]
    index = files["index.ts"]
    assert "import * as FetchPriceProcedure from './fetch_price_procedure';" in index
    assert "__procedureSchema('fetch_price', FetchPriceProcedure.params, FetchPriceProcedure.returnType)," in index
    assert "export type FetchPriceResult = __Infer<typeof FetchPriceProcedure.returnType>;" in files["types/procedures.ts"]


CLIENT = """\
import { DbConnection } from './bindings';
declare const process: { argv: string[]; exit(code: number): never };
const [uri, db, source] = process.argv.slice(2);
const show = (_k: string, v: unknown) => (typeof v === 'bigint' ? v.toString() + 'n' : v);
const out: Record<string, unknown> = {};
function finish(code = 0): never {
  console.log(JSON.stringify(out, show));
  process.exit(code);
}
setTimeout(() => { out.error = 'timed out'; finish(3); }, 20000);
DbConnection.builder()
  .withUri(uri)
  .withDatabaseName(db)
  .onConnect((conn) => {
    conn.db.price.onInsert((_ctx, row) => { out.inserted = row.cents; });
    conn.subscriptionBuilder()
      .onApplied(async () => {
        try {
          out.fetched = await conn.procedures.fetchPrice({ symbol: 'BTC', source });
          out.stored = await conn.procedures.storedPrice({ symbol: 'BTC' });
          out.missing = (await conn.procedures.storedPrice({ symbol: 'ETH' })) ?? 'none';
          try {
            await conn.procedures.fetchPrice({ symbol: 'BTC', source: source + '/nothing' });
            out.failed = 'resolved';
          } catch (e) {
            out.failed = String(e);
          }
          finish(0);
        } catch (e) {
          out.error = String(e);
          finish(1);
        }
      })
      .subscribe('SELECT * FROM price');
  })
  .onConnectError((_ctx, e) => { out.error = 'connect: ' + String(e); finish(1); })
  .build();
"""


class _Prices(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        found = self.path == "/price/BTC"
        body = b"4200" if found else b"no such symbol"
        self.send_response(200 if found else 404)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def prices() -> Iterator[str]:
    svc = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Prices)
    threading.Thread(target=svc.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{svc.server_address[1]}/price"
    finally:
        svc.shutdown()
        svc.server_close()


@pytest.mark.node
def test_official_sdk_calls_procedures(tmp_path: Path, prices: str) -> None:
    if shutil.which("node") is None or not (NODE_DIR / "node_modules" / "spacetimedb").exists():
        pytest.skip("needs node and the pinned SDK in tests/node/node_modules (scripts/test installs them)")
    files = {f"bindings/{name}": text for name, text in _bindings().items()}
    files["client.ts"] = CLIENT
    with ts_project(files) as root:
        compiled = compile_project(root)
        assert compiled.returncode == 0, compiled.stdout + compiled.stderr
        with live_server(tmp_path / "data", {"prices": EXAMPLE}) as url:
            run = run_node(root / "out" / "client.js", url.replace("http", "ws", 1), "prices", prices, timeout=40)
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    assert out["fetched"] == "4200n" and out["stored"] == "4200n" and out["missing"] == "none"
    assert out["inserted"] == "4200n"  # the with_tx commit reached the subscribed caller
    assert "price service answered 404" in out["failed"]
